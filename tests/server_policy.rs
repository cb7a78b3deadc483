//! The filing policy on the real server: each action's outcome, what is recorded on the
//! request, in the audit log and on the event stream, fail-closed evaluation, and reload
//! (HTTP and SIGHUP) with a broken policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assent::protocol::NewRequest;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A config file with the identities and the test policy in `policy.toml` beside it.
fn write_setup(dir: &Path) -> PathBuf {
    write_config(dir, "", Some(&test_policy().unwrap())).unwrap()
}

async fn start_with_policy(dir: &Path) -> TestServer {
    TestServer::start_from_file(&write_setup(dir)).await
}

/// A refund of `amount` by order-manager, without a reason.
fn refund_of(amount: Value) -> NewRequest {
    call(
        "order_tools.process_refund",
        "order-manager",
        json!({"order_id": "A-1", "amount": amount}),
    )
}

async fn audit_for(srv: &TestServer, id: &str) -> Vec<Value> {
    let (status, page) = srv.http(ALICE).get("/v1/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request_id"] == id)
        .cloned()
        .collect()
}

each_store! {
#[tokio::test]
async fn each_action_decides_at_filing_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_with_policy(dir.path()).await;
    let agent = srv.http(AGENT1);
    let mut events = SseStream::open(&srv.url, ALICE, Some(0)).await;

    // allow: born approved by the policy.
    let small = agent.file(&refund_of(json!(20))).await;
    assert_eq!(small["status"], "approved");
    assert_eq!(small["decision"]["responder"], "policy:small-refunds");
    assert_eq!(small["policy"]["rule"], "small-refunds");
    assert_eq!(small["policy"]["action"], "allow");

    // deny: born rejected, the rule's message as reason, the agent told.
    let rm = agent
        .file(&json!({"tool": "shell.exec", "agent": "ops",
                       "params": {"argv": ["rm", "-rf", "/"], "cwd": "/"}}))
        .await;
    assert_eq!(rm["status"], "rejected");
    assert_eq!(rm["decision"]["reason"], "Deleting / is never allowed.");
    assert_eq!(rm["decision"]["notify_agent"], true);
    assert_eq!(rm["decision"]["responder"], "policy:never-rm-root");

    // audit: let through, marked for review.
    let intern = agent
        .file(&json!({"tool": "email.send", "agent": "intern-3", "params": {"to": "x@y"}}))
        .await;
    assert_eq!(intern["status"], "approved");
    assert_eq!(intern["policy"]["action"], "audit");

    // require_approval by a rule: pending, with the rule's risk and TTL.
    let big = agent.file(&refund_of(json!(1500.5))).await;
    assert_eq!(big["status"], "pending");
    assert_eq!(big["risk"], "high");
    assert_eq!(big["policy"]["rule"], "big-refunds");
    assert_eq!(
        big["policy"]["message"],
        "Refunds over $1000 need a manager."
    );
    let created =
        chrono::DateTime::parse_from_rfc3339(big["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(big["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 3600);

    // No rule: pending, and nothing recorded about a policy.
    let other = agent
        .file(&json!({"tool": "deploy.run", "agent": "ci", "params": {}}))
        .await;
    assert_eq!(other["status"], "pending");
    assert!(other["policy"].is_null(), "{other}");

    // The stream shows each request as born.
    let evs = events.take(5).await;
    let statuses: Vec<&str> = evs
        .iter()
        .map(|e| {
            assert_eq!(e.event, "request.created");
            e.data["request"]["status"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        statuses,
        ["approved", "rejected", "approved", "pending", "pending"]
    );

    // The audit log names the rule on the filing, and the policy as the decider.
    let entries = audit_for(&srv, small["id"].as_str().unwrap()).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["action"], "filed");
    assert_eq!(entries[0]["policy"]["rule"], "small-refunds");
    assert_eq!(entries[1]["action"], "decided");
    assert_eq!(entries[1]["actor"], "policy:small-refunds");
    assert_eq!(entries[1]["outcome"], "approved");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test]
async fn deny_wins_over_an_always_grant() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_with_policy(dir.path()).await;
    let agent = srv.http(AGENT1);
    let ls = agent
        .file(&json!({"tool": "shell.exec", "agent": "ops", "params": {"argv": ["ls"]}}))
        .await;
    let (status, _) = srv.http(ALICE).decide(&ls, "approve", "always").await;
    assert_eq!(status, StatusCode::OK);
    let ls2 = agent
        .file(&json!({"tool": "shell.exec", "agent": "ops", "params": {"argv": ["ls", "-l"]}}))
        .await;
    assert_eq!(ls2["status"], "approved", "the grant covers harmless calls");
    let rm = agent
        .file(&json!({"tool": "shell.exec", "agent": "ops", "params": {"argv": ["rm", "/"]}}))
        .await;
    assert_eq!(rm["status"], "rejected", "{rm}");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test]
async fn a_condition_that_fails_to_evaluate_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_with_policy(dir.path()).await;
    // No `amount`: big-refunds cannot be evaluated, so small-refunds must NOT let it through.
    let req = srv
        .http(AGENT1)
        .file(&json!({"tool": "order_tools.process_refund", "agent": "om",
                      "params": {"order_id": "A-9"}}))
        .await;
    assert_eq!(req["status"], "pending");
    // small-refunds would have allowed it; after a failed condition nothing may.
    assert_eq!(req["policy"]["rule"], "small-refunds");
    assert_eq!(req["policy"]["action"], "require_approval");
    assert!(req["policy"]["message"].is_null(), "{req}");
    assert!(
        req["risk"].is_null(),
        "the failing rule's risk does not apply: {req}"
    );
    let why = req["policy"]["error"].as_str().unwrap();
    assert!(
        why.contains("big-refunds") && why.contains("amount"),
        "{why}"
    );
    let entries = audit_for(&srv, req["id"].as_str().unwrap()).await;
    assert_eq!(entries[0]["policy"]["error"], why);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test]
