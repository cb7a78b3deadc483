//! Timeouts and escalation (issue 13) on both stores, end to end against `assent serve`:
//! a request still pending after `escalate_after` escalates once, across restarts, and
//! `on_timeout = "reject"` ends a request at its TTL as the system's rejection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Every event in the log, oldest first, as (type, request id).
async fn event_log(url: &str) -> Vec<(String, Value)> {
    let mut stream = SseStream::open(url, ALICE, Some(0)).await;
    let mut out = Vec::new();
    // Bounded: the log of these tests holds a few events.
    for _ in 0..100 {
        let Some(ev) = stream.next_within(Duration::from_millis(400)).await else {
            break;
        };
        out.push((ev.event, ev.data["request"]["id"].clone()));
    }
    out
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_fires_once_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("esc.db").display().to_string();
    let cfg = write_config(dir, "escalate_after = \"2s\"", None).unwrap();
    let mut first = Serve::launch(dir, &cfg, ANY_PORT, Some(&db), &[]).await;
    let req = first.http(AGENT1).file(&refund("bot")).await;
    assert!(req["escalate_at"].is_string(), "{req}");
    assert!(req.get("escalated_at").is_none(), "not yet: {req}");
    // Down before it is due: the next server escalates what fell due meanwhile.
    first.kill();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut second = Serve::launch(dir, &cfg, ANY_PORT, Some(&db), &[]).await;
    let reviewer = second.http(ALICE);
    let escalated = eventually("the request escalated", Duration::from_secs(10), || async {
        let (_, r) = reviewer.fetch(&req).await;
        r["escalated_at"].is_string().then_some(r)
    })
    .await;
    assert_eq!(escalated["status"], "pending", "{escalated}");
    // Kill -9 and start again, twice over: every sweep after it finds it escalated.
    second.kill();
    let third = Serve::launch(dir, &cfg, ANY_PORT, Some(&db), &[]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = event_log(&third.url).await;
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["request.created", "request.escalated"], "{log:?}");
    assert_eq!(log[1].1, req["id"]);
    let (_, again) = third.http(ALICE).fetch(&req).await;
    assert_eq!(again["escalated_at"], escalated["escalated_at"]);
    let entries = third.http(ALICE).audited("escalated").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "system");
    // Decided after it escalated: it still is what a person decided.
    let (st, decided) = third.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, 200, "{decided}");
    assert_eq!(decided["decision"]["via"], json!({"kind": "person"}));
}
}

/// A rule that escalates after 1 s and rejects at its 3 s TTL.
const TIMEOUT_POLICY: &str = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "held-refunds"
tool = "order_tools.process_refund"
action = "require_approval"
ttl = "3s"
escalate_after = "1s"
on_timeout = "reject"
"#;

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_escalates_then_rejects_at_its_ttl_as_the_system() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keys = "metrics_token = \"scrape-secret-1\"";
    let cfg = write_config(dir, keys, Some(TIMEOUT_POLICY)).unwrap();
    let s = Serve::launch(dir, &cfg, ANY_PORT, Some(":memory:"), &[]).await;
    let mut stream = SseStream::open(&s.url, ALICE, None).await;
    let req = s.http(AGENT1).file(&refund("bot")).await;
    assert_eq!(req["on_timeout"], "reject", "{req}");
    assert!(req["escalate_at"].is_string(), "{req}");
    // Another call, held by no rule: the server's defaults (expire, never escalate).
    let plain = s.http(AGENT1).file(&call("email.send", "bot", json!({}))).await;
    assert!(plain.get("on_timeout").is_none() && plain.get("escalate_at").is_none(), "{plain}");
    let evs = stream.take(4).await;
    let seen: Vec<(&str, &Value)> = evs
        .iter()
        .map(|e| (e.event.as_str(), &e.data["request"]["id"]))
        .collect();
    assert_eq!(
        seen,
        [
            ("request.created", &req["id"]),
            ("request.created", &plain["id"]),
            ("request.escalated", &req["id"]),
            ("request.decided", &req["id"]),
        ]
    );
    let escalated = &evs[2].data["request"];
    assert_eq!(escalated["status"], "pending");
    assert!(escalated["escalated_at"].is_string(), "{escalated}");
    let ended = &evs[3].data["request"];
    assert_eq!(ended["status"], "rejected", "{ended}");
    let d = &ended["decision"];
    assert_eq!(d["responder"], "system");
    assert_eq!(d["reason"], "approval_timeout");
    assert_eq!(d["notify_agent"], true);
    assert_eq!(d["via"], json!({"kind": "timeout"}));
    // The agent's long poll gets the rejection, and nobody can decide it any more.
    let (_, waited) = s.http(AGENT1).wait(&req, 1).await;
    assert_eq!(waited["status"], "rejected");
    let (st, _) = s.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, 409);
    let decided = s.http(ALICE).audited("decided").await;
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["actor"], "system");
    assert_eq!(decided[0]["via"], json!({"kind": "timeout"}));
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", s.url))
        .bearer_auth("scrape-secret-1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("assent_requests_escalated_total 1"), "{text}");
    assert!(
        text.contains(r#"assent_decisions_total{outcome="rejected",scope="once",via="timeout"} 1"#),
        "{text}"
    );
}
}
