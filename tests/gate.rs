//! `assent gate` end to end: the real binary against a real `assent serve` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use assent::protocol::{Risk, Status, Verdict, args_hash};
use common::*;
use serde_json::json;

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
    let s = Serve::start().await;
    let (cmd, marker) = marked(&s.dir, 7);
    let extra = [
        "--reason",
        "disk full",
        "--risk",
        "high",
        "--conversation",
        "c-1",
    ];
    let run = start(gate(&s.url, AGENT1, &extra, &cmd), None, 30);
    let pending = s.pending(1).await;
    let r = &pending[0];
    // The request is what the issue specifies: shell.exec, argv + cwd, the token's name.
    assert_eq!(r.tool, "shell.exec");
    assert_eq!(r.params["argv"], json!(cmd));
    assert_eq!(
        r.params["cwd"],
        json!(std::env::current_dir().unwrap().to_string_lossy())
    );
    assert_eq!(r.agent, "agent1");
    assert_eq!(r.reason.as_deref(), Some("disk full"));
    assert_eq!(r.conversation_id.as_deref(), Some("c-1"));
    assert_eq!(r.risk, Some(Risk::High));
    assert_eq!(r.args_hash, args_hash(&r.params));
    assert!(!marker.exists(), "nothing runs before approval");
    s.decide(&r.id, &decision(Verdict::Approve, &r.args_hash))
        .await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(marker.exists(), "the approved command ran");
    assert_eq!(s.all().await.len(), 1, "filed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_command_keeps_stdout() {
    let s = Serve::start().await;
    let cmd: Vec<String> = ["sh", "-c", "echo hello from the gate"]
        .map(String::from)
        .to_vec();
    let run = start(
        gate(&s.url, AGENT1, &["--agent", "deployer"], &cmd),
        None,
        30,
    );
    let r = s.pending(1).await.remove(0);
    assert_eq!(r.agent, "deployer");
    s.decide(&r.id, &decision(Verdict::Approve, &r.args_hash))
        .await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "hello from the gate\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_exits_3_with_the_reason_only_when_notified() {
    let s = Serve::start().await;
    for notify in [true, false] {
        let (cmd, marker) = marked(&s.dir, 0);
        let run = start(gate(&s.url, AGENT1, &[], &cmd), None, 30);
        let r = s.pending(1).await.remove(0);
        let body = decision_because(Verdict::Reject, "too risky today", notify, &r.args_hash);
        s.decide(&r.id, &body).await;
        let out = run.finish().await;
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
async fn rejected_at_its_timeout_exits_3_with_the_stop_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "on_timeout = \"reject\"", None).unwrap();
    let s = Serve::launch(tmp.path(), &cfg, ANY_PORT, Some(":memory:"), &[]).await;
    let (cmd, marker) = marked(tmp.path(), 0);
    let out = finish(gate(&s.url, AGENT1, &["--ttl", "1s"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    let expected =
        "assent: rejected by the approval timeout (nobody decided in time): approval_timeout";
    assert!(
        out.stderr.lines().any(|l| l == expected),
        "stderr lacks {expected:?}: {}",
        out.stderr
    );
    // No person is named: `system` decided, and says so only in the record.
    assert!(!out.stderr.contains("by system"), "{}", out.stderr);
    assert!(!marker.exists(), "a rejected command never runs");
    let r = s.all().await.remove(0);
    assert_eq!(r.status, Status::Rejected);
    let d = r.decision.unwrap();
    assert_eq!(d.via, assent::protocol::Via::Timeout);
    assert_eq!(d.responder, "system");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_exits_4() {
    let s = Serve::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let out = finish(gate(&s.url, AGENT1, &["--ttl", "1s"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_exits_5() {
    let s = Serve::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let run = start(gate(&s.url, AGENT1, &[], &cmd), None, 30);
    let r = s.pending(1).await.remove(0);
    s.api(ROOT).cancel(&r.id).await.unwrap();
    let out = run.finish().await;
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(out.stderr.contains("cancelled"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_exits_2_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, marker) = marked(dir.path(), 0);
    let out = finish(gate(&dead_url(), AGENT1, &["--agent", "a"], &cmd), None, 30).await;
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
    let s = Serve::start().await;
    let (cmd, marker) = marked(&s.dir, 0);
    let out = finish(gate(&s.url, "not-a-known-token", &[], &cmd), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("ASSENT_TOKEN"), "{}", out.stderr);
    // A reviewer token may not file: 403, same exit.
    let out = finish(gate(&s.url, ALICE, &["--agent", "x"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(!marker.exists());
    assert!(s.all().await.is_empty());
}

/// A gate waiting for a decision, stopped by `sig`: it exits with `code`, having
/// cancelled its request on the backend, and the command never runs.
#[cfg(unix)]
async fn stopped_by(s: &Serve, sig: &str, code: i32) {
    let (cmd, marker) = marked(&s.dir, 0);
    let run = start(gate(&s.url, AGENT1, &[], &cmd), None, 30);
    let r = s.pending(1).await.remove(0);
    signal(run.pid, sig);
    let out = run.finish().await;
    assert_eq!(out.code, Some(code), "{sig}: {out:?}");
    assert!(
        out.stderr.contains("cancelled on the backend"),
        "{sig}: {}",
        out.stderr
    );
    let now = s.api(ALICE).get(&r.id).await.unwrap();
    assert_eq!(now.status, Status::Cancelled, "{sig}");
    assert!(!marker.exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_cancels_the_request() {
    stopped_by(&Serve::start().await, "INT", 130).await;
}

/// The wait rides through a server restart on the same database, and never files twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_survives_a_server_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("assent.db");
    let db = db.to_str().unwrap();
    let s = Serve::on(tmp.path(), ANY_PORT, db).await;
    let addr = s.addr.clone();
    let (cmd, marker) = marked(tmp.path(), 0);
    let run = start(gate(&s.url, AGENT1, &[], &cmd), None, 40);
    let r = s.pending(1).await.remove(0);
    // SIGKILL.
    drop(s);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let s = Serve::on(tmp.path(), &addr, db).await;
    s.decide(&r.id, &decision(Verdict::Approve, &r.args_hash))
        .await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(marker.exists());
    assert!(out.stderr.contains("lost the backend"), "{}", out.stderr);
    assert_eq!(s.all().await.len(), 1, "no duplicate request");
}

/// With a policy: an allowed call runs at once, a denied one exits 3 with the rule's
/// message (deny notifies the agent), and a held one says which rule holds it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_at_once_or_says_why_it_holds() {
    let s = Serve::with_policy().await;
    let out = finish(
        gate(
            &s.url,
            AGENT1,
            &["--tool", "safe.echo"],
            &["sh".into(), "-c".into(), "echo ran at once".into()],
        ),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "ran at once\n");
    assert!(
        !out.stderr.contains("waiting"),
        "no reviewer was waited for: {}",
        out.stderr
    );

    let (cmd, marker) = marked(&s.dir, 0);
    let out = finish(gate(&s.url, AGENT1, &["--tool", "db.drop"], &cmd), None, 30).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr.lines().any(
            |l| l == "assent: rejected by policy:never-drop: Dropping tables is never allowed."
        ),
        "{}",
        out.stderr
    );
    assert!(!marker.exists());

    // Held for a person: the waiting message names the rule and its message.
    let mut child = gate(&s.url, AGENT1, &["--tool", "refund.big"], &cmd)
        .spawn()
        .unwrap();
    let r = s.pending(1).await.remove(0);
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("Refund commands need a manager.")
        && tokio::time::Instant::now() < deadline
    {
        let mut buf = [0u8; 512];
        use tokio::io::AsyncReadExt;
        let n = tokio::time::timeout(Duration::from_secs(10), err.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.contains(
            "held by policy refund-commands → require_approval: Refund commands need a manager."
        ),
        "{seen}"
    );
    signal(child.id().unwrap(), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(s.status_of(&r.id).await, Status::Cancelled);
    assert!(!marker.exists());
}

/// SIGTERM (`timeout`, Claude Code) and SIGHUP take the request back like Ctrl-C.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_cancel_the_request() {
    let s = Serve::start().await;
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        stopped_by(&s, sig, code).await;
    }
}

/// Ctrl-C while the filing's answer is still on its way: the request may exist, so the
/// gate finds it under its Idempotency-Key and cancels it, and says so honestly.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_filing_withdraws_what_may_have_been_filed() {
    let s = Serve::start().await;
    let proxy = Proxy::start(
        &s.url,
        Tamper {
            delay_first_filing: Some(Duration::from_secs(20)),
            ..Tamper::default()
        },
    )
    .await;
    let (cmd, marker) = marked(&s.dir, 0);
    let run = start(
        gate(&proxy.url, AGENT1, &["--agent", "slow-net"], &cmd),
        None,
        30,
    );
    // The server has filed it; the gate has not heard back.
    let r = s.pending(1).await.remove(0);
    signal(run.pid, "INT");
    let out = run.finish().await;
    assert_eq!(out.code, Some(130), "{out:?}");
    assert!(
        out.stderr.contains("while filing") && out.stderr.contains("may have reached the backend"),
        "{}",
        out.stderr
    );
    let all = s.all().await;
    assert_eq!(all.len(), 1, "the retry found the same request: {all:?}");
    assert_eq!(all[0].id, r.id);
    assert_eq!(all[0].status, Status::Cancelled);
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_without_dashes_gets_a_tip() {
    let out = finish(
        assent(
            &dead_url(),
            Some(AGENT1),
            &["gate", "--reason", "why", "ls", "-la"],
        ),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("tip: put the command after `--`")
            && out.stderr.contains("gate --reason why -- ls -la"),
        "{}",
        out.stderr
    );
    let out = finish(assent(&dead_url(), Some(AGENT1), &["gate"]), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("after `--`"), "{}", out.stderr);
}
