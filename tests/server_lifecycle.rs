//! Grants, expiry and long-poll waits over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use assent::protocol::{NewRequest, Status};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A call of `tool` by `agent`, in `conversation` if given.
fn mail(agent: &str, tool: &str, conversation: Option<&str>) -> NewRequest {
    NewRequest {
        conversation_id: conversation.map(str::to_owned),
        ..call(tool, agent, json!({"to": "customer@example.com"}))
    }
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_grant_approves_pending_and_new_requests_until_revoked() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let r1 = agent.file(&mail("mailer", "email.send", Some("c1"))).await;
    let r2 = agent.file(&mail("mailer", "email.send", Some("c1"))).await;
    let other_conv = agent.file(&mail("mailer", "email.send", Some("c2"))).await;
    let other_tool = agent
        .file(&mail("mailer", "email.delete", Some("c1")))
        .await;
    let other_agent = agent.file(&mail("billing", "email.send", Some("c1"))).await;
    let other_token = srv
        .http(AGENT2)
        .file(&mail("mailer", "email.send", Some("c1")))
        .await;
    let (_, before) = alice.get("/v1/requests").await;
    let mut events = SseStream::open(&srv.url, ALICE, Some(before["seq"].as_u64().unwrap())).await;

    let (st, d) = alice.decide(&r1, "approve", "conversation").await;
    assert_eq!(st, StatusCode::OK);
    let grant_id = d["decision"]["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(d["decision"]["scope"], "conversation");

    // Events: the decision, the grant, then the pending request the grant approved.
    let evs = events.take(3).await;
    assert_eq!(
        evs.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["request.decided", "grant.created", "request.decided"]
    );
    assert_eq!(evs[1].data["grant"]["id"], json!(grant_id));
    assert_eq!(evs[1].data["grant"]["conversation_id"], "c1");
    assert_eq!(evs[1].data["grant"]["source_request_id"], r1["id"]);
    assert_eq!(evs[2].data["request"]["id"], r2["id"]);

    let (_, r2now) = alice.fetch(&r2).await;
    assert_eq!(r2now["status"], "approved");
    assert_eq!(r2now["decision"]["grant_id"], json!(grant_id));
    assert_eq!(r2now["decision"]["responder"], "alice");
    for r in [&other_conv, &other_tool, &other_agent, &other_token] {
        let (_, now) = alice.fetch(r).await;
        assert_eq!(now["status"], "pending", "{r}");
    }

    let (st, grants) = alice.get("/v1/grants").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(grants["grants"].as_array().unwrap().len(), 1);
    assert_eq!(grants["grants"][0]["created_by"], "alice");
    assert_eq!(grants["grants"][0]["agent"], "mailer");
    assert_eq!(grants["grants"][0]["tool"], "email.send");
    assert!(grants["seq"].as_u64().unwrap() >= evs[2].id);

    // A new matching request is born approved, with the grant's creator as responder.
    let born = agent.file(&mail("mailer", "email.send", Some("c1"))).await;
    assert_eq!(born["status"], "approved");
    assert_eq!(born["decision"]["grant_id"], json!(grant_id));
    assert_eq!(born["decision"]["responder"], "alice");
    let ev = events.take(1).await;
    assert_eq!(ev[0].event, "request.created");
    assert_eq!(ev[0].data["request"]["status"], "approved");

    let (st, revoked) = srv
        .http(BOB)
        .delete(&format!("/v1/grants/{grant_id}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(revoked["revoked_by"], "bob");
    assert!(revoked["revoked_at"].is_string());
    let ev = events.take(1).await;
    assert_eq!(ev[0].event, "grant.revoked");
    let (st, again) = alice.delete(&format!("/v1/grants/{grant_id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["revoked_by"], "bob");
    let (_, grants) = alice.get("/v1/grants").await;
    assert!(grants["grants"].as_array().unwrap().is_empty());

    let after = agent.file(&mail("mailer", "email.send", Some("c1"))).await;
    assert_eq!(after["status"], "pending");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_always_grant_covers_every_conversation_and_none() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let r1 = agent.file(&mail("deployer", "k8s.rollout", None)).await;
    let pending = agent
        .file(&mail("deployer", "k8s.rollout", Some("x")))
        .await;
    let (st, d) = alice.decide(&r1, "approve", "always").await;
    assert_eq!(st, StatusCode::OK);
    let gid = d["decision"]["grant_id"].clone();
    let (_, p) = alice.fetch(&pending).await;
    assert_eq!(p["status"], "approved");
    assert_eq!(p["decision"]["scope"], "always");
    assert_eq!(p["decision"]["grant_id"], gid);
    for conv in [None, Some("y"), Some("z")] {
        let r = agent.file(&mail("deployer", "k8s.rollout", conv)).await;
        assert_eq!(r["status"], "approved");
        assert_eq!(r["decision"]["grant_id"], gid);
    }
    // The agent waiting on a grant-approved request gets its answer at once.
    let r = agent.file(&mail("deployer", "k8s.rollout", None)).await;
    let t = Instant::now();
    let (_, w) = agent.wait(&r, 10).await;
    assert_eq!(w["status"], "approved");
    assert!(t.elapsed() < Duration::from_secs(2));
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_answers_waiters_emits_an_event_and_blocks_approval() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let (_, l) = alice.get("/v1/requests").await;
    let mut events = SseStream::open(&srv.url, ALICE, Some(l["seq"].as_u64().unwrap())).await;
    let mut body = mail("bot", "t", None);
    body.ttl_seconds = Some(1);
    let r = agent.file(&body).await;
    assert!(r["expires_at"].is_string());

    let t = Instant::now();
    let (st, w) = agent.wait(&r, 30).await;
    let waited = t.elapsed();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(w["status"], "expired");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert!(
        waited >= Duration::from_millis(700),
        "answered before the TTL: {waited:?}"
    );

    let evs = events.take(2).await;
    assert_eq!(evs[0].event, "request.created");
    assert_eq!(evs[1].event, "request.expired");
    assert_eq!(evs[1].data["request"]["status"], "expired");

    let (st, e) = alice.decide(&r, "approve", "once").await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["request"]["status"], "expired");
    assert!(error_message(&e).contains("expired"));
    let (_, listed) = alice.get("/v1/requests?status=expired").await;
    assert_eq!(listed["requests"][0]["id"], r["id"]);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_expires_untouched_requests_and_the_default_ttl_applies() {
    let srv = TestServer::start_configured(|c| c.default_ttl = Some(Duration::from_secs(1))).await;
    let agent = srv.http(AGENT1);
    let (_, l) = srv.http(ALICE).get("/v1/requests").await;
    let mut events = SseStream::open(&srv.url, ALICE, Some(l["seq"].as_u64().unwrap())).await;
    let r = agent.file(&mail("bot", "t", None)).await;
    let created = chrono::DateTime::parse_from_rfc3339(r["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(r["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_milliseconds(), 1000);
    // Nobody reads or writes: the sweeper alone produces the expiry event, on time.
    assert_eq!(events.take(1).await[0].event, "request.created");
    let t = Instant::now();
    let ev = events
        .next_within(Duration::from_secs(6))
        .await
        .expect("expiry event");
    assert_eq!(ev.event, "request.expired");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_answers_on_decision_on_cancel_or_at_the_timeout() {
    let srv = TestServer::start_configured(|c| c.max_wait_seconds = 2).await;
    let agent = srv.http(AGENT1);
    let r = agent.file(&mail("bot", "t", None)).await;

    // Timeout with the request still pending.
    let t = Instant::now();
    let (st, w) = agent.wait(&r, 1).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(w["status"], "pending");
    assert!(t.elapsed() >= Duration::from_millis(950) && t.elapsed() < Duration::from_secs(5));
    // timeout_s is capped at max_wait_seconds.
    let t = Instant::now();
    let (_, w) = agent.wait(&r, 600).await;
    assert_eq!(w["status"], "pending");
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    // timeout 0 answers at once.
    let t = Instant::now();
    let (_, w) = agent.wait(&r, 0).await;
    assert_eq!(w["status"], "pending");
    assert!(t.elapsed() < Duration::from_secs(2));
    srv.shutdown().await;

    // Several waiters, answered by one decision well before their timeout.
    let srv2 = TestServer::start().await;
    let agent2 = srv2.http(AGENT1);
    let r = agent2.file(&mail("bot", "t", None)).await;
    let mut waiters = Vec::new();
    for _ in 0..5 {
        let a = agent2.clone();
        let r = r.clone();
        waiters.push(tokio::spawn(async move {
            let t = Instant::now();
            let (st, v) = a.wait(&r, 30).await;
            (st, v, t.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, d) = srv2.http(ALICE).decide(&r, "approve", "once").await;
    assert_eq!(st, StatusCode::OK);
    for w in waiters {
        let (st, v, took) = w.await.unwrap();
        assert_eq!(st, StatusCode::OK);
        assert_eq!(v, d);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    // A cancel answers the waiter too; so does the crate client.
    let r = agent2.file(&mail("bot", "t", None)).await;
    let api = srv2.api(AGENT1);
    let rid = id(&r).to_owned();
    let waiter = tokio::spawn(async move { api.wait(&rid, 30).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    agent2.cancel(&r).await;
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.status, Status::Cancelled);

    // Waiting on another agent's request is refused.
    let (st, _) = srv2.http(AGENT2).wait(&r, 1).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    srv2.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_long_polls_and_streams_promptly() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let r = agent.file(&mail("bot", "t", None)).await;
    let waiter = tokio::spawn(async move { agent.wait(&r, 60).await });
    let mut events = SseStream::open(&srv.url, ALICE, Some(0)).await;
    assert_eq!(events.take(1).await[0].event, "request.created");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    srv.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    let (st, v) = waiter.await.unwrap();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["status"], "pending");
    assert!(events.next_within(Duration::from_secs(2)).await.is_none());
}
}
