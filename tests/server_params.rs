//! What a filing's params may be, checked on the text the agent sent: how deep they nest,
//! whether a key repeats, whether a number survives to the value a reviewer is shown; and
//! that one row a client cannot read does not hide the rest of the list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{Status, args_hash};
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// A filing body whose params are `params`, as text.
fn body(params: &str) -> Vec<u8> {
    format!(r#"{{"tool":"shell.exec","agent":"a","params":{params}}}"#).into_bytes()
}

/// Params nested `depth` containers deep, objects and arrays in turn, around `1`.
fn nested(depth: usize) -> String {
    let mut s = String::new();
    for level in 0..depth {
        s.push_str(if level % 2 == 0 { r#"{"k":"# } else { "[" });
    }
    s.push('1');
    for level in (0..depth).rev() {
        s.push(if level % 2 == 0 { '}' } else { ']' });
    }
    s
}

/// Files `params` (text) as agent1: the status and the answer.
async fn file(srv: &TestServer, params: &str) -> (StatusCode, Value) {
    srv.http(AGENT1)
        .post_raw("/v1/requests", body(params))
        .await
}

/// Asserts a 422 with `code` whose message names `path`.
fn assert_refused(answer: &(StatusCode, Value), code: &str, path: &str) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = error_message(body);
    assert!(message.contains(path), "{path} not named in: {message}");
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_deeper_than_64_are_refused() {
    let srv = TestServer::start().await;
    let (status, filed) = file(&srv, &nested(64)).await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    assert_eq!(assent::store::rules::MAX_PARAMS_DEPTH, 64);

    let answer = file(&srv, &nested(65)).await;
    assert_refused(&answer, "params_too_deep", "params.k[0].k[0]");
    assert!(error_message(&answer.1).contains("64"), "{}", answer.1);
    // The depth the outside tester filed: accepted before, and then unreadable in lists.
    assert_refused(&file(&srv, &nested(126)).await, "params_too_deep", "params");
    // Past serde_json's own limit (128): still this answer, not a parser's message.
    assert_refused(&file(&srv, &nested(200)).await, "params_too_deep", "params");
    assert_refused(
        &file(&srv, &"[".repeat(10_000)).await,
        "params_too_deep",
        "params",
    );
    let (status, _) = srv.http(AGENT1).get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_that_would_not_survive_are_refused() {
    let srv = TestServer::start().await;
    for (params, path) in [
        (r#"{"n":9007199254740993}"#, "params.n"),
        (r#"{"n":-9007199254740993}"#, "params.n"),
        (r#"{"a":[1,{"n":9007199254740993.0}]}"#, "params.a[1].n"),
        (r#"{"tiny":1e-400}"#, "params.tiny"),
        (
            r#"{"cents":123456789012345678901234567890}"#,
            "params.cents",
        ),
        ("1.00000000000000000000001", "params"),
    ] {
        assert_refused(&file(&srv, params).await, "inexact_number", path);
    }
    let answer = file(&srv, r#"{"n":9007199254740993.0}"#).await;
    assert!(
        error_message(&answer.1).contains("9007199254740992"),
        "the message shows what a reviewer would see: {}",
        answer.1
    );
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_are_refused_at_any_depth() {
    let srv = TestServer::start().await;
    assert_refused(
        &file(&srv, r#"{"cmd":"echo hi","cmd":"rm -rf /"}"#).await,
        "duplicate_key",
        "params.cmd",
    );
    // The same key spelled with an escape is the same key.
    assert_refused(
        &file(&srv, r#"{"a":{"b":[0,{"x":1,"\u0078":2}]}}"#).await,
        "duplicate_key",
        "params.a.b[1].x",
    );
    let answer = file(&srv, r#"{"odd key\n":{"":1,"":2}}"#).await;
    assert_refused(&answer, "duplicate_key", r#"params["odd key\n"][""]"#);
    // The same key in two objects is two keys.
    let (status, filed) = file(&srv, r#"{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_params_still_file_and_hash_as_before() {
    let srv = TestServer::start().await;
    for params in [
        r#"{"s":"text","nested":{"a":[1,2,{"b":null}],"t":true}}"#,
        r#"{"f":1.5,"g":0.1,"h":1.50,"e":1E2,"z":-0.0,"i":-0}"#,
        r#"{"max":9007199254740992,"min":-9007199254740992,"big":1e300,"small":5e-324}"#,
        r#"[0.30000000000000004, 123456789.125, -1.7976931348623157e308]"#,
        r#""just a string""#,
        "null",
        "{}",
    ] {
        let (status, filed) = file(&srv, params).await;
        assert_eq!(status, StatusCode::CREATED, "{params}: {filed}");
        let sent: Value = serde_json::from_str(params).unwrap();
        assert_eq!(filed["params"], sent, "{params}");
        assert_eq!(filed["args_hash"], args_hash(&sent), "{params}");
    }
    // A hash pinned before this check existed: the same params hash the same.
    let (_, filed) = file(&srv, r#"{"amount":250,"order_id":"A-1001"}"#).await;
    assert_eq!(
        filed["args_hash"],
        args_hash(&serde_json::json!({"order_id": "A-1001", "amount": 250}))
    );
    srv.shutdown().await;
}
}

/// Params `depth` containers deep, as an old server would have stored them.
fn stored_deep(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_client_cannot_read_does_not_hide_the_list() {
    let (_dir, db) = temp_db();
    let srv = TestServer::start_on(&db).await;
    let agent = srv.http(AGENT1);
    let first = agent
        .file(&call("t.first", "a", serde_json::json!({})))
        .await;
    let deep = agent
        .file(&call("t.deep", "a", serde_json::json!({})))
        .await;
    let unreadable = agent
        .file(&call("t.unreadable", "a", serde_json::json!({})))
        .await;
    let last = agent
        .file(&call("t.last", "a", serde_json::json!({})))
        .await;
    srv.shutdown().await;

    // Rows a server before the depth check accepted (126 deep: the filing body is one
    // level more, 127, inside serde_json's limit), and one deeper still (127: the server
    // reads it, but a list row wraps it past the limit).
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (req, depth) in [(&deep, 126), (&unreadable, 127)] {
        conn.execute(
            "UPDATE requests SET params = ?1 WHERE id = ?2",
            (stored_deep(depth), req["id"].as_str().unwrap()),
        )
        .unwrap();
    }
    drop(conn);

    let srv = TestServer::start_on(&db).await;
    let page = srv
        .api(ALICE)
        .list(Some(Status::Pending), None, None)
        .await
        .unwrap();
    let tools: Vec<&str> = page.requests.iter().map(|r| r.tool.as_str()).collect();
    assert_eq!(tools, ["t.first", "t.deep", "t.last"]);
    assert_eq!(page.unreadable.len(), 1, "{:?}", page.unreadable);
    assert_eq!(page.unreadable[0].id.as_deref(), unreadable["id"].as_str());

    let out = finish(
        assent(&srv.url, Some(ALICE), &["list", "--full-ids"]),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for req in [&first, &deep, &last] {
        assert!(
            out.stdout.contains(req["id"].as_str().unwrap()),
            "{}",
            out.stdout
        );
    }
    let marker = out
        .stdout
        .lines()
        .find(|l| l.contains(unreadable["id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no line for the unreadable row:\n{}", out.stdout));
    assert!(marker.contains("could not be read"), "{marker}");

    let out = finish(assent(&srv.url, Some(ALICE), &["list", "--json"]), None, 30).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    // Counted, not parsed: the 126-deep row is past this parser's limit inside an array.
    let listed: Vec<&serde_json::value::RawValue> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        out.stderr.contains(unreadable["id"].as_str().unwrap()),
        "{}",
        out.stderr
    );
    srv.shutdown().await;
}
