//! The audit log's hash chain on the real server and the real CLI: `assent audit verify`
//! holds on a log the server wrote, and fails at the row edited behind the server's back;
//! `assent audit export` writes JSON lines that verify offline, and CSV.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// A server on a SQLite file with a few audited changes: filings, a rejection, an
/// approval that made a grant, and the grant revoked.
async fn busy_server(db: &Path) -> TestServer {
    let srv = TestServer::start_on(db).await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let a = agent
        .file(&call("db.delete", "ops", json!({"table": "t"})))
        .await;
    let b = agent
        .file(&call("email.send", "ops", json!({"to": "x@y"})))
        .await;
    let (s, _) = alice
        .decide_with(
            &a,
            &json!({"outcome": "reject", "args_hash": a["args_hash"], "reason": "no"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = alice.decide(&b, "approve", "always").await;
    assert_eq!(s, 200, "{b}");
    let gid = b["decision"]["grant_id"].as_str().unwrap().to_owned();
    let (s, _) = alice.delete(&format!("/v1/grants/{gid}")).await;
    assert_eq!(s, 200);
    srv
}

async fn cli(url: &str, args: &[&str]) -> Out {
    finish(assent(url, Some(ALICE), args), None, 30).await
}

#[tokio::test]
async fn verify_holds_then_fails_at_the_row_edited_behind_the_servers_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("assent.db");
    let srv = busy_server(&db).await;

    let (_, page) = srv.http(ALICE).get("/v1/audit?limit=100").await;
    let entries = page["entries"].as_array().unwrap().clone();
    assert!(entries.len() >= 6, "{page}");
    assert_eq!(
        entries[0]["prev_hash"],
        assent::protocol::audit_chain::GENESIS,
        "the first entry starts the chain"
    );
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "{pair:?}");
    }

    let out = cli(&srv.url, &["audit", "verify"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("audit chain intact"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("{} linked entries", entries.len())),
        "{}",
        out.stdout
    );

    // Someone with the database file rewrites the rejection's reason.
    let edited = entries
        .iter()
        .find(|e| e["action"] == "decided" && e["outcome"] == "rejected")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let changed = conn
        .execute(
            "UPDATE audit SET reason = 'approved, all fine' WHERE seq = ?1",
            [edited as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let out = cli(&srv.url, &["audit", "verify"]).await;
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(
        out.stdout.contains(&format!("BROKEN at seq {edited}")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("edited"), "{}", out.stdout);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain_at_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("assent.db");
    let srv = busy_server(&db).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    drop(conn);
    let out = cli(&srv.url, &["audit", "verify"]).await;
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(out.stdout.contains("BROKEN at seq 3"), "{}", out.stdout);
    assert!(out.stdout.contains("deleted"), "{}", out.stdout);
    srv.shutdown().await;
}

each_store! {
#[tokio::test]
async fn an_export_verifies_offline_and_an_edit_of_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let srv = busy_server(&dir.path().join("assent.db")).await;

    let out = cli(&srv.url, &["audit", "export", "--format", "jsonl"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 6);
    assert!(lines.iter().all(|l| l["hash"].is_string()));
    let file = dir.path().join("audit.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    srv.shutdown().await;

    // No server is needed to check an export.
    let offline = dead_url();
    let out = cli(
        &offline,
        &["audit", "verify", "--file", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("from the start of the chain"),
        "{}",
        out.stdout
    );

    let tampered = out_with(&lines, 3, "actor", "mallory");
    std::fs::write(&file, tampered).unwrap();
    let out = cli(
        &offline,
        &["audit", "verify", "--file", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(7), "{out:?}");
    let seq = lines[3]["seq"].as_u64().unwrap();
    assert!(
        out.stdout.contains(&format!("BROKEN at seq {seq}")),
        "{}",
        out.stdout
    );
}
}

/// The export `lines` as JSON lines with field `key` of entry `n` set to `value`.
fn out_with(lines: &[Value], n: usize, key: &str, value: &str) -> String {
    let mut lines = lines.to_vec();
    lines[n][key] = Value::String(value.into());
    lines.iter().map(|l| format!("{l}\n")).collect()
}

each_store! {
#[tokio::test]
async fn export_since_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let srv = busy_server(&dir.path().join("assent.db")).await;

    let out = cli(&srv.url, &["audit", "export", "--format", "csv"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut rows = out.stdout.lines();
    assert_eq!(
        rows.next().unwrap(),
        "seq,at,actor,action,request_id,tool,agent,outcome,scope,reason,args_hash,grant_id,\
         policy,via,prev_hash,hash,approved_args_hash"
    );
    assert!(
        rows.any(|r| r.contains(",grant_revoked,")),
        "{}",
        out.stdout
    );

    // Nothing is newer than a minute from now; everything is newer than an hour ago.
    let future = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let out = cli(&srv.url, &["audit", "export", "--since", &future]).await;
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{out:?}");
    let out = cli(&srv.url, &["audit", "export", "--since", "1h"]).await;
    assert!(out.stdout.lines().count() >= 6, "{out:?}");
    let out = cli(&srv.url, &["audit", "export", "--since", "soonish"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    srv.shutdown().await;
}
}
