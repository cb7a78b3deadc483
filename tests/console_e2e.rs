//! End-to-end tests of the console: the real `assent` binary in a pseudo-terminal
//! (portable-pty), its screen read back through a terminal emulator (vt100), against the
//! real server on loopback. Each test presses keys, then checks both the screen and the
//! server's state. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{Risk, Scope, Status, Verdict};
use common::pty::WAIT;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_once_with_notify_then_quit_restores_the_terminal() {
    let server = TestServer::start().await;
    let new = in_conversation("conv-1", refund("agent1"));
    let req = server.file(&new).await;
    let mut c = Console::spawn(&server.url, ALICE, 130, 30, "");
    c.wait_for("order_tools.process_refund").await;
    let screen = c.wait_for("live").await;
    assert!(screen.contains("alice"), "{screen}");
    assert!(screen.contains("notify:off"), "{screen}");
    c.keys_then(&["n"], "notify:on").await;
    // Notifying the agent needs a reason to tell it (issue 10).
    c.keys_then(&["a"], "reason for the agent:").await;
    c.press("refund approved");
    c.keys(&["\r"]).await;
    let done = server.settled(&req.id).await;
    let d = done.decision.expect("decision");
    assert_eq!(done.status, Status::Approved);
    assert_eq!(d.scope, Scope::Once);
    assert!(d.notify_agent);
    assert_eq!(d.reason.as_deref(), Some("refund approved"));
    assert_eq!(d.responder, "alice");
    let screen = c.wait_for("approved (once)").await;
    assert!(screen.contains("Pending 0"), "{screen}");

    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0));
    c.wait_restored().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_with_a_reason_and_conversation_refused_without_one() {
    let server = TestServer::start().await;
    let req = server.file(&new_request("db.delete", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 100, 30, "");
    c.wait_for("db.delete").await;
    c.keys_then(&["c"], "no conversation").await;
    c.keys_then(&["r"], "reason:").await;
    // Esc cancels: nothing is sent.
    c.keys_then(&["x", "\x1b"], "nothing was sent").await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.keys_then(&["r"], "reason:").await;
    c.press("too risky on prod");
    c.wait_for("too risky on prod").await;
    c.keys(&["\r"]).await;
    let done = server.settled(&req.id).await;
    let d = done.decision.expect("decision");
    assert_eq!(done.status, Status::Rejected);
    assert_eq!(d.reason.as_deref(), Some("too risky on prod"));
    assert_eq!(d.responder, "alice");
    assert!(!d.notify_agent);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_asks_first_then_the_grant_can_be_revoked() {
    let server = TestServer::start().await;
    let req = server.file(&new_request("email.send", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("email.send").await;
    c.keys_then(&["A"], "every future `email.send` call from `agent1`")
        .await;
    c.wait_for("this one included").await;
    c.keys_then(&["x"], "Cancelled").await;
    assert_eq!(server.status_of(&req.id).await, Status::Pending);
    c.keys_then(&["A"], "every future").await;
    c.keys(&["y"]).await;
    let done = server.settled(&req.id).await;
    assert_eq!(done.decision.as_ref().map(|d| d.scope), Some(Scope::Always));
    let grants = server.api(ALICE).grants().await.unwrap().grants;
    assert_eq!(grants.len(), 1);

    c.keys_then(&["\t", "\t"], "Grants 1").await;
    c.wait_for("always").await;
    c.keys_then(&["d"], "will need approval again").await;
    c.keys_then(&["y"], "Revoked").await;
    let alice = server.api(ALICE);
    eventually("the grant revoked", WAIT, || async {
        alice
            .grants()
            .await
            .unwrap()
            .grants
            .is_empty()
            .then_some(())
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_shows_who_decided_first() {
    let server = TestServer::start().await;
    let req = server.file(&new_request("deploy.release", "agent1")).await;
    // Polling rarely, so the console cannot know bob was first until it tries.
    let cfg = "[console]\ntransport = \"poll\"\npoll_interval = \"60s\"\n";
    let mut c = Console::spawn(&server.url, ALICE, 100, 30, cfg);
    c.wait_for("deploy.release").await;
    c.wait_for("polling").await;
    let body = decision_because(Verdict::Reject, "not today", false, &req.args_hash);
    server.api(BOB).decide(&req.id, &body).await.unwrap();
    let screen = c.keys_then(&["a"], "by bob").await;
    // A rejection says no scope: it is for that call only.
    assert!(
        screen.contains("was rejected by bob: not today"),
        "{screen}"
    );
    let now = server.api(ALICE).get(&req.id).await.unwrap();
    assert_eq!(now.decision.map(|d| d.responder).as_deref(), Some("bob"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_cancellation_show_then_leave() {
    let server = TestServer::start().await;
    let mut short = new_request("shell.run", "agent1");
    short.ttl_seconds = Some(2);
    short.params = json!({"command": "uptime"});
    server.file(&short).await;
    let other = server.file(&new_request("crm.add_note", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 100, 30, "");
    c.wait_for("shell.run").await;
    c.wait_for("crm.add_note").await;
    c.wait_for("expired").await;
    // Decisions on it are refused while it is still shown.
    c.keys_then(&["a"], "can no longer be decided").await;
    server.api(AGENT1).cancel(&other.id).await.unwrap();
    c.wait_for("cancelled").await;
    c.wait_for("Pending 0").await;
    assert_eq!(server.status_of(&other.id).await, Status::Cancelled);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_and_rejected_token_are_said_plainly() {
    // A port nothing listens on.
    let url = dead_url();
    let c = Console::spawn(&url, ALICE, 100, 30, "");
    let screen = c.wait_for("cannot reach the backend").await;
    assert!(screen.contains("reconnecting in"), "{screen}");

    // A token the backend refuses is said before the screen is taken (issue 10), with
    // the CLI's exit code: console_safety.rs tests every such case.
    let server = TestServer::start().await;
    let mut bad = Console::spawn(&server.url, "not-a-known-token", 100, 30, "");
    assert_eq!(bad.exit_code().await, Some(3));
    assert!(bad.screen().contains("token"), "{}", bad.screen());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_escapes_are_shown_and_new_arrivals_ring_and_keep_the_cursor() {
    let server = TestServer::start().await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("No pending requests").await;
    let mut evil = new_request("evil\x1b]0;pwned\x07tool", "agent1");
    evil.params = json!({"cmd": "\x1b[2J\x1b[H gotcha"});
    evil.reason = Some("\x1b[31mred".into());
    server.file(&evil).await;
    let screen = c.wait_for("evil\\u{1b}]0;pwned\\u{7}tool").await;
    // The params, JSON-escaped in the detail; the reason, escaped by the console.
    assert!(screen.contains("\\u001b[2J\\u001b[H gotcha"), "{screen}");
    assert!(screen.contains("\\u{1b}[31mred"), "{screen}");
    assert!(c.titles().is_empty());
    assert_eq!(c.bells(), 1, "a request into an empty queue rings once");

    // New arrivals do not move the cursor off the request it is on, even one that sorts
    // above it (so a console that kept the row index instead would move to it).
    c.keys_then(&["s"], "Sorted by risk").await;
    let mut critical = new_request("second.tool", "agent1");
    critical.params = json!({"n": 2});
    critical.risk = Some(Risk::Critical);
    server.file(&critical).await;
    let screen = c.wait_for("second.tool").await;
    // The queue is the left 60% of the screen; the detail pane is on the right.
    let row = |needle: &str| {
        screen
            .lines()
            .position(|l| l.chars().take(70).collect::<String>().contains(needle))
            .unwrap_or(usize::MAX)
    };
    assert!(
        row("second.tool") < row("evil\\u{1b}"),
        "the critical arrival sorts above the cursor:\n{screen}"
    );
    // The detail pane still shows the request under the cursor.
    let title = screen.lines().nth(3).unwrap_or_default();
    assert!(title.contains("evil"), "the cursor moved:\n{screen}");
    c.keys(&["a"]).await;
    let alice = server.api(ALICE);
    let approved = eventually("an approved request", WAIT, || async {
        let done = alice.list_all(Some(Status::Approved)).await.unwrap();
        (!done.requests.is_empty()).then_some(done.requests)
    })
    .await;
    assert_eq!(approved.len(), 1);
    assert!(approved[0].tool.starts_with("evil"), "the cursor moved");
    c.wait_for("Pending 1").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_for_the_conversation_creates_a_grant() {
    let server = TestServer::start().await;
    let new = new_request("crm.update_contact", "agent1");
    let req = server.file(&in_conversation("conv-42", new.clone())).await;
    // Another conversation: a conversation grant does not cover it.
    let other = server.file(&in_conversation("conv-43", new)).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("crm.update_contact").await;
    c.wait_for("live").await;
    // Asked every time: a grant approves more than the request on screen (issue 10).
    c.keys_then(&["c"], "Approve for the conversation?").await;
    c.keys(&["y"]).await;
    let done = server.settled(&req.id).await;
    let d = done.decision.expect("decision");
    assert_eq!(done.status, Status::Approved);
    assert_eq!(d.scope, Scope::Conversation);
    assert_eq!(d.responder, "alice");
    assert!(d.grant_id.is_some(), "a grant was made");
    let grants = server.api(ALICE).grants().await.unwrap().grants;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].scope, Scope::Conversation);
    assert_eq!(grants[0].conversation_id.as_deref(), Some("conv-42"));
    assert_eq!(grants[0].created_by, "alice");
    assert_eq!(
        server.status_of(&other.id).await,
        Status::Pending,
        "the other conversation is not covered"
    );
    c.wait_for("approved (conversation)").await;
    c.wait_for("Grants 1").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_for_the_conversation_asks_when_it_approves_others_too() {
    let server = TestServer::start().await;
    let new = in_conversation("conv-42", new_request("crm.update", "agent1"));
    let first = server.file(&new).await;
    let mut second = new.clone();
    second.params = json!({"contact": "B"});
    let second = server.file(&second).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("contact=B").await;
    c.keys_then(&["c"], "Approve for the conversation?").await;
    c.wait_for("Also approves 1 other pending `crm.update` call in this conversation")
        .await;
    c.wait_for("y, 1 or 8 confirms, any other key cancels")
        .await;
    // Any other key cancels: nothing is sent.
    c.keys_then(&["x"], "nothing was sent").await;
    for id in [&first.id, &second.id] {
        assert_eq!(server.status_of(id).await, Status::Pending);
    }
    c.keys_then(&["c"], "Also approves 1 other").await;
    c.keys(&["y"]).await;
    let a = server.settled(&first.id).await;
    let b = server.settled(&second.id).await;
    assert_eq!(
        a.decision.as_ref().map(|d| d.scope),
        Some(Scope::Conversation)
    );
    assert_eq!(
        a.decision.as_ref().map(|d| d.responder.as_str()),
        Some("alice")
    );
    // The second was approved at once by the grant the first made.
    let bd = b.decision.expect("decision");
    assert_eq!(b.status, Status::Approved);
    assert_eq!(bd.grant_id, a.decision.and_then(|d| d.grant_id));
    c.wait_for("Pending 0").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_trying_through_a_backend_restart() {
    let listen = free_addr();
    let l = listen.clone();
    let server = TestServer::start_configured(move |c| c.listen = l).await;
    server.file(&new_request("before.restart", "agent1")).await;
    let c = Console::spawn(&server.url, ALICE, 100, 30, "");
    c.wait_for("before.restart").await;
    c.wait_for("live").await;
    server.shutdown().await;
    c.wait_for("reconnecting in").await;
    c.wait_for("cannot reach the backend").await;
    // A new backend on the same address (a fresh, empty store: its event log starts over,
    // so it refuses to resume after the console's last event, and the console lists again).
    let l = listen.clone();
    let server = TestServer::start_configured(move |c| c.listen = l).await;
    c.wait_for("live").await;
    c.wait_for("no longer pending").await;
    server.file(&new_request("after.restart", "agent1")).await;
    c.wait_for("after.restart").await;
    let log = c.log();
    assert!(log.contains("listing again"), "{log}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_resumes_from_the_last_event() {
    let listen = free_addr();
    let (_dir, db) = temp_db();
    let cfg = || {
        let mut c = server_config(db.to_str().unwrap());
        c.listen = listen.clone();
        c
    };
    let server = TestServer::start_with(cfg()).await;
    let first = server.file(&new_request("first.call", "agent1")).await;
    let c = Console::spawn(&server.url, ALICE, 100, 30, "");
    c.wait_for("first.call").await;
    c.wait_for("live").await;
    server.shutdown().await;
    c.wait_for("reconnecting in").await;
    // The same backend again (same database, same event log).
    let server = TestServer::start_with(cfg()).await;
    let body = decision(Verdict::Reject, &first.args_hash);
    server.api(BOB).decide(&first.id, &body).await.unwrap();
    server.file(&new_request("second.call", "agent1")).await;
    c.wait_for("second.call").await;
    // Learnt from the decided event, replayed or live (a list would only have shown
    // that it is no longer pending).
    c.wait_for("already rejected").await;
    c.wait_for("live").await;
    let log = c.log();
    assert!(log.contains("event stream resumed"), "{log}");
    assert!(!log.contains("listing again"), "{log}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_whole_product_and_quitting_ends_it() {
    let mut c = Console::spawn_with(&["demo", "--pace", "1"], &[], 140, 30, "");
    c.wait_for("live").await;
    // Several simulated agents file requests.
    c.wait_for("order-manager").await;
    c.wait_for("support-bot").await;
    c.keys_then(&["a"], "approved (once)").await;
    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0), "the demo did not end on q");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_restore_the_terminal() {
    let server = TestServer::start().await;
    for sig in ["TERM", "INT"] {
        let mut c = Console::spawn(&server.url, ALICE, 80, 24, "");
        c.wait_for("live").await;
        assert!(c.alternate_screen());
        signal(c.pid(), sig);
        assert_eq!(c.exit_code().await, Some(0), "exit after kill {sig}");
        c.wait_restored().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_focus_every_arrival_rings_and_notifies_and_focus_reports_end_with_it() {
    let server = TestServer::start().await;
    server.file(&refund("agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 32, "");
    c.wait_for("order_tools.process_refund").await;
    let on = c.raw();
    assert!(
        on.windows(8).any(|w| w == b"\x1b[?1004h"),
        "focus reports are turned on"
    );
    // The terminal says it lost focus (as xterm reports it): nobody is looking.
    c.keys(&["\x1b[O"]).await;
    let mut second = new_request("second.tool", "agent\x1b]0;x\x07\u{202e}");
    second.params = json!({"n": 2});
    server.file(&second).await;
    c.wait_for("second.tool").await;
    let rang = poll(WAIT, || async { (c.bells() == 1).then_some(()) }).await;
    assert!(
        rang.is_some(),
        "a request into a non-empty queue rings without focus"
    );
    let raw = String::from_utf8_lossy(&c.raw()).into_owned();
    let osc9 = raw
        .find("\x1b]9;assent: approval requested: ")
        .expect("OSC 9");
    let notice = &raw[osc9..];
    let end = notice[1..].find('\x1b').map_or(notice.len(), |i| i + 1);
    let notice = &notice[..end];
    // The agent's controls are shown, never passed on inside the sequence.
    assert!(
        notice.contains("agent\\u{1b}]0,x\\u{7}\\u{202e} asks to run second.tool"),
        "{notice:?}"
    );
    assert!(
        raw.contains("\x1b]777;notify;assent: approval requested;"),
        "OSC 777"
    );
    assert!(
        c.titles().is_empty(),
        "no title was set by the agent's text"
    );
    // Focus back: the next arrival does not ring (the queue is not empty).
    c.keys(&["\x1b[I"]).await;
    let mut third = new_request("third.tool", "agent1");
    third.params = json!({"n": 3});
    server.file(&third).await;
    c.wait_for("third.tool").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.bells(), 1);
    c.keys(&["q"]).await;
    assert_eq!(c.exit_code().await, Some(0));
    c.wait_restored().await;
    let raw = c.raw();
    let off = raw.windows(8).rposition(|w| w == b"\x1b[?1004l");
    let last_on = raw.windows(8).rposition(|w| w == b"\x1b[?1004h");
    assert!(off > last_on, "focus reports are turned off on the way out");
    server.shutdown().await;
}

/// `e` gives the terminal to `$EDITOR` (here a script that changes the amount), takes it
/// back, shows the diff, and `y` approves the edit once; the request keeps its params.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_then_approve_round_trips_through_the_editor() {
    let server = TestServer::start().await;
    let req = server.file(&refund("agent1")).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("edit.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed 's/\"amount\": 250/\"amount\": 25/' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let editor = script.to_str().unwrap();
    let env = [
        ("ASSENT_URL", server.url.as_str()),
        ("ASSENT_TOKEN", ALICE),
        ("EDITOR", editor),
        ("PATH", "/usr/bin:/bin"),
    ];
    let mut c = Console::spawn_with(&["console"], &env, 120, 32, "");
    c.wait_for("order_tools.process_refund").await;
    c.wait_for("live").await;
    c.keys_then(&["e"], "Approve edited params?").await;
    let screen = c.wait_for("+   \"amount\": 25,").await;
    assert!(screen.contains("-   \"amount\": 250,"), "{screen}");
    assert!(c.alternate_screen(), "the terminal was taken back");
    assert_eq!(
        server.status_of(&req.id).await,
        Status::Pending,
        "asks first"
    );
    c.keys(&["y"]).await;
    let done = server.settled(&req.id).await;
    assert_eq!(done.params, req.params, "the request keeps what it filed");
    let d = done.decision.expect("decision");
    assert_eq!(d.scope, Scope::Once);
    assert_eq!(
        d.approved_params,
        Some(json!({"order_id": "A-1001", "amount": 25}))
    );
}
