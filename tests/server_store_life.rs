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