async fn reload_refuses_a_broken_policy_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_with_policy(dir.path()).await;
    // A stream opened before the reloads must carry on through them.
    let mut events = SseStream::open(&srv.url, ALICE, Some(0)).await;

    // Only an admin may reload.
    let (status, _) = srv.http(ALICE).post_empty("/v1/policy/reload").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    write_policy(dir.path(), "[policy]\n[[policy.rules]]\nname = \"oops\"\nwhen = \"params.amount >\"\naction = \"deny\"\n").unwrap();
    let (status, body) = srv.http(ROOT).post_empty("/v1/policy/reload").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "policy_invalid");
    let msg = error_message(&body);
    assert!(
        msg.contains("oops") && msg.contains("old one stays"),
        "{msg}"
    );
    // The old policy is still in force.
    let small = srv.http(AGENT1).file(&refund_of(json!(5))).await;
    assert_eq!(small["status"], "approved");

    // A good new policy takes effect at once, on the same connections.
    write_policy(dir.path(), "[policy]\ndefault = \"deny\"\n").unwrap();
    let (status, body) = srv.http(ROOT).post_empty("/v1/policy/reload").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rules"], 0);
    let now_denied = srv.http(AGENT1).file(&refund_of(json!(5))).await;
    assert_eq!(now_denied["status"], "rejected");
    assert_eq!(now_denied["decision"]["responder"], "policy:default");
    let seen: Vec<String> = events
        .take(2)
        .await
        .into_iter()
        .map(|e| e.data["request"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen,
        ["approved", "rejected"],
        "the stream survived both reloads"
    );
    srv.shutdown().await;
}
}

#[cfg(unix)]
each_store! {
#[tokio::test]
async fn serve_reloads_on_sighup_and_refuses_to_start_on_a_broken_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_setup(dir.path());
    let db = dir.path().join("a.db");
    let db = db.to_str().unwrap();
    let srv = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
    let agent = srv.http(AGENT1);
    let before = agent.file(&refund_of(json!(5))).await;
    assert_eq!(before["status"], "approved");

    write_policy(dir.path(), "[policy]\ndefault = \"deny\"\n").unwrap();
    srv.signal("HUP").unwrap();
    // The reload is asynchronous: poll briefly for the new policy to be in force.
    let reloaded = poll(Duration::from_secs(5), || async {
        let r = agent.file(&refund_of(json!(5))).await;
        (r["status"] == "rejected").then_some(())
    })
    .await;
    assert!(reloaded.is_some(), "SIGHUP did not load the new policy");
    drop(srv);

    // A policy that does not compile stops the server before it listens, naming the rule.
    write_policy(
        dir.path(),
        "[policy]\n[[policy.rules]]\nname = \"typo\"\nwhen = \"amount > 3\"\naction = \"allow\"\n",
    )
    .unwrap();
    let out = serve_to_end(&cfg, &["--listen", ANY_PORT, "--db", ":memory:"]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let err = out.stderr;
    assert!(
        err.contains("policy.toml") && err.contains("typo") && err.contains("unknown variable"),
        "{err}"
    );
}
}
