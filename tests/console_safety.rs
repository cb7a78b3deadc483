//! End-to-end tests of the console's decision-safety contract (issue 10): a reviewer never
//! approves something other than what was on screen. The real `assent` binary in a
//! pseudo-terminal against the real server on loopback; each test presses keys (or
//! pastes, or shrinks the terminal, or takes the backend away), then checks both the
//! screen and what the server recorded. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use assent::protocol::{Risk, Scope, Status};
use common::pty::WAIT;
use common::*;
use serde_json::json;

/// Long enough for a key the console read to have sent a decision, had it sent one.
const SETTLE: Duration = Duration::from_millis(600);

/// Types `text` one key at a time, as a reviewer typing blind would.
async fn type_blind(c: &mut Console, text: &str) {
    let keys: Vec<String> = text.chars().map(String::from).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    c.keys(&keys).await;
}

/// How many requests the server holds with `status`.
async fn count(server: &impl Backend, status: Status) -> usize {
    server
        .all()
        .await
        .iter()
        .filter(|r| r.status == status)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_refusal_only_the_same_key_decides_the_request_that_slid_under_the_cursor() {
    let server = TestServer::start().await;
    let first = server.file(&new_request("first.tool", "agent1")).await;
    let second = server.file(&new_request("second.tool", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 110, 30, "");
    c.wait_for("second.tool").await;
    c.wait_for("assent live").await;
    // The reviewer approves the first; the second slides under the cursor.
    c.keys(&["a"]).await;
    assert_eq!(server.settled(&first.id).await.status, Status::Approved);
    c.wait_for("Pending 1").await;
    // `r` meant for the first is refused, naming the request now there and the key.
    c.keys(&["r"]).await;
    let refused = c.wait_for("second.tool from agent1").await;
    // The reason typed blind: its `a`s must not approve the second.
    type_blind(&mut c, "bad args").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&second.id).await, Status::Pending);
    let said = "The request under the cursor changed: now second.tool from agent1. Read it, \
                then press r again.";
    assert!(refused.contains(said), "{refused}");
    // Only the refused key went through: the `r` of "args" opened the reject prompt.
    let screen = c.wait_for("reason: gs").await;
    assert!(screen.contains("second.tool"), "{screen}");
    c.keys_then(&["\x1b"], "nothing was sent").await;
    assert_eq!(server.status_of(&second.id).await, Status::Pending);
    assert_eq!(count(&server, Status::Approved).await, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_ends_under_the_cursor_never_lets_a_blind_reason_approve_the_next() {
    let server = TestServer::start().await;
    let first = server.file(&new_request("leaving.tool", "agent1")).await;
    let second = server.file(&new_request("staying.tool", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 110, 30, "");
    c.wait_for("staying.tool").await;
    c.wait_for("assent live").await;
    // The agent cancels the request under the cursor; it lingers, then leaves.
    server.api(AGENT1).cancel(&first.id).await.unwrap();
    c.wait_for("cancelled").await;
    eventually("the ended row to leave", WAIT, || async {
        (!c.screen().contains("leaving.tool")).then_some(())
    })
    .await;
    c.keys(&["r"]).await;
    let refused = c.wait_for("staying.tool from agent1").await;
    type_blind(&mut c, "bad a").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&second.id).await, Status::Pending);
    assert_eq!(count(&server, Status::Approved).await, 0);
    let said = "now staying.tool from agent1. Read it, then press r again.";
    assert!(refused.contains(said), "{refused}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_above_the_cursor_does_not_trip_the_guard() {
    // Nothing the reviewer could confuse: the cursor stays on its request.
    let server = TestServer::start().await;
    let low = server.file(&new_request("low.tool", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 110, 30, "");
    c.wait_for("low.tool").await;
    c.wait_for("assent live").await;
    c.keys_then(&["s"], "Sorted by risk").await;
    let mut critical = new_request("critical.tool", "agent1");
    critical.risk = Some(Risk::Critical);
    server.file(&critical).await;
    c.wait_for("critical.tool").await;
    c.keys(&["a"]).await;
    assert_eq!(server.settled(&low.id).await.status, Status::Approved);
    assert!(!c.screen().contains("changed"), "{}", c.screen());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_never_runs_keys_and_lands_whole_in_the_reason() {
    let server = TestServer::start().await;
    let new = in_conversation("conv-1", new_request("paste.target", "agent1"));
    let req = server.file(&new).await;
    let mut c = Console::spawn(&server.url, ALICE, 110, 30, "");
    c.wait_for("paste.target").await;
    c.wait_for("assent live").await;
    // Pasted in the queue: were it keys, `a` would approve, `A` then `y` grant always.
    c.paste("a\nA\ny");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    assert!(c.bracketed_paste(), "the console turns bracketed paste on");
    c.wait_for("Paste ignored: paste into the reason (r) or the filter (/).")
        .await;
    assert!(!c.screen().contains("Always approve?"), "{}", c.screen());
    // Pasted into the reason prompt: the field holds it, line breaks made spaces.
    c.keys_then(&["r"], "reason:").await;
    c.paste("a\nA\ny");
    c.wait_for("reason: a A y").await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.keys(&["\r"]).await;
    let done = server.settled(&req.id).await;
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(
        done.decision.and_then(|d| d.reason).as_deref(),
        Some("a A y")
    );
    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0));
    c.wait_restored().await;
    assert!(
        !c.bracketed_paste(),
        "turned off when the terminal is given back"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_and_a_notifying_approval_carry_a_reason() {
    let server = TestServer::start().await;
    let drop = server.file(&new_request("db.drop", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 110, 30, "");
    c.wait_for("db.drop").await;
    c.wait_for("assent live").await;
    c.keys_then(&["r"], "reason:").await;
    c.keys(&["\r"]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&drop.id).await, Status::Pending);
    c.wait_for("Not sent: a rejection needs a reason").await;
    c.keys(&[" ", " ", "\r"]).await;
    c.wait_for("Not sent: a rejection needs a reason").await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&drop.id).await, Status::Pending);
    // The prompt stayed open: the reason goes on in it.
    type_blind(&mut c, "wrong table").await;
    c.keys(&["\r"]).await;
    let done = server.settled(&drop.id).await;
    let d = done.decision.expect("decision");
    assert_eq!(done.status, Status::Rejected);
    // Typed after two spaces: sent trimmed.
    assert_eq!(d.reason.as_deref(), Some("wrong table"));

    // An approval that notifies the agent asks what to tell it, and needs an answer.
    let send = server.file(&new_request("email.send", "agent1")).await;
    c.wait_for("email.send").await;
    c.keys(&["j"]).await;
    c.keys_then(&["n"], "notify:on").await;
    c.keys(&["a"]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&send.id).await, Status::Pending);
    c.wait_for("reason for the agent:").await;
    c.keys(&["\r"]).await;
    c.wait_for("Not sent: notifying the agent needs a reason")
        .await;
    assert_eq!(server.status_of(&send.id).await, Status::Pending);
    type_blind(&mut c, "sent as asked").await;
    c.keys(&["\r"]).await;
    let done = server.settled(&send.id).await;
    let d = done.decision.expect("decision");
    assert_eq!(done.status, Status::Approved);
    assert!(d.notify_agent);
    assert_eq!(d.reason.as_deref(), Some("sent as asked"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_confirmed_every_time_and_say_they_cover_every_command() {
    let server = TestServer::start().await;
    let exec = call(
        "shell.exec",
        "agent1",
        json!({"argv": ["rm", "-rf", "build"], "cwd": "/srv/app"}),
    );
    let req = server.file(&in_conversation("conv-9", exec)).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("shell.exec").await;
    c.wait_for("assent live").await;
    // Nothing else pending is covered, and `c` still asks.
    c.keys(&["c"]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    let screen = c.wait_for("Approve for the conversation?").await;
    assert!(
        screen.contains("This covers every command `agent1` runs with `shell.exec`"),
        "{screen}"
    );
    assert!(screen.contains("in this"), "{screen}");
    assert!(screen.contains("not only this one."), "{screen}");
    c.keys_then(&["x"], "nothing was sent").await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    let screen = c.keys_then(&["A"], "Always approve?").await;
    assert!(
        screen.contains("This covers every command `agent1` runs with `shell.exec`"),
        "{screen}"
    );
    assert!(screen.contains("in any"), "{screen}");
    c.keys_then(&["x"], "nothing was sent").await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.keys_then(&["c"], "Approve for the conversation?").await;
    c.keys(&["y"]).await;
    let done = server.settled(&req.id).await;
    assert_eq!(done.decision.map(|d| d.scope), Some(Scope::Conversation));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_decided_on_a_terminal_too_small_to_show_it() {
    let server = TestServer::start().await;
    let req = server.file(&new_request("tiny.tool", "agent1")).await;
    // One row short of the smallest screen that shows the row and the decision keys.
    let mut c = Console::spawn(&server.url, ALICE, 30, 6, "");
    // Once the console is up, whatever it draws (a console that drew the queue here
    // would say it is live).
    eventually("the console up", WAIT, || async {
        let s = c.screen();
        (s.contains("live") || s.contains("too small")).then_some(())
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    c.keys(&["a", "A", "y", "c", "y", "r", "x", "\r"]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.wait_for("terminal too small").await;
    c.wait_for("30×7").await;
    c.keys(&["a"]).await;
    c.wait_for("Nothing decided").await;
    assert!(!c.screen().contains("tiny.tool"), "{}", c.screen());
    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0));

    // At the smallest size the row, its tool and the keys are drawn, and `a` decides.
    let mut c = Console::spawn(&server.url, ALICE, 30, 7, "");
    c.wait_for("tiny.tool").await;
    c.wait_for("a c A r decide  n notify:off").await;
    c.keys(&["a"]).await;
    assert_eq!(server.settled(&req.id).await.status, Status::Approved);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_that_cannot_work_says_so_as_the_cli_does_before_taking_the_screen() {
    let server = TestServer::start().await;
    for (token, code) in [
        (None, assent::cli::EXIT_UNREACHABLE),
        (Some("not-a-known-token"), assent::cli::EXIT_AUTH),
        (Some(AGENT1), assent::cli::EXIT_AUTH),
    ] {
        let cli = finish(assent(&server.url, token, &["list"]), None, 30).await;
        assert_eq!(cli.code, Some(i32::from(code)), "{token:?}: {}", cli.stderr);
        let mut env = vec![("ASSENT_URL", server.url.as_str())];
        if let Some(t) = token {
            env.push(("ASSENT_TOKEN", t));
        }
        let mut c = Console::spawn_with(&["console"], &env, 200, 20, "");
        assert_eq!(c.exit_code().await, Some(u32::from(code)), "{token:?}");
        let said = cli.stderr.trim();
        // (Its last bytes may still be on their way through the pty.)
        let screen = c.wait_for(said).await;
        // Printed on the terminal as it was: the console never drew on it.
        assert!(screen.starts_with(said), "{token:?}: {said:?}\n{screen}");
        assert!(!screen.contains("Pending"), "{screen}");
    }
    // A backend that cannot be reached is not refused: the console starts offline, and
    // Ctrl-r tries again at once.
    let mut c = Console::spawn(&dead_url(), ALICE, 100, 30, "");
    c.wait_for("reconnecting in").await;
    c.keys_then(&["\x12"], "Retrying now").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_live_within_two_seconds_of_the_backend_and_not_sent_marks_clear() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("assent.db");
    let db = db.to_str().unwrap();
    let listen = free_addr();
    let mut server = Serve::on(dir.path(), &listen, db).await;
    let req = server.file(&new_request("outage.tool", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 30, "");
    c.wait_for("outage.tool").await;
    c.wait_for("assent live").await;
    server.kill();
    c.wait_for("reconnecting in").await;
    // Decided while the backend is down: not sent, and the row says so.
    c.keys(&["a"]).await;
    c.wait_for("not sent").await;
    // An outage long enough for a growing backoff to reach several seconds.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let server = Serve::on(dir.path(), &listen, db).await;
    let back = Instant::now();
    let live = poll(Duration::from_secs(20), || async {
        c.screen().contains("assent live").then_some(())
    })
    .await;
    let took = back.elapsed();
    eprintln!("live again {took:?} after the backend answered again");
    assert!(live.is_some(), "never live again:\n{}", c.screen());
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Resumed from the last event, not listed again.
    let log = c.log();
    assert!(log.contains("event stream resumed"), "{log}");
    assert!(!log.contains("listing again"), "{log}");
    let cleared = poll(Duration::from_secs(5), || async {
        (!c.screen().contains("not sent")).then_some(())
    })
    .await;
    assert!(cleared.is_some(), "the mark stayed:\n{}", c.screen());
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.keys(&["a"]).await;
    assert_eq!(server.settled(&req.id).await.status, Status::Approved);
}

/// Issue 11, point 5: a database copied in under the same address is not the old one.
/// The console resumes only on the database it listed; on another it lists again, so it
/// never shows requests that no longer exist, nor misses ones that do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_replaced_under_the_same_address_is_listed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (old_db, new_db) = (dir.path().join("old.db"), dir.path().join("new.db"));
    let listen = free_addr();
    let mut server = Serve::on(dir.path(), &listen, old_db.to_str().unwrap()).await;
    server.file(&new_request("only.in.old", "agent1")).await;
    let c = Console::spawn(&server.url, ALICE, 120, 30, "");
    c.wait_for("only.in.old").await;
    c.wait_for("assent live").await;
    server.kill();
    c.wait_for("reconnecting in").await;
    let other = Serve::on(dir.path(), &listen, new_db.to_str().unwrap()).await;
    other.file(&new_request("only.in.new", "agent1")).await;
    let swapped = poll(Duration::from_secs(15), || async {
        let s = c.screen();
        (s.contains("only.in.new") && !s.contains("only.in.old") && s.contains("assent live"))
            .then_some(())
    })
    .await;
    assert!(
        swapped.is_some(),
        "still the old database's rows:\n{}",
        c.screen()
    );
    let log = c.log();
    assert!(log.contains("listing again"), "{log}");
}
