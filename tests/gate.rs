//! `assent gate` end to end: the real binary against a real `assent serve` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use assent::protocol::{DecisionBody, Scope, Status, Verdict, args_hash};
use serde_json::json;
use support::*;

fn decision(outcome: Verdict, reason: Option<&str>, notify: bool, hash: &str) -> DecisionBody {
    DecisionBody {
        outcome,
        scope: Scope::Once,
        reason: reason.map(str::to_owned),
        notify_agent: notify,
        args_hash: hash.to_owned(),
    }
}

/// A shell command that leaves a marker file when it runs, then exits with `code`.
fn marked(dir: &std::path::Path, code: i32) -> (Vec<String>, std::path::PathBuf) {
    let marker = dir.join(format!("ran-{}", uuid::Uuid::now_v7()));
    let script = format!("echo ran > '{}'; exit {code}", marker.display());
    (vec!["sh".into(), "-c".into(), script], marker)
}

fn gate(url: &str, token: &str, extra: &[&str], command: &[String]) -> tokio::process::Command {
    let mut args: Vec<&str> = vec!["gate"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend(command.iter().map(String::as_str));
    assent(url, Some(token), &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_runs_the_command_and_passes_its_exit_status() {
    let s = Server::start().await;
    let (cmd, marker) = marked(&s.dir, 7);
    let child = gate(
        &s.url,
        AGENT,
        &[
            "--reason",
            "disk full",
            "--risk",
            "high",
            "--conversation",
            "c-1",
        ],
        &cmd,
    )
    .spawn()
    .unwrap();
    let pending = s.pending(1).await;
    let r = &pending[0];
    // The request is what the issue specifies: shell.exec, argv + cwd, the token's name.
    assert_eq!(r.tool, "shell.exec");
    assert_eq!(r.params["argv"], json!(cmd));
    assert_eq!(
        r.params["cwd"],
        json!(std::env::current_dir().unwrap().to_string_lossy())
    );
    assert_eq!(r.agent, "agent-one");
    assert_eq!(r.reason.as_deref(), Some("disk full"));
    assert_eq!(r.conversation_id.as_deref(), Some("c-1"));
    assert_eq!(r.risk, Some(assent::protocol::Risk::High));
    assert_eq!(r.args_hash, args_hash(&r.params));
    assert!(!marker.exists(), "nothing runs before approval");
    s.client(REVIEWER)
        .decide(
            &r.id,
            &decision(Verdict::Approve, None, false, &r.args_hash),
        )
        .await
        .unwrap();
    let out = finish_child(child, None, 30).await;
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(marker.exists(), "the approved command ran");
    assert_eq!(s.all().await.len(), 1, "filed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_command_keeps_stdout() {
    let s = Server::start().await;
    let cmd: Vec<String> = ["sh", "-c", "echo hello from the gate"]
        .map(String::from)
        .to_vec();
    let child = gate(&s.url, AGENT, &["--agent", "deployer"], &cmd)
        .spawn()
        .unwrap();
    let r = s.pending(1).await.remove(0);
    assert_eq!(r.agent, "deployer");
    s.client(REVIEWER)
        .decide(
            &r.id,
            &decision(Verdict::Approve, None, false, &r.args_hash),
        )
        .await
        .unwrap();
    let out = finish_child(child, None, 30).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "hello from the gate\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_exits_3_with_the_reason_only_when_notified() {
    let s = Server::start().await;
    for notify in [true, false] {
        let (cmd, marker) = marked(&s.dir, 0);
        let child = gate(&s.url, AGENT, &[], &cmd).spawn().unwrap();
        let r = s.pending(1).await.remove(0);
        s.client(REVIEWER)
            .decide(
                &r.id,
                &decision(
                    Verdict::Reject,
                    Some("too risky today"),
                    notify,
                    &r.args_hash,
                ),
            )
            .await
            .unwrap();
        let out = finish_child(child, None, 30).await;
        assert_eq!(out.code, Some(3), "{out:?}");
        let expected = if notify {
            "assent: rejected by alice: too risky today"
        } else {
            "assent: rejected by alice"
        };
        assert!(
            out.stderr.lines().any(|l| l == expected),
            "stderr lacks {expected:?}: {}",
            out.stderr
        );
        if !notify {
            assert!(!out.stderr.contains("too risky"), "{}", out.stderr);
        }
        assert!(!marker.exists(), "a rejected command never runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_exits_4() {
    let s = Server::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let out = finish(gate(&s.url, AGENT, &["--ttl", "1s"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_exits_5() {
    let s = Server::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let child = gate(&s.url, AGENT, &[], &cmd).spawn().unwrap();
    let r = s.pending(1).await.remove(0);
    s.client(ADMIN).cancel(&r.id).await.unwrap();
    let out = finish_child(child, None, 30).await;
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(out.stderr.contains("cancelled"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_exits_2_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, marker) = marked(dir.path(), 0);
    let out = finish(gate(&dead_url(), AGENT, &["--agent", "a"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("could not file"), "{}", out.stderr);
    assert!(
        out.stderr.contains("assent serve"),
        "says what to do: {}",
        out.stderr
    );
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_token_exits_2_without_running() {
    let s = Server::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let out = finish(gate(&s.url, "not-a-known-token", &[], &cmd), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("ASSENT_TOKEN"), "{}", out.stderr);
    // A reviewer token may not file: 403, same exit.
    let out = finish(gate(&s.url, REVIEWER, &["--agent", "x"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(!marker.exists());
    assert!(s.all().await.is_empty());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_cancels_the_request() {
    let s = Server::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let child = gate(&s.url, AGENT, &[], &cmd).spawn().unwrap();
    let pid = child.id().unwrap();
    let r = s.pending(1).await.remove(0);
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = finish_child(child, None, 30).await;
    assert_eq!(out.code, Some(130), "{out:?}");
    assert!(
        out.stderr.contains("cancelled on the backend"),
        "{}",
        out.stderr
    );
    let now = s.client(REVIEWER).get(&r.id).await.unwrap();
    assert_eq!(now.status, Status::Cancelled);
    assert!(!marker.exists());
}

/// The wait rides through a server restart on the same database, and never files twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_survives_a_server_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("assent.db");
    let db = db.to_str().unwrap();
    let s = Server::spawn(tmp.path(), "127.0.0.1:0", db).await;
    let addr = s.addr.clone();
    let (cmd, marker) = marked(tmp.path(), 0);
    let child = gate(&s.url, AGENT, &[], &cmd).spawn().unwrap();
    let r = s.pending(1).await.remove(0);
    s.kill().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let s = Server::spawn(tmp.path(), &addr, db).await;
    s.client(REVIEWER)
        .decide(
            &r.id,
            &decision(Verdict::Approve, None, false, &r.args_hash),
        )
        .await
        .unwrap();
    let out = finish_child(child, None, 40).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(marker.exists());
    assert!(out.stderr.contains("lost the backend"), "{}", out.stderr);
    assert_eq!(s.all().await.len(), 1, "no duplicate request");
}
