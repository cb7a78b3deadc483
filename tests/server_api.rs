//! The approval API over real HTTP: filing, reading, listing, deciding, cancelling,
//! roles and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn refund(agent: &str) -> Value {
    json!({
        "tool": "order_tools.process_refund",
        "agent": agent,
        "params": {"order_id": "A-1001", "amount": 250},
        "reason": "damaged item",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_get_list_decide_round_trip() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);

    let req = agent.file(&refund("order-manager")).await;
    assert_eq!(req["status"], "pending");
    assert_eq!(req["filed_by"], "agent1");
    assert_eq!(
        req["args_hash"],
        assent::protocol::args_hash(&json!({"amount": 250, "order_id": "A-1001"}))
    );
    let id = req["id"].as_str().unwrap();

    let (st, got) = agent.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, req);

    let (st, list) = alice.get("/v1/requests?status=pending").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["requests"].as_array().unwrap().len(), 1);
    assert_eq!(list["seq"], 1);

    let (st, decided) = alice.decide(&req, "approve", "once").await;
    assert_eq!(st, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decision"]["responder"], "alice");
    assert_eq!(decided["decision"]["outcome"], "approved");

    let (_, list) = alice.get("/v1/requests?status=pending").await;
    assert!(list["requests"].as_array().unwrap().is_empty());
    srv.shutdown().await;
}
