//! End-to-end test of the two-person rule in the console (issue 15): the real `assent`
//! binary in a pseudo-terminal, two reviewers, the real server on loopback. The first
//! approval shows `1/2` and leaves the row waiting on someone else, with no decision keys
//! for the reviewer who gave it; the second reviewer's approval decides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use assent::protocol::Status;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_reviewer_sees_one_of_two_and_the_second_decides() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "", Some(TWO_PERSON_POLICY)).unwrap();
    let server = TestServer::start_from_file(&cfg).await;
    let req = server
        .http(AGENT1)
        .file(&json!({
            "tool": "order_tools.process_refund",
            "agent": "order-manager",
            "params": {"order_id": "A-77", "amount": 900},
        }))
        .await;
    let id = req["id"].as_str().unwrap().to_owned();

    let mut alice = Console::spawn(&server.url, ALICE, 120, 30, "");
    alice.wait_for("assent live").await;
    alice.wait_for("0/2 ").await;
    alice.keys(&["a"]).await;
    let screen = alice
        .wait_for("1/2 you approved; waiting on 1 more reviewer")
        .await;
    assert!(screen.contains("waiting on another reviewer"), "{screen}");
    assert_eq!(server.status_of(&id).await, Status::Pending);
    // Any decision key again: refused on screen, nothing sent.
    alice.keys(&["a"]).await;
    alice.wait_for("You approved this already").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, now) = server.http(ALICE).fetch(&req).await;
    assert_eq!(now["status"], "pending", "{now}");
    assert_eq!(now["approvals"].as_array().unwrap().len(), 1, "{now}");

    // Bob's console shows who approved, and his approval decides.
    let mut bob = Console::spawn(&server.url, BOB, 120, 30, "");
    bob.wait_for("assent live").await;
    bob.wait_for("1/2 ").await;
    bob.keys(&["\r"]).await;
    let detail = bob.wait_for("approvals").await;
    assert!(detail.contains("alice"), "{detail}");
    bob.keys(&["a"]).await;
    assert_eq!(server.settled(&id).await.status, Status::Approved);
    // Alice's row leaves her queue with the decision's event.
    alice.wait_for("Pending 0").await;
    let (_, done) = server.http(ALICE).fetch(&req).await;
    assert_eq!(done["decision"]["responder"], "bob", "{done}");
    server.shutdown().await;
}
