//! End-to-end test of the console with requests of about 1 MiB of params (issue 11, point
//! 3): the real `assent` binary in a pseudo-terminal against the real server on loopback.
//! The console lists and streams them without their params, fetches the one it shows in
//! full, and its approval carries the hash of the full params. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::Status;
use common::*;
use serde_json::json;

/// A call with about 1 MiB of params, a command line first.
fn large(command: &str) -> assent::protocol::NewRequest {
    call(
        "shell.run",
        "ops-bot",
        json!({"command": command, "blob": "x".repeat(1 << 20)}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_request_is_listed_without_its_params_fetched_when_shown_and_approved_on_them() {
    let server = TestServer::start_configured(|c| c.max_body_bytes = 4 << 20).await;
    let small = server
        .file(&call(
            "email.send",
            "support-bot",
            json!({"to": "jane@example.com"}),
        ))
        .await;
    let listed = server.file(&large("echo listed")).await;
    let mut c = Console::spawn(&server.url, ALICE, 140, 30, "");
    c.wait_for("live").await;
    // Listed: its row says so, and the detail of the small request is shown.
    let screen = c.wait_for("params: 1.0 MiB, not loaded").await;
    assert!(screen.contains("jane@example.com"), "{screen}");
    // Streamed: a filing while the console is live comes without its params too.
    let streamed = server.file(&large("echo streamed")).await;
    poll(common::pty::WAIT, || async {
        (c.screen().matches("params: 1.0 MiB, not loaded").count() == 2).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("two rows not loaded:\n{}", c.screen()));

    // Shown: fetched in full; the row then leads with its command.
    c.keys(&["j"]).await;
    let screen = c.wait_for("echo listed").await;
    assert!(
        screen.contains("params (1048"),
        "the detail shows them: {screen}"
    );
    c.keys(&["a"]).await;
    let done = server.settled(&listed.id).await;
    assert_eq!(done.status, Status::Approved);
    assert_eq!(
        done.decision.as_ref().map(|d| d.responder.as_str()),
        Some("alice")
    );
    // The server took the decision's hash as the full params' (a wrong one is refused),
    // and records it.
    let audit = server.api(ALICE).audit(None, 100).await.unwrap();
    let decided = audit
        .entries
        .iter()
        .find(|e| e.request_id.as_deref() == Some(listed.id.as_str()) && e.action == "decided")
        .expect("the decision's audit entry");
    assert_eq!(
        decided.args_hash.as_deref(),
        Some(listed.args_hash.as_str())
    );
    c.wait_for("approved (once)").await;
    assert_eq!(server.status_of(&small.id).await, Status::Pending);
    assert_eq!(server.status_of(&streamed.id).await, Status::Pending);
    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0));
    server.shutdown().await;
}
