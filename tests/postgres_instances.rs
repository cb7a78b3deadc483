//! Two `assent serve` processes on one PostgreSQL database behave as one server: each
//! streams and answers the waiters of what the other commits, races between them have
//! one winner, a grant or an expiry counts once, killing one loses nothing it
//! acknowledged and a stream resumes on the other. And while PostgreSQL is down, writes
//! get 503 and service returns on its own once it is back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::postgres::{Cluster, create_database, fresh_database, pg_bin, skip};
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Two instances on one fresh database (and the temp dir of their configs and logs).
async fn two(test: &str) -> Option<(Serve, Serve, tempfile::TempDir)> {
    let url = fresh_database(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let a = Serve::on(dir.path(), ANY_PORT, &url).await;
    let b = Serve::on(dir.path(), ANY_PORT, &url).await;
    Some((a, b, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_a_sees_what_b_commits_within_100_ms() {
    let Some((a, b, _dir)) = two("stream_across").await else {
        return;
    };
    let mut stream = SseStream::open(&a.url, ALICE, None).await;
    let agent = b.http(AGENT1);
    let mut took = Vec::new();
    for _ in 0..9 {
        let filed = agent.file(&refund("bot")).await;
        let start = Instant::now();
        let ev = stream
            .next_within(Duration::from_secs(5))
            .await
            .expect("B's filing streamed on A");
        took.push(start.elapsed());
        assert_eq!(ev.data["request"]["id"], filed["id"]);
    }
    took.sort();
    // The median, so that one scheduling hiccup on a loaded machine does not decide.
    assert!(took[4] < Duration::from_millis(100), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_a_is_answered_when_b_decides() {
    let Some((a, b, _dir)) = two("wait_across").await else {
        return;
    };
    let req = a.http(AGENT1).file(&refund("bot")).await;
    let waiter = {
        let (http, req) = (a.http(AGENT1), req.clone());
        tokio::spawn(async move { http.wait(&req, 10).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, _) = b.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, StatusCode::OK);
    let decided = Instant::now();
    let (st, answer) = waiter.await.unwrap();
    assert_eq!(
        (st, answer["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    assert!(
        decided.elapsed() < Duration::from_millis(500),
        "{:?}",
        decided.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_50_deciders_split_over_a_and_b_exactly_one_wins() {
    let Some((a, b, _dir)) = two("race_across").await else {
        return;
    };
    let req = a.http(AGENT1).file(&refund("bot")).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let http = if i % 2 == 0 {
                a.http(ALICE)
            } else {
                b.http(BOB)
            };
            let req = req.clone();
            let outcome = if i % 3 == 0 { "reject" } else { "approve" };
            tokio::spawn(async move { http.decide(&req, outcome, "once").await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        let (st, body) = t.await.unwrap();
        answers.push((st, body));
    }
    let (_, now) = b.http(ALICE).fetch(&req).await;
    let winner = now["decision"].clone();
    // Every 200 is the winner's decision (a same-person replay answers with it); every
    // other answer is 409 with the request as decided.
    for (st, body) in &answers {
        match *st {
            StatusCode::OK => assert_eq!(body["decision"], winner),
            StatusCode::CONFLICT => assert_eq!(body["request"]["decision"], winner),
            other => panic!("{other}: {body}"),
        }
    }
    let (_, audit) = a.http(ALICE).get("/v1/audit").await;
    let decided = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "decided")
        .count();
    assert_eq!(decided, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_made_on_a_approves_a_request_filed_on_b() {
    let Some((a, b, _dir)) = two("grant_across").await else {
        return;
    };
    let first = a
        .http(AGENT1)
        .file(&in_conversation("c1", refund("bot")))
        .await;
    let waiting = b
        .http(AGENT1)
        .file(&in_conversation("c1", refund("bot")))
        .await;
    let (st, _) = a
        .http(ALICE)
        .decide(&first, "approve", "conversation")
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, now) = b.http(ALICE).fetch(&waiting).await;
    assert_eq!(now["status"], "approved");
    assert_eq!(now["decision"]["via"]["kind"], "grant");
    let later = b
        .http(AGENT1)
        .file(&in_conversation("c1", refund("bot")))
        .await;
    assert_eq!(later["status"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_expires_once_with_both_sweepers_running() {
    let Some((a, b, _dir)) = two("expiry_across").await else {
        return;
    };
    let mut new = refund("bot");
    new.ttl_seconds = Some(1);
    let req = a.http(AGENT1).file(&new).await;
    let mut stream = SseStream::open(&b.url, ALICE, Some(0)).await;
    eventually("the request expired", Duration::from_secs(5), || async {
        let (_, r) = b.http(ALICE).fetch(&req).await;
        (r["status"] == "expired").then_some(())
    })
    .await;
    // Both sweepers have had a second more to expire it again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut kinds = Vec::new();
    while let Some(ev) = stream.next_within(Duration::from_millis(300)).await {
        kinds.push(ev.event);
    }
    assert_eq!(kinds, ["request.created", "request.expired"]);
    let (_, audit) = a.http(ALICE).get("/v1/audit").await;
    let expired = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "expired")
        .count();
    assert_eq!(expired, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_escalates_once_with_both_sweepers_running() {
    let Some(url) = fresh_database("escalation_across").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Both sweepers wake for the same escalate_at: one of them escalates it.
    let cfg = write_config(dir.path(), "escalate_after = \"1s\"", None).unwrap();
    let a = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(&url), &[]).await;
    let b = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(&url), &[]).await;
    let mut stream = SseStream::open(&b.url, ALICE, Some(0)).await;
    let reqs: Vec<Value> = {
        let agent = a.http(AGENT1);
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(agent.file(&refund("bot")).await);
        }
        v
    };
    for req in &reqs {
        eventually("the request escalated", Duration::from_secs(5), || async {
            let (_, r) = b.http(ALICE).fetch(req).await;
            r["escalated_at"].is_string().then_some(())
        })
        .await;
    }
    // Both sweepers have had a second more to escalate them again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut escalations = 0;
    for _ in 0..100 {
        let Some(ev) = stream.next_within(Duration::from_millis(300)).await else {
            break;
        };
        escalations += usize::from(ev.event == "request.escalated");
    }
    assert_eq!(escalations, reqs.len());
    let (_, audit) = a.http(ALICE).get("/v1/audit?limit=1000").await;
    let audited = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "escalated")
        .count();
    assert_eq!(audited, reqs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_under_load_loses_nothing_a_acknowledged_and_b_serves_on() {
    let Some((mut a, b, _dir)) = two("kill_across").await else {
        return;
    };
    let filers: Vec<_> = (0..8)
        .map(|i| {
            let url = if i % 2 == 0 {
                a.url.clone()
            } else {
                b.url.clone()
            };
            tokio::spawn(async move {
                let http = Http::new(&url, Some(AGENT1));
                let mut acknowledged = Vec::new();
                for _ in 0..100 {
                    let rb = http
                        .request(reqwest::Method::POST, "/v1/requests")
                        .json(&refund("bot"));
                    match rb.send().await {
                        Ok(resp) if resp.status() == StatusCode::CREATED => {
                            let v: Value = resp.json().await.unwrap();
                            acknowledged.push(v["id"].as_str().unwrap().to_owned());
                        }
                        // A's connections break when it dies: those were not acknowledged.
                        _ => {}
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    let mut acknowledged = Vec::new();
    let mut on_a = 0;
    for (i, f) in filers.into_iter().enumerate() {
        let acks = f.await.unwrap();
        if i % 2 == 0 {
            on_a += acks.len();
        } else {
            assert_eq!(acks.len(), 100, "B kept serving");
        }
        acknowledged.extend(acks);
    }
    assert!(
        (1..400).contains(&on_a),
        "A was killed during the load: {on_a}"
    );
    let listed: std::collections::HashSet<String> =
        b.all().await.into_iter().map(|r| r.id).collect();
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged {id} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_was_on_a_resumes_on_b_with_no_gap_and_the_same_database() {
    let Some((mut a, b, _dir)) = two("resume_across").await else {
        return;
    };
    let agent = b.http(AGENT1);
    for _ in 0..3 {
        agent.file(&refund("bot")).await;
    }
    let mut on_a = SseStream::open(&a.url, ALICE, Some(0)).await;
    let seen = on_a.take(3).await;
    let database_id = seen[2].data["database_id"].as_str().unwrap().to_owned();
    a.kill();
    for _ in 0..3 {
        agent.file(&refund("bot")).await;
    }
    let (st, list) = b.http(ALICE).get("/v1/requests").await;
    assert_eq!(
        (st, list["database_id"].as_str()),
        (StatusCode::OK, Some(database_id.as_str()))
    );
    let mut on_b = SseStream::open(&b.url, ALICE, Some(seen[2].id)).await;
    let ids: Vec<u64> = on_b.take(3).await.iter().map(|e| e.id).collect();
    assert_eq!(ids, [4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_writes_get_503_and_service_returns_when_it_is_back() {
    // A cluster of its own: stopping the shared one would fail the other tests.
    let Some(bin) = pg_bin() else {
        skip("outage");
        return;
    };
    let cluster = Cluster::start(&bin).unwrap();
    let url = create_database(&cluster.admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let srv = Serve::on(dir.path(), ANY_PORT, &url).await;
    let agent = srv.http(AGENT1);
    let before = agent.file(&refund("bot")).await;
    let mut stream = SseStream::open(&srv.url, ALICE, Some(0)).await;
    assert_eq!(stream.take(1).await[0].data["request"]["id"], before["id"]);

    cluster.pg_ctl_stop().unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let (st, body) = agent.post("/v1/requests", &refund("bot")).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(error_message(&body).contains("PostgreSQL"), "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "{:?}",
            start.elapsed()
        );
        let (st, _) = srv.http(ALICE).decide(&before, "approve", "once").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    }
    // The stream was not cut: it is still open (no event, no end) while PostgreSQL is down.
    assert!(
        stream
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );

    cluster.pg_ctl_start().unwrap();
    let back = Instant::now();
    let after = eventually("filing works again", Duration::from_secs(5), || async {
        let (st, body) = agent.post("/v1/requests", &refund("bot")).await;
        (st == StatusCode::CREATED).then_some(body)
    })
    .await;
    assert!(back.elapsed() < Duration::from_secs(5));
    // The stream goes on from where it was, with the filing made after the return.
    let ev = stream
        .next_within(Duration::from_secs(5))
        .await
        .expect("the stream goes on");
    assert_eq!(ev.data["request"]["id"], after["id"]);
    cluster.pg_ctl_stop().unwrap();
}
