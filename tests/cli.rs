//! The headless reviewer CLI, completions and man page: the real binary against a real
//! `assent serve` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use assent::protocol::{ApprovalRequest, AuditEntry, Grant, NewRequest, Scope, Status};
use serde_json::json;
use support::*;

async fn file(s: &Server, tool: &str, conversation: Option<&str>) -> ApprovalRequest {
    let new = NewRequest {
        tool: tool.into(),
        params: json!({"order_id": "A-1001", "amount": 250}),
        reason: Some("damaged item".into()),
        agent: "order-manager".into(),
        conversation_id: conversation.map(str::to_owned),
        run_id: None,
        tool_call_id: None,
        risk: None,
        ttl_seconds: None,
    };
    s.client(AGENT).file(&new, None).await.unwrap().request
}

async fn cli(s: &Server, token: &str, args: &[&str]) -> Out {
    finish(assent(&s.url, Some(token), args), None, 30).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_show() {
    let s = Server::start().await;
    let a = file(&s, "order_tools.process_refund", Some("conv-1")).await;
    let b = file(&s, "db.delete", None).await;

    let out = cli(&s, REVIEWER, &["list"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("ID"), "{}", out.stdout);
    assert!(out.stdout.contains(&a.id) && out.stdout.contains(&b.id));
    assert!(
        out.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        out.stdout
    );

    let out = cli(&s, REVIEWER, &["list", "--json"]).await;
    let list: Vec<ApprovalRequest> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        list,
        vec![a.clone(), b.clone()],
        "oldest first, the API's objects"
    );

    let out = cli(&s, REVIEWER, &["list", "--status", "approved", "--json"]).await;
    assert_eq!(out.stdout.trim(), "[]");
    let out = cli(&s, REVIEWER, &["list", "--status", "approved"]).await;
    assert_eq!(out.stdout, "No approved requests.\n");

    let out = cli(&s, REVIEWER, &["show", &a.id, "--json"]).await;
    let shown: ApprovalRequest = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(shown, a);
    let out = cli(&s, REVIEWER, &["show", &a.id]).await;
    assert!(out.stdout.contains(&a.args_hash), "{}", out.stdout);
    assert!(
        out.stdout.contains("\"order_id\": \"A-1001\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("conv-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_change_the_server_state_with_the_args_hash() {
    let s = Server::start().await;
    let a = file(&s, "refund", Some("conv-1")).await;
    let b = file(&s, "refund", None).await;

    let out = cli(
        &s,
        REVIEWER,
        &["approve", &a.id, "--reason", "ok", "--notify"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("approved "), "{}", out.stdout);
    let now = s.client(REVIEWER).get(&a.id).await.unwrap();
    assert_eq!(now.status, Status::Approved);
    let d = now.decision.unwrap();
    assert_eq!(d.responder, "alice");
    assert_eq!(d.scope, Scope::Once);
    assert!(d.notify_agent);

    let out = cli(
        &s,
        REVIEWER,
        &["reject", &b.id, "--reason", "over the limit", "--notify"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let now = s.client(REVIEWER).get(&b.id).await.unwrap();
    assert_eq!(now.status, Status::Rejected);
    let d = now.decision.unwrap();
    assert_eq!(d.reason.as_deref(), Some("over the limit"));
    assert!(d.notify_agent);

    // The audit log records the args_hash each decision carried: the fetched request's.
    let out = cli(&s, REVIEWER, &["audit", "--json"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let entries: Vec<AuditEntry> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decided: Vec<&AuditEntry> = entries.iter().filter(|e| e.action == "decided").collect();
    assert_eq!(decided.len(), 2, "{entries:?}");
    for e in decided {
        let want = if e.request_id.as_deref() == Some(&a.id) {
            &a.args_hash
        } else {
            &b.args_hash
        };
        assert_eq!(e.args_hash.as_ref(), Some(want));
    }
    let out = cli(&s, REVIEWER, &["audit"]).await;
    assert!(out.stdout.starts_with("SEQ"), "{}", out.stdout);
    assert!(
        out.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_non_zero_with_the_servers_message() {
    let s = Server::start().await;
    let a = file(&s, "refund", None).await;
    assert_eq!(
        cli(&s, REVIEWER, &["reject", &a.id, "--reason", "no"])
            .await
            .code,
        Some(0)
    );

    // 409: someone else decided first; the message says how it now stands.
    let out = cli(&s, REVIEWER2, &["approve", &a.id]).await;
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(out.stderr.contains("HTTP 409"), "{}", out.stderr);
    assert!(out.stderr.contains("rejected by alice"), "{}", out.stderr);
    assert_eq!(
        s.client(REVIEWER).get(&a.id).await.unwrap().status,
        Status::Rejected
    );

    // 422: conversation scope on a request without a conversation.
    let b = file(&s, "refund", None).await;
    let out = cli(&s, REVIEWER, &["approve", &b.id, "--scope", "conversation"]).await;
    assert_eq!(out.code, Some(6), "{out:?}");
    assert!(out.stderr.contains("HTTP 422"), "{}", out.stderr);

    // 404, 401, 403.
    let out = cli(&s, REVIEWER, &["show", "no-such-request"]).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("HTTP 404"));
    let out = cli(&s, "wrong-token-123", &["list"]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("ASSENT_TOKEN"), "{}", out.stderr);
    let out = cli(&s, AGENT, &["approve", &b.id]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("reviewer"), "{}", out.stderr);
    assert_eq!(
        s.client(REVIEWER).get(&b.id).await.unwrap().status,
        Status::Pending
    );

    // Unreachable backend.
    let out = finish(assent(&dead_url(), Some(REVIEWER), &["list"]), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("assent serve"), "{}", out.stderr);
    // No token at all.
    let out = finish(assent(&s.url, None, &["list"]), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("ASSENT_TOKEN"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_revoke() {
    let s = Server::start().await;
    let a = file(&s, "refund", None).await;
    let out = cli(&s, REVIEWER, &["grants"]).await;
    assert_eq!(out.stdout, "No active grants.\n");
    let out = cli(&s, REVIEWER, &["approve", &a.id, "--scope", "always"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("scope always"), "{}", out.stdout);

    let out = cli(&s, REVIEWER, &["grants", "--json"]).await;
    let grants: Vec<Grant> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].scope, Scope::Always);
    assert_eq!(grants[0].tool, "refund");
    let out = cli(&s, REVIEWER, &["grants"]).await;
    assert!(out.stdout.contains(&grants[0].id), "{}", out.stdout);

    let out = cli(&s, REVIEWER, &["revoke", &grants[0].id]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("revoked grant"), "{}", out.stdout);
    let out = cli(&s, REVIEWER, &["grants", "--json"]).await;
    assert_eq!(out.stdout.trim(), "[]");
    let out = cli(&s, REVIEWER, &["revoke", "no-such-grant"]).await;
    assert_eq!(out.code, Some(4), "{out:?}");
}

fn run_sync(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn completions_man_and_version() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run_sync(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["gate", "approve", "claude-code"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bash = String::from_utf8_lossy(&run_sync(&["completions", "bash"]).stdout).into_owned();
    assert!(
        bash.contains("once conversation always"),
        "scope values complete"
    );
    let man = run_sync(&["man"]);
    assert!(man.status.success());
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH assent"),
        "{text}"
    );
    assert!(text.contains("gate"));
    let v = run_sync(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("assent {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = run_sync(&["completions", "tcsh"]);
    assert!(!bad.status.success());
}
