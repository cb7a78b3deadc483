//! The store's life around the API (issue 11): one server per SQLite file, a database id
//! that tells a replaced database from the old one, list pages within a byte budget, and
//! the event log's retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::NewRequest;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// The `i`-th call of tool `t` by `bot`.
fn nth(i: usize) -> NewRequest {
    call("t", "bot", json!({"i": i}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "", None).unwrap();
    let db = dir.path().join("one.db");
    let db = db.to_str().unwrap();
    let mut first = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
    let filed = first.http(AGENT1).file(&nth(1)).await;

    let out = serve_to_end(&cfg, &["--listen", ANY_PORT, "--db", db]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "the second server listened: {out:?}");
    let err = out.stderr;
    for words in [
        db,
        "in use by another assent serve",
        &format!("pid {}", first.pid),
        "PostgreSQL",
    ] {
        assert!(err.contains(words), "{words:?} not in: {err}");
    }
    // The first one never noticed.
    let (st, got) = first.http(ALICE).fetch(&filed).await;
    assert_eq!((st, &got), (StatusCode::OK, &filed));

    // Throwaway stores share nothing, so any number of them may run.
    let a = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(":memory:"), &[]).await;
    let b = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(":memory:"), &[]).await;
    drop((a, b));

    // kill -9 releases the file: the next server starts on it and has the request.
    first.kill();
    let next = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
    let (st, got) = next.http(ALICE).fetch(&filed).await;
    assert_eq!((st, &got), (StatusCode::OK, &filed));
}

/// `GET /v1/events` as ALICE with `headers` and the query `query` (e.g. "?after=1").
async fn events(url: &str, headers: &[(&str, &str)], query: &str) -> reqwest::Response {
    let mut rb = Http::new(url, Some(ALICE))
        .client
        .get(format!("{url}/v1/events{query}"))
        .header("accept", "text/event-stream");
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    rb.send().await.expect("events request")
}

/// The first event of an open stream, as (id, data).
async fn first_event(resp: reqwest::Response) -> (String, serde_json::Value) {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let mut stream = Box::pin(resp.bytes_stream().eventsource());
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream open")
        .expect("well-formed SSE");
    (ev.id, serde_json::from_str(&ev.data).unwrap())
}

/// The error code of a refused stream.
async fn refused(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_has_one_id_for_life_that_lists_and_streams_carry() {
    let (_dir, db) = temp_db();
    let srv = TestServer::start_on(&db).await;
    let alice = srv.http(ALICE);
    srv.http(AGENT1).file(&nth(1)).await;
    let (_, list) = alice.get("/v1/requests").await;
    let id = list["database_id"]
        .as_str()
        .expect("a database_id")
        .to_owned();
    uuid::Uuid::parse_str(&id).expect("a UUID");
    let (_, grants) = alice.get("/v1/grants").await;
    assert_eq!(grants["database_id"], id);
    let resp = events(&srv.url, &[("last-event-id", "0")], "").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["assent-database-id"], id.as_str());
    let (seq, data) = first_event(resp).await;
    assert_eq!((seq.as_str(), &data["database_id"]), ("1", &json!(id)));
    srv.shutdown().await;

    // The same file keeps its id; a resume naming it, by header or query, is served.
    let srv = TestServer::start_on(&db).await;
    let (_, list) = srv.http(ALICE).get("/v1/requests").await;
    assert_eq!(list["database_id"], id);
    let named = [("last-event-id", "0"), ("assent-database-id", id.as_str())];
    assert_eq!(events(&srv.url, &named, "").await.status(), StatusCode::OK);
    let query = format!("?after=0&database_id={id}");
    assert_eq!(events(&srv.url, &[], &query).await.status(), StatusCode::OK);
    srv.shutdown().await;

    // Another database in its place, with as many events: its sequence numbers fit the
    // client's resume point, its id does not.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let srv = TestServer::start_on(&db).await;
    srv.http(AGENT1).file(&nth(2)).await;
    let (_, list) = srv.http(ALICE).get("/v1/requests").await;
    let other = list["database_id"].as_str().unwrap();
    assert_ne!(other, id);
    assert_eq!(list["seq"], 1);
    let old = [("last-event-id", "1"), ("assent-database-id", id.as_str())];
    let (st, code) = refused(events(&srv.url, &old, "").await).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::CONFLICT, "database_changed")
    );
    let query = format!("?database_id={id}");
    let resp = events(&srv.url, &[("last-event-id", "1")], &query).await;
    let (st, code) = refused(resp).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::CONFLICT, "database_changed")
    );
    srv.shutdown().await;
}
