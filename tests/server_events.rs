//! The event stream and durability: SSE replay and resume (also across a restart on the
//! same database file, and after kill -9 of the `assent serve` binary), keep-alives,
//! and the binary's start-up contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use assent::protocol::NewRequest;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// The `i`-th call of tool `t` by `bot`.
fn nth(i: usize) -> NewRequest {
    call("t", "bot", json!({"i": i}))
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replay_from_any_point_then_go_live_in_order() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let r1 = agent.file(&nth(1)).await;
    alice.decide(&r1, "approve", "once").await;
    agent.file(&nth(2)).await;

    // From the start: the whole log, with id = seq and event = type.
    let mut s = SseStream::open(&srv.url, ALICE, Some(0)).await;
    let evs = s.take(3).await;
    assert_eq!(evs.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        evs.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["request.created", "request.decided", "request.created"]
    );
    for e in &evs {
        assert_eq!(e.data["seq"], e.id);
        assert_eq!(e.data["type"], e.event);
        assert!(e.data["at"].is_string());
        let parsed: assent::protocol::Event = serde_json::from_value(e.data.clone()).unwrap();
        assert_eq!(parsed.seq, e.id);
    }
    assert_eq!(evs[1].data["request"]["status"], "approved");

    // Live events follow without a gap or a repeat.
    let r3 = agent.file(&nth(3)).await;
    let ev = s.take(1).await;
    assert_eq!(ev[0].id, 4);
    assert_eq!(ev[0].data["request"]["id"], r3["id"]);

    // Resume with ?after= and with Last-Event-ID (the header wins over the query).
    let mut q = SseStream::open_with(&srv.url, ALICE, None, Some(2)).await;
    assert_eq!(
        q.take(2).await.iter().map(|e| e.id).collect::<Vec<_>>(),
        [3, 4]
    );
    let mut h = SseStream::open_with(&srv.url, ALICE, Some(3), Some(0)).await;
    assert_eq!(h.take(1).await[0].id, 4);

    // Without a resume point the stream starts now.
    let mut now = SseStream::open(&srv.url, BOB, None).await;
    assert!(now.next_within(Duration::from_millis(300)).await.is_none());
    agent.file(&nth(4)).await;
    assert_eq!(now.take(1).await[0].id, 5);

    // A resume point beyond the log is refused with an explanation.
    let (st, e) = alice.get_with("/v1/events", "Last-Event-ID", "999").await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(error_message(&e).contains("999"));
    let (st, _) = alice.get_with("/v1/events", "Last-Event-ID", "abc").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_a_stream_skip_or_repeat() {
    let srv = TestServer::start().await;
    let mut s = SseStream::open(&srv.url, ALICE, Some(0)).await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let agent = srv.http(if w % 2 == 0 { AGENT1 } else { AGENT2 });
        let alice = srv.http(ALICE);
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                let r = agent.file(&nth(w * 100 + i)).await;
                if i % 3 == 0 {
                    alice.decide(&r, "reject", "once").await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = 8 * 15 + 8 * 5;
    let evs = s.take(total).await;
    let ids: Vec<u64> = evs.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=total as u64).collect::<Vec<_>>());
    assert!(s.next_within(Duration::from_millis(200)).await.is_none());
    srv.shutdown().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_comments_flow_on_an_idle_stream() {
    use futures::StreamExt;
    let srv = TestServer::start_configured(|c| c.keepalive_seconds = 1).await;
    let resp = srv
        .http(ALICE)
        .request(reqwest::Method::GET, "/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = resp.bytes_stream();
    let chunk = tokio::time::timeout(Duration::from_secs(3), body.next())
        .await
        .expect("a keep-alive within 3 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.starts_with(':'), "not an SSE comment: {text:?}");
    srv.shutdown().await;
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_file_keeps_requests_grants_and_the_event_log() {
    let (_dir, db) = temp_db();

    let srv = TestServer::start_on(&db).await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let in_conversation = json!({"tool": "t", "agent": "bot", "conversation_id": "c"});
    let r1 = agent.file(&in_conversation).await;
    let (_, d1) = alice.decide(&r1, "approve", "conversation").await;
    let r2 = agent.file(&nth(2)).await;
    let mut s = SseStream::open(&srv.url, ALICE, Some(0)).await;
    // created, decided, grant.created, created
    let before = s.take(4).await;
    srv.shutdown().await;

    let srv = TestServer::start_on(&db).await;
    let alice = srv.http(ALICE);
    let (_, got) = alice.fetch(&r1).await;
    assert_eq!(got, d1);
    let (_, pending) = alice.get("/v1/requests").await;
    assert_eq!(pending["requests"][0], r2);
    assert_eq!(pending["seq"], 4);
    let (_, grants) = alice.get("/v1/grants").await;
    assert_eq!(grants["grants"][0]["id"], d1["decision"]["grant_id"]);
    // The grant still applies after the restart.
    let born = srv.http(AGENT1).file(&in_conversation).await;
    assert_eq!(born["status"], "approved");

    // A client that saw event 1 before the restart gets 2..4 from the log, then 5, the
    // first event of the new process, which continues the sequence.
    let mut resumed = SseStream::open(&srv.url, ALICE, Some(1)).await;
    let evs = resumed.take(4).await;
    assert_eq!(evs.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3, 4, 5]);
    for i in 0..3 {
        assert_eq!(evs[i].data, before[i + 1].data);
    }
    assert_eq!(evs[3].data["request"]["id"], born["id"]);
    srv.http(BOB).decide(&r2, "reject", "once").await;
    assert_eq!(resumed.take(1).await[0].id, 6);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_loses_nothing_acknowledged_on_kill_9_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "sqlite_synchronous = \"full\"", None).unwrap();
    let db = dir.path().join("data.db");
    let db = db.to_str().unwrap();

    let mut proc = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
    assert!(proc.url.starts_with("http://127.0.0.1:"));
    let agent = proc.http(AGENT1);
    let alice = proc.http(ALICE);
    let (st, _) = proc.http(ALICE).get("/healthz").await;
    assert_eq!(st, StatusCode::OK);
    let mut filed = Vec::new();
    for i in 0..10 {
        filed.push(agent.file(&nth(i)).await);
    }
    let (st, decided) = alice.decide(&filed[0], "approve", "always").await;
    assert_eq!(st, StatusCode::OK);
    let (_, last) = alice.get("/v1/requests?status=all").await;
    let seq = last["seq"].as_u64().unwrap();
    proc.kill();

    let mut proc = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
    let alice = proc.http(ALICE);
    let (_, all) = alice.get("/v1/requests?status=all").await;
    assert_eq!(all["seq"], seq);
    let all = all["requests"].as_array().unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0], decided);
    // The always grant approved the other nine in the same transaction.
    assert!(all.iter().all(|r| r["status"] == "approved"));
    let mut s = SseStream::open(&proc.url, ALICE, Some(seq - 2)).await;
    assert_eq!(
        s.take(2).await.iter().map(|e| e.id).collect::<Vec<_>>(),
        [seq - 1, seq]
    );

    let status = proc.terminate(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "serve exited with {status}");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_to_start_without_tokens_or_on_a_foreign_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "[server]\n").unwrap();
    let out = serve_to_end(&empty, &["--db", ":memory:", "--listen", ANY_PORT]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = out.stderr;
    assert!(
        err.contains("no tokens") && err.contains("[[server.tokens]]"),
        "{err}"
    );

    let cfg = write_config(dir.path(), "", None).unwrap();
    let foreign = dir.path().join("foreign.txt");
    std::fs::write(
        &foreign,
        "not a database at all, but long enough to look like one",
    )
    .unwrap();
    let foreign = foreign.to_str().unwrap();
    let out = serve_to_end(&cfg, &["--listen", ANY_PORT, "--db", foreign]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("foreign.txt"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_defaults_to_the_platform_data_dir_and_accepts_hashed_tokens() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("xdg-data");
    let digest = hex::encode(sha2::Sha256::digest(b"hashed-reviewer-token"));
    let cfg = write_config(dir.path(), "", None).unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[[server.tokens]]\nname = \"carol\"\nrole = \"reviewer\"\ntoken_sha256 = \"{digest}\"\n"
    ));
    std::fs::write(&cfg, text).unwrap();

    let envs = [
        ("XDG_DATA_HOME", data_home.to_str().unwrap()),
        ("HOME", dir.path().to_str().unwrap()),
    ];
    let mut proc = Serve::launch(dir.path(), &cfg, ANY_PORT, None, &envs).await;
    let (st, me) = proc.http("hashed-reviewer-token").get("/v1/whoami").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["name"], "carol");
    // The digest itself is not a token.
    let (st, _) = proc.http(&digest).get("/v1/whoami").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    proc.http(AGENT1).file(&nth(1)).await;
    assert!(data_home.join("assent").join("assent.db").exists());
    let status = proc.terminate(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "serve exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_says_when_its_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "", None).unwrap();
    let taken = std::net::TcpListener::bind(ANY_PORT).unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = serve_to_end(&cfg, &["--db", ":memory:", "--listen", &addr]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let err = out.stderr;
    assert!(err.contains(&addr) && err.contains("--listen"), "{err}");
}
