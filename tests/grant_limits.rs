//! Grants that end (issue 15): a grant given a duration or a use limit approves nothing
//! once past it, on both stores; the limit holds under racing filings; the grant's one
//! `grant.expired` event. The real server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use assent::protocol::{ApprovalRequest, DecisionBody, Scope, Status, Verdict};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Alice's approval of `r` for `scope`, making a grant with these limits.
fn limited(
    r: &ApprovalRequest,
    scope: Scope,
    ttl: Option<u64>,
    max_uses: Option<u64>,
) -> DecisionBody {
    DecisionBody {
        scope,
        grant_ttl_seconds: ttl,
        grant_max_uses: max_uses,
        params: None,
        ..decision(Verdict::Approve, &r.args_hash)
    }
}

/// A call of the refund tool by agent1's `order-manager`, told apart by `n`.
fn nth(n: u64) -> assent::protocol::NewRequest {
    call(
        "order_tools.process_refund",
        "order-manager",
        json!({"order_id": format!("A-{n}"), "amount": n}),
    )
}

/// Every event in the log with `kind`, read from the stream from the start until it goes
/// quiet.
async fn events_of(s: &TestServer, kind: &str) -> Vec<SseEvent> {
    let mut sse = SseStream::open(&s.url, ALICE, Some(0)).await;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(ev) = sse.next_within(Duration::from_millis(500)).await else {
            break;
        };
        if ev.event == kind {
            out.push(ev);
        }
    }
    out
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_past_its_duration_approves_nothing_and_is_marked_once() {
    let s = TestServer::start().await;
    let first = s.file(&nth(1)).await;
    let made = s
        .decide(&first.id, &limited(&first, Scope::Always, Some(1), None))
        .await;
    let grant_id = made.decision.as_ref().unwrap().grant_id.clone().unwrap();
    let (_, grants) = s.http(ALICE).get("/v1/grants").await;
    let g = &grants["grants"][0];
    assert_eq!(g["id"], grant_id.as_str());
    assert!(g["expires_at"].is_string(), "{g}");
    assert!(g.get("expired_at").is_none(), "{g}");
    // Within its second it approves.
    let within = s.file(&nth(2)).await;
    if within.status == Status::Approved {
        assert_eq!(
            within.decision.as_ref().unwrap().grant_id.as_deref(),
            Some(grant_id.as_str())
        );
    }
    // The sweep marks it within about a second of its end.
    let marked = eventually("grant.expired", Duration::from_secs(5), || async {
        let e = s.http(ALICE).audited("grant_expired").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(marked[0]["grant_id"], grant_id.as_str());
    assert_eq!(marked[0]["actor"], "system");
    let after = s.file(&nth(3)).await;
    assert_eq!(after.status, Status::Pending, "an ended grant approves nothing");
    let (_, grants) = s.http(ALICE).get("/v1/grants").await;
    assert_eq!(grants["grants"], json!([]), "only grants in force are listed");
    // Sweeps go on; the mark is made once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.http(ALICE).audited("grant_expired").await.len(), 1);
    let events = events_of(&s, "grant.expired").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data["grant"]["id"], grant_id.as_str());
    assert!(events[0].data["grant"]["expired_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_past_its_end_approves_nothing_even_before_the_sweep_marks_it() {
    // The sweep runs every second at most; a filing right after the end must not wait
    // for it. Filed repeatedly across the end: once one is pending, none after is approved.
    let s = TestServer::start().await;
    let first = s.file(&nth(1)).await;
    s.decide(&first.id, &limited(&first, Scope::Always, Some(1), None))
        .await;
    let g: Value = s.http(ALICE).get("/v1/grants").await.1["grants"][0].clone();
    let ends: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(g["expires_at"].clone()).unwrap();
    let mut seen_pending = false;
    for n in 2..200 {
        let r = s.file(&nth(n)).await;
        let now = chrono::Utc::now();
        match r.status {
            Status::Approved => {
                assert!(!seen_pending, "approved after a pending one: {r:?}");
                assert!(r.created_at < ends, "approved at {} past {ends}", r.created_at);
            }
            Status::Pending => seen_pending = true,
            other => panic!("{other:?}"),
        }
        if seen_pending && now > ends + chrono::TimeDelta::milliseconds(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_limit_holds_under_racing_filings() {
    let s = TestServer::start().await;
    let first = s.file(&nth(0)).await;
    let made = s
        .decide(&first.id, &limited(&first, Scope::Always, None, Some(3)))
        .await;
    let grant_id = made.decision.as_ref().unwrap().grant_id.clone().unwrap();
    let filings = (1..=12).map(|n| {
        let api = s.api(AGENT1);
        async move { api.file(&nth(n), None).await.unwrap().request }
    });
    let filed = futures::future::join_all(filings).await;
    let approved: Vec<_> = filed
        .iter()
        .filter(|r| r.status == Status::Approved)
        .collect();
    assert_eq!(approved.len(), 3, "{filed:?}");
    for r in &approved {
        assert_eq!(
            r.decision.as_ref().unwrap().grant_id.as_deref(),
            Some(grant_id.as_str())
        );
    }
    assert_eq!(
        filed.iter().filter(|r| r.status == Status::Pending).count(),
        9
    );
    // Its last use ended it, once.
    let marked = s.http(ALICE).audited("grant_expired").await;
    assert_eq!(marked.len(), 1, "{marked:?}");
    let events = events_of(&s, "grant.expired").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["grant"]["uses"], 3);
    assert_eq!(events[0].data["grant"]["max_uses"], 3);
    let (_, grants) = s.http(ALICE).get("/v1/grants").await;
    assert_eq!(grants["grants"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_grant_approves_pending_requests_up_to_its_limit() {
    let s = TestServer::start().await;
    let conv = |n| in_conversation("conv-1", nth(n));
    let first = s.file(&conv(0)).await;
    let mut pending = Vec::new();
    for n in 1..=4 {
        pending.push(s.file(&conv(n)).await);
    }
    s.decide(
        &first.id,
        &limited(&first, Scope::Conversation, Some(3600), Some(2)),
    )
    .await;
    let mut statuses = Vec::new();
    for r in &pending {
        statuses.push(s.status_of(&r.id).await);
    }
    // Oldest first, two uses.
    assert_eq!(
        statuses,
        [Status::Approved, Status::Approved, Status::Pending, Status::Pending]
    );
    assert_eq!(s.http(ALICE).audited("grant_expired").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_a_decision_that_makes_no_grant_are_refused() {
    let s = TestServer::start().await;
    let alice = s.http(ALICE);
    let r = s.http(AGENT1).file(&nth(1)).await;
    let hash = r["args_hash"].clone();
    for body in [
        json!({"outcome": "approve", "args_hash": hash, "grant_ttl_seconds": 3600}),
        json!({"outcome": "reject", "reason": "no", "args_hash": hash, "grant_max_uses": 1}),
        json!({"outcome": "approve", "scope": "always", "args_hash": hash, "grant_ttl_seconds": 0}),
        json!({"outcome": "approve", "scope": "always", "args_hash": hash, "grant_max_uses": 0}),
    ] {
        let (st, v) = alice.decide_with(&r, &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_eq!(v["error"]["code"], "invalid_grant_limit", "{v}");
    }
    assert_eq!(alice.fetch(&r).await.1["status"], "pending");
}
}
