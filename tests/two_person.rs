//! The two-person rule (issue 15): a rule's `approvals = 2` holds a request until two
//! different reviewers approve it, on both stores: the filer never counts, a repeat is a
//! 409, a race for the last approval decides once, and a grant needs both approvers'
//! scope (and never covers a two-person call when one person made it). The real server
//! on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn server() -> (tempfile::TempDir, TestServer) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "", Some(TWO_PERSON_POLICY)).unwrap();
    let s = TestServer::start_from_file(&cfg).await;
    (tmp, s)
}

fn refund_of(amount: u64, conversation: &str) -> Value {
    json!({
        "tool": "order_tools.process_refund",
        "agent": "order-manager",
        "params": {"order_id": format!("A-{amount}"), "amount": amount},
        "conversation_id": conversation,
    })
}

/// The kinds of every event in the log about request `id`, read until the stream goes
/// quiet.
async fn kinds_for(s: &TestServer, id: &Value) -> Vec<String> {
    let mut sse = SseStream::open(&s.url, ALICE, Some(0)).await;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(ev) = sse.next_within(Duration::from_millis(400)).await else {
            break;
        };
        if &ev.data["request"]["id"] == id {
            out.push(ev.event);
        }
    }
    out
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_approve_and_the_second_decides() {
    let (_tmp, s) = server().await;
    let req = s.http(AGENT1).file(&refund_of(500, "c1")).await;
    assert_eq!(req["approvals_required"], 2, "{req}");
    assert!(req.get("approvals").is_none(), "{req}");
    // A small refund is the default's: one approval, and the field left out.
    let small = s.http(AGENT1).file(&refund_of(5, "c1")).await;
    assert!(small.get("approvals_required").is_none(), "{small}");

    let (st, first) = s.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["status"], "pending", "{first}");
    assert!(first["decision"].is_null(), "{first}");
    assert_eq!(first["approvals"][0]["responder"], "alice");
    assert_eq!(first["approvals"][0]["scope"], "once");
    // The agent's long poll is not answered by one approval.
    let (_, waited) = s.http(AGENT1).wait(&req, 1).await;
    assert_eq!(waited["status"], "pending", "{waited}");

    // Alice again, with any scope: 409, with the request as it stands.
    let (st, again) = s.http(ALICE).decide(&req, "approve", "always").await;
    assert_eq!(st, 409, "{again}");
    assert!(error_message(&again).contains("approved it already"), "{again}");
    assert_eq!(again["error"]["code"], "already_approved", "{again}");
    assert_eq!(again["request"]["approvals"].as_array().unwrap().len(), 1, "{again}");

    let (st, second) = s.http(BOB).decide(&req, "approve", "once").await;
    assert_eq!(st, 200, "{second}");
    assert_eq!(second["status"], "approved", "{second}");
    assert_eq!(second["decision"]["responder"], "bob");
    assert_eq!(second["decision"]["via"], json!({"kind": "person"}));
    let who: Vec<&str> = second["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responder"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["alice", "bob"]);
    let (_, waited) = s.http(AGENT1).wait(&req, 1).await;
    assert_eq!(waited["status"], "approved", "{waited}");

    assert_eq!(
        kinds_for(&s, &req["id"]).await,
        ["request.created", "request.approval_added", "request.decided"]
    );
    let added = s.http(ALICE).audited("approval_added").await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0]["actor"], "alice");
    assert_eq!(added[0]["via"], json!({"kind": "person"}));
    let decided = s.http(ALICE).audited("decided").await;
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["actor"], "bob");
    let (_, chain) = s.http(ALICE).get("/v1/audit?limit=1000").await;
    assert!(chain["entries"].as_array().unwrap().len() >= 4, "{chain}");
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_that_filed_it_never_counts() {
    let (_tmp, s) = server().await;
    // An admin files a call and tries to approve it itself.
    let req = s.http(ROOT).file(&refund_of(900, "c1")).await;
    let (st, refused) = s.http(ROOT).decide(&req, "approve", "once").await;
    assert_eq!(st, 403, "{refused}");
    assert!(error_message(&refused).contains("filed"), "{refused}");
    let (_, now) = s.http(ALICE).fetch(&req).await;
    assert_eq!(now["status"], "pending");
    assert!(now.get("approvals").is_none(), "{now}");
    // Two others make it.
    let (st, _) = s.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, 200);
    let (st, done) = s.http(BOB).decide(&req, "approve", "once").await;
    assert_eq!(st, 200);
    assert_eq!(done["status"], "approved", "{done}");
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rejection_ends_it() {
    let (_tmp, s) = server().await;
    let req = s.http(AGENT1).file(&refund_of(300, "c1")).await;
    let (st, _) = s.http(ALICE).decide(&req, "approve", "once").await;
    assert_eq!(st, 200);
    let hash = req["args_hash"].as_str().unwrap();
    let body = json!({"outcome": "reject", "args_hash": hash, "reason": "not this one"});
    let (st, done) = s.http(BOB).decide_with(&req, &body).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["status"], "rejected");
    assert_eq!(done["decision"]["responder"], "bob");
    // Over: a late approval is a 409 like any decision on a decided request.
    let (st, _) = s.http(ROOT).decide(&req, "approve", "once").await;
    assert_eq!(st, 409);
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_racing_the_last_approval_decide_it_once() {
    let (_tmp, s) = server().await;
    for round in 0..8u64 {
        let req = s.http(AGENT1).file(&refund_of(1000 + round, "c1")).await;
        let (st, _) = s.http(ALICE).decide(&req, "approve", "once").await;
        assert_eq!(st, 200);
        let (bob, root) = (s.http(BOB), s.http(ROOT));
        let ((a, x), (b, y)) = tokio::join!(
            bob.decide(&req, "approve", "once"),
            root.decide(&req, "approve", "once")
        );
        let mut codes = [a.as_u16(), b.as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [200, 409], "round {round}: {x} / {y}");
        let kinds = kinds_for(&s, &req["id"]).await;
        let decided = kinds.iter().filter(|k| *k == "request.decided").count();
        assert_eq!(decided, 1, "round {round}: {kinds:?}");
        let (_, now) = s.http(ALICE).fetch(&req).await;
        assert_eq!(now["status"], "approved");
        assert_eq!(now["approvals"].as_array().unwrap().len(), 2, "{now}");
    }
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_needs_both_approvers_scope_and_one_persons_grant_covers_no_two_person_call() {
    let (_tmp, s) = server().await;
    // Mixed scopes: approved once, no grant.
    let mixed = s.http(AGENT1).file(&refund_of(200, "c1")).await;
    s.http(ALICE).decide(&mixed, "approve", "always").await;
    let (_, done) = s.http(BOB).decide(&mixed, "approve", "once").await;
    assert_eq!(done["status"], "approved");
    assert_eq!(done["decision"]["scope"], "once", "{done}");
    assert!(done["decision"]["grant_id"].is_null(), "{done}");
    let (_, grants) = s.http(ALICE).get("/v1/grants").await;
    assert_eq!(grants["grants"].as_array().unwrap().len(), 0, "{grants}");

    // One person's grant, from a small refund: it covers small refunds, not big ones.
    let small = s.http(AGENT1).file(&refund_of(10, "c1")).await;
    let (_, made) = s.http(ALICE).decide(&small, "approve", "always").await;
    assert!(made["decision"]["grant_id"].is_string(), "{made}");
    let next_small = s.http(AGENT1).file(&refund_of(11, "c1")).await;
    assert_eq!(next_small["status"], "approved", "{next_small}");
    let big = s.http(AGENT1).file(&refund_of(400, "c1")).await;
    assert_eq!(big["status"], "pending", "{big}");

    // Both choose always: a grant both made, which covers the next big refund.
    s.http(ALICE).decide(&big, "approve", "always").await;
    let hash = big["args_hash"].as_str().unwrap();
    let body = json!({"outcome": "approve", "scope": "always", "args_hash": hash,
                      "grant_ttl_seconds": 600});
    let (st, both) = s.http(BOB).decide_with(&big, &body).await;
    assert_eq!(st, 200, "{both}");
    assert_eq!(both["decision"]["scope"], "always", "{both}");
    let gid = both["decision"]["grant_id"].as_str().unwrap().to_owned();
    let (_, grants) = s.http(ALICE).get("/v1/grants").await;
    let g = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == gid.as_str())
        .unwrap()
        .clone();
    assert_eq!(g["approvers"], json!(["alice", "bob"]), "{g}");
    assert_eq!(g["created_by"], "bob");
    assert!(g["expires_at"].is_string(), "{g}");
    let covered = s.http(AGENT1).file(&refund_of(401, "c1")).await;
    assert_eq!(covered["status"], "approved", "{covered}");
    assert_eq!(covered["decision"]["grant_id"], gid.as_str());
    assert_eq!(covered["decision"]["via"]["granted_by"], "alice, bob", "{covered}");
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_refused_where_two_must_approve() {
    let (_tmp, s) = server().await;
    let req = s.http(AGENT1).file(&refund_of(700, "c1")).await;
    let hash = req["args_hash"].as_str().unwrap();
    let body = json!({"outcome": "approve", "args_hash": hash,
                      "params": {"order_id": "A-700", "amount": 70}});
    let (st, refused) = s.http(ALICE).decide_with(&req, &body).await;
    assert_eq!(st, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_edit", "{refused}");
}
}

#[test]
fn a_rule_that_decides_by_itself_cannot_ask_for_approvals() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = TWO_PERSON_POLICY.replace(
        "action = \"require_approval\"\napprovals",
        "action = \"allow\"\napprovals",
    );
    assert!(bad.contains("\"allow\""));
    let cfg = write_config(tmp.path(), "", Some(&bad)).unwrap();
    let err = assent::config::Config::load(Some(&cfg)).unwrap_err();
    assert!(format!("{err:#}").contains("approvals"), "{err:#}");
    let zero = TWO_PERSON_POLICY.replace("approvals = 2", "approvals = 0");
    let cfg = write_config(tmp.path(), "", Some(&zero)).unwrap();
    assert!(assent::config::Config::load(Some(&cfg)).is_err());
}

