//! The store's life around the API (issue 11): one server per SQLite file, a database id
//! that tells a replaced database from the old one, list pages within a byte budget, and
//! the event log's retention.
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

/// A call whose params are `{"blob": "xx…"}`, `bytes` long as JSON.
fn sized(i: usize, bytes: usize) -> NewRequest {
    let params = json!({"blob": "x".repeat(bytes - r#"{"blob":""}"#.len())});
    assert_eq!(serde_json::to_string(&params).unwrap().len(), bytes);
    NewRequest {
        tool_call_id: Some(format!("call-{i}")),
        ..call("t", "bot", params)
    }
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_ends_within_its_byte_budget_and_may_leave_big_params_out() {
    const BUDGET: usize = 64 * 1024;
    let srv = TestServer::start_configured(|c| {
        c.list_page_bytes = BUDGET;
        c.max_body_bytes = 256 * 1024;
    })
    .await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    // Ten of 20 KiB, one larger than a whole page, one small.
    let mut filed = Vec::new();
    for i in 0..10 {
        filed.push(agent.file(&sized(i, 20 * 1024)).await);
    }
    filed.push(agent.file(&sized(10, 100 * 1024)).await);
    filed.push(agent.file(&sized(11, 100)).await);

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..filed.len() {
        let path = match &cursor {
            None => "/v1/requests?limit=1000".to_owned(),
            Some(c) => format!("/v1/requests?limit=1000&cursor={c}"),
        };
        let (st, page) = alice.get(&path).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let requests = page["requests"].as_array().unwrap().clone();
        let params: usize = requests
            .iter()
            .map(|r| serde_json::to_string(&r["params"]).unwrap().len())
            .sum();
        assert!(
            requests.len() == 1 || params <= BUDGET,
            "{} requests with {params} bytes of params on one page",
            requests.len()
        );
        pages.push(requests.len());
        seen.extend(requests);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, filed, "every request once, in order, whole");
    assert!(pages.len() >= 4, "pages of {pages:?}");
    // The request larger than a page has one to itself.
    assert!(pages.contains(&1), "pages of {pages:?}");

    // Params over params_max_bytes are left out, with their size; what is left out costs
    // the budget nothing, so the whole queue fits one page.
    let (st, page) = alice
        .get("/v1/requests?limit=1000&params_max_bytes=1000")
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    let listed = page["requests"].as_array().unwrap();
    assert_eq!(listed.len(), filed.len());
    for (got, full) in listed.iter().zip(&filed) {
        let size = serde_json::to_string(&full["params"]).unwrap().len();
        if size > 1000 {
            assert_eq!(got["params"], serde_json::Value::Null);
            assert_eq!(got["params_truncated"], true);
            assert_eq!(got["params_size"], size);
            assert_eq!(got["args_hash"], full["args_hash"]);
        } else {
            assert_eq!(got, full, "small params are listed whole");
            assert!(got.get("params_truncated").is_none());
        }
    }
    // One request is always whole.
    let (_, one) = alice.fetch(&filed[10]).await;
    assert_eq!(one, filed[10]);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_past_their_retention_are_compacted_and_a_resume_before_them_is_refused() {
    let srv = TestServer::start_configured(|c| {
        c.event_retention = Some(Duration::from_secs(2));
    })
    .await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let r1 = agent.file(&nth(1)).await;
    alice.decide(&r1, "approve", "once").await;
    assert_eq!(
        events(&srv.url, &[("last-event-id", "0")], "")
            .await
            .status(),
        StatusCode::OK
    );

    // Once events 1 and 2 are gone, resuming after 0 or 1 would miss them: 409, list again.
    eventually(
        "events 1 and 2 compacted",
        Duration::from_secs(15),
        || async {
            let resp = events(&srv.url, &[("last-event-id", "1")], "").await;
            (resp.status() == StatusCode::CONFLICT).then_some(())
        },
    )
    .await;
    for query in ["?after=0", "?after=1"] {
        let (st, code) = refused(events(&srv.url, &[], query).await).await;
        assert_eq!(
            (st, code.as_str()),
            (StatusCode::CONFLICT, "conflict"),
            "{query}"
        );
    }
    // The requests, the sequence and the audit log stay.
    let (_, all) = alice.get("/v1/requests?status=all").await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 1);
    assert_eq!(all["seq"], 2);
    let (_, audit) = alice.get("/v1/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    // From the list's seq the stream goes on.
    let mut s = SseStream::open(&srv.url, ALICE, Some(2)).await;
    agent.file(&nth(2)).await;
    assert_eq!(s.take(1).await[0].id, 3);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_kept_unless_told_otherwise() {
    let srv = TestServer::start_configured(|c| {
        c.audit_retention = Some(Duration::from_secs(1));
    })
    .await;
    let alice = srv.http(ALICE);
    srv.http(AGENT1).file(&nth(1)).await;
    eventually(
        "the audit entry compacted",
        Duration::from_secs(15),
        || async {
            let (_, audit) = alice.get("/v1/audit").await;
            audit["entries"]
                .as_array()
                .unwrap()
                .is_empty()
                .then_some(())
        },
    )
    .await;
    // The event log has its own retention (30 days by default).
    let mut s = SseStream::open(&srv.url, ALICE, Some(0)).await;
    assert_eq!(s.take(1).await[0].id, 1);
    srv.shutdown().await;
}
}

/// (events kept, the oldest kept, the newest kept, the recorded start of the log) of the
/// database at `db`, read while no server holds it.
fn event_log(db: &str) -> (i64, i64, i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0), \
         (SELECT events_compacted_through FROM meta) FROM events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_compaction_loses_no_event_newer_than_the_cutoff() {
    const EVENTS: i64 = 1500;
    const OLD: i64 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let keep_all = write_config(dir.path(), "event_retention = \"none\"", None).unwrap();
    let db = dir.path().join("log.db");
    let db = db.to_str().unwrap();
    let mut srv = Serve::launch(dir.path(), &keep_all, ANY_PORT, Some(db), &[]).await;
    let agent = srv.http(AGENT1);
    // 32 at a time: the test is about compaction, and 1,500 connections opened at once
    // on a loaded machine can outlast the server's header-read timeout before they send.
    use futures::StreamExt;
    let filings = futures::stream::iter(0..EVENTS as usize).map(|i| {
        let agent = agent.clone();
        async move { agent.file(&sized(i, 20 * 1024)).await }
    });
    filings.buffer_unordered(32).collect::<Vec<_>>().await;
    srv.kill();
    // The first 1,000 events become two days old.
    let two_days_ago = chrono::Utc::now().timestamp_millis() - 2 * 24 * 3600 * 1000;
    rusqlite::Connection::open(db)
        .unwrap()
        .execute(
            "UPDATE events SET at = ?1 WHERE seq <= ?2",
            [two_days_ago, OLD],
        )
        .unwrap();

    // A server that keeps a day starts compacting at once; kill it at moments along
    // the way. Whenever it dies, the log is a contiguous tail, its start is recorded,
    // and every event newer than the cutoff is there.
    let keep_a_day = dir.path().join("day");
    std::fs::create_dir(&keep_a_day).unwrap();
    let keep_a_day = write_config(&keep_a_day, "event_retention = \"1day\"", None).unwrap();
    for delay_ms in (0..=60).step_by(6).chain([100]) {
        let mut srv = Serve::launch(dir.path(), &keep_a_day, ANY_PORT, Some(db), &[]).await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        srv.kill();
        let (kept, oldest, newest, start) = event_log(db);
        assert_eq!(newest, EVENTS, "after {delay_ms} ms");
        assert!(
            start <= OLD,
            "{start} deleted past the cutoff after {delay_ms} ms"
        );
        assert_eq!(
            oldest,
            start + 1,
            "not a contiguous tail after {delay_ms} ms"
        );
        assert_eq!(kept, EVENTS - start, "after {delay_ms} ms");
    }
    // Left alone, it finishes: the log starts after the last old event.
    let srv = Serve::launch(dir.path(), &keep_a_day, ANY_PORT, Some(db), &[]).await;
    eventually("compaction done", Duration::from_secs(30), || async {
        let resp = events(&srv.url, &[("last-event-id", &(OLD - 1).to_string())], "").await;
        (resp.status() == StatusCode::CONFLICT).then_some(())
    })
    .await;
    let mut s = SseStream::open(&srv.url, ALICE, Some(OLD as u64)).await;
    assert_eq!(s.take(1).await[0].id, OLD as u64 + 1);
}