/// `assent ARGS` as `token`, run to its end, tables at 160 columns.
async fn cli(s: &TestServer, token: &str, args: &[&str]) -> Out {
    let mut cmd = assent(&s.url, Some(token), args);
    cmd.env("COLUMNS", "160");
    finish(cmd, None, 30).await
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_list_approve_and_audit_say_how_many_of_how_many_and_who() {
    let (_tmp, s) = server().await;
    let req = s.http(AGENT1).file(&refund_of(250, "c1")).await;
    let id = req["id"].as_str().unwrap();
    let out = cli(&s, ALICE, &["approve", id]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("1/2 approvals: waiting on 1 more from another reviewer"),
        "{}",
        out.stdout
    );
    let out = cli(&s, ALICE, &["show", id]).await;
    assert!(out.stdout.contains("approvals     1 of 2 different reviewers; waiting on 1 more"), "{}", out.stdout);
    assert!(out.stdout.contains("alice at "), "{}", out.stdout);
    let out = cli(&s, ALICE, &["list"]).await;
    assert!(out.stdout.contains("1/2 alice"), "{}", out.stdout);
    // Again: refused, and the CLI says why.
    let out = cli(&s, ALICE, &["approve", id]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("approved it already"), "{out:?}");
    let out = cli(&s, BOB, &["approve", id]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("approved "), "{}", out.stdout);
    let out = cli(&s, ALICE, &["audit"]).await;
    assert!(out.stdout.contains("approval_added"), "{}", out.stdout);
}
}
