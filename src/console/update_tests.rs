//! Unit tests of the pure update function: no terminal, no network.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{self, ago, decided, event, loaded, now, req};
use super::keymap::Keymap;
use super::state::{Confirm, Local, Mode, SortKey, State, Tab};
use super::update::update;
use crate::client::ClientError;
use crate::config::KeyBinding;
use crate::protocol::{DecisionBody, EventKind, Grant, Outcome, Scope, Status, Verdict, args_hash};

fn key(state: &mut State, c: char) -> Vec<Effect> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(state, Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)))
}

fn code(state: &mut State, code: KeyCode) -> Vec<Effect> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(state: &mut State, s: &str) {
    for c in s.chars() {
        key(state, c);
    }
}

fn select(state: &mut State, id: &str) {
    let i = state.order.iter().position(|o| o == id).unwrap();
    state.select_index(i);
    assert_eq!(state.selected.as_deref(), Some(id));
}

fn decision(fx: &[Effect]) -> (&str, &DecisionBody) {
    match fx {
        [Effect::SendDecision { id, body }] => (id.as_str(), body),
        other => panic!("expected one SendDecision, got {other:?}"),
    }
}

fn message(state: &State) -> String {
    state
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

fn tick(state: &mut State, secs_after_now: i64) {
    update(
        state,
        Msg::Tick(now() + chrono::Duration::seconds(secs_after_now)),
    );
}

#[test]
fn queue_is_oldest_first_and_first_row_selected() {
    let s = loaded(80, 24);
    assert_eq!(s.order, ["req-1", "req-2", "req-3"]);
    assert_eq!(s.selected.as_deref(), Some("req-1"));
}

#[test]
fn new_arrivals_never_move_the_selection() {
    let mut s = loaded(80, 24);
    select(&mut s, "req-2");
    // Older than everything: sorts first, pushing req-2 down a row.
    let older = req("req-0", "shell.run", "ops", 9999, json!({"command": "ls"}));
    update(&mut s, event(EventKind::RequestCreated, 10, older));
    let newer = req("req-9", "shell.run", "ops", 0, json!({"command": "pwd"}));
    update(&mut s, event(EventKind::RequestCreated, 11, newer));
    assert_eq!(s.order[0], "req-0");
    assert_eq!(s.selected.as_deref(), Some("req-2"));
    assert_eq!(s.selected_index(), Some(2));
    // A snapshot (reconnect or poll) with the same content keeps it too.
    let mut all = fixtures::queue();
    all.push(req(
        "req-0",
        "shell.run",
        "ops",
        9999,
        json!({"command": "ls"}),
    ));
    update(&mut s, Msg::Pending(all));
    assert_eq!(s.selected.as_deref(), Some("req-2"));
}

#[test]
fn first_arrival_into_an_empty_queue_is_selected_and_rings() {
    let mut s = fixtures::state(80, 24);
    assert!(update(&mut s, Msg::Pending(vec![])).is_empty());
    let fx = update(
        &mut s,
        event(
            EventKind::RequestCreated,
            1,
            req("r", "t", "a", 0, json!({})),
        ),
    );
    assert_eq!(fx, vec![Effect::Bell]);
    assert_eq!(s.selected.as_deref(), Some("r"));
    let fx = update(
        &mut s,
        event(
            EventKind::RequestCreated,
            2,
            req("r2", "t", "a", 0, json!({})),
        ),
    );
    assert!(fx.is_empty(), "no bell when the queue was not empty");
    // A duplicate event (replay) does not double the row.
    update(
        &mut s,
        event(
            EventKind::RequestCreated,
            2,
            req("r2", "t", "a", 0, json!({})),
        ),
    );
    assert_eq!(s.order.len(), 2);

    let mut quiet = fixtures::state(80, 24);
    quiet.bell = false;
    update(&mut quiet, Msg::Pending(vec![]));
    let fx = update(
        &mut quiet,
        event(
            EventKind::RequestCreated,
            1,
            req("r", "t", "a", 0, json!({})),
        ),
    );
    assert!(fx.is_empty());
}

#[test]
fn approve_once_carries_the_args_hash_of_the_params_on_screen() {
    let mut s = loaded(80, 24);
    let fx = key(&mut s, 'a');
    let (id, body) = decision(&fx);
    assert_eq!(id, "req-1");
    assert_eq!(body.outcome, Verdict::Approve);
    assert_eq!(body.scope, Scope::Once);
    assert!(!body.notify_agent);
    assert_eq!(body.reason, None);
    let shown = &s.entries["req-1"].req;
    assert_eq!(body.args_hash, args_hash(&shown.params));
    assert_eq!(body.args_hash, shown.args_hash);
    assert!(matches!(
        s.entries["req-1"].local,
        Local::Sending {
            verdict: Verdict::Approve,
            scope: Scope::Once
        }
    ));
    // A second key while in flight sends nothing more.
    assert!(key(&mut s, 'a').is_empty());
    assert!(message(&s).contains("already on its way"));
}

#[test]
fn notify_is_per_request_and_off_by_default() {
    let mut s = loaded(80, 24);
    key(&mut s, 'n');
    assert!(s.entries["req-1"].notify);
    assert!(!s.entries["req-2"].notify);
    let fx = key(&mut s, 'a');
    assert!(decision(&fx).1.notify_agent);
    key(&mut s, 'j');
    let fx = key(&mut s, 'a');
    let (id, body) = decision(&fx);
    assert_eq!(id, "req-2");
    assert!(!body.notify_agent);
}

#[test]
fn conversation_approval_needs_a_conversation() {
    let mut s = loaded(80, 24);
    select(&mut s, "req-2");
    assert!(key(&mut s, 'c').is_empty());
    assert!(message(&s).contains("no conversation"), "{}", message(&s));
    assert!(matches!(s.entries["req-2"].local, Local::Idle));
    select(&mut s, "req-1");
    let fx = key(&mut s, 'c');
    assert_eq!(decision(&fx).1.scope, Scope::Conversation);
}

#[test]
fn always_asks_first_and_only_y_confirms() {
    let mut s = loaded(80, 24);
    assert!(key(&mut s, 'A').is_empty());
    assert!(matches!(&s.mode, Mode::Confirm(Confirm::Always { id }) if id == "req-1"));
    let (_, q) = super::dialog::question(&s, &Confirm::Always { id: "req-1".into() });
    assert!(q.contains("every future `order_tools.process_refund` call from `order-manager`"));
    // Any other key cancels, and sends nothing.
    assert!(key(&mut s, 'a').is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(matches!(s.entries["req-1"].local, Local::Idle));
    key(&mut s, 'A');
    let fx = key(&mut s, 'y');
    let (id, body) = decision(&fx);
    assert_eq!(
        (id, body.scope, body.outcome),
        ("req-1", Scope::Always, Verdict::Approve)
    );
}

#[test]
fn reject_takes_a_reason_enter_sends_esc_cancels() {
    let mut s = loaded(80, 24);
    key(&mut s, 'r');
    assert!(matches!(s.mode, Mode::Reason { .. }));
    // Keys are text now: 'q' and 'a' do not quit or approve.
    typed(&mut s, "qa: too much");
    assert!(matches!(&s.mode, Mode::Reason { input, .. } if input.value() == "qa: too much"));
    code(&mut s, KeyCode::Esc);
    assert!(matches!(s.mode, Mode::Normal));
    assert!(matches!(s.entries["req-1"].local, Local::Idle));

    key(&mut s, 'r');
    typed(&mut s, "amount too high");
    let fx = code(&mut s, KeyCode::Enter);
    let (id, body) = decision(&fx);
    assert_eq!(id, "req-1");
    assert_eq!(body.outcome, Verdict::Reject);
    assert_eq!(body.reason.as_deref(), Some("amount too high"));

    // An empty reason is allowed and sent as none.
    select(&mut s, "req-2");
    key(&mut s, 'r');
    let fx = code(&mut s, KeyCode::Enter);
    assert_eq!(decision(&fx).1.reason, None);
}

#[test]
fn success_removes_the_row_and_records_history() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    let done = decided(
        s.entries["req-1"].req.clone(),
        Outcome::Approved,
        Scope::Once,
        "alice",
    );
    update(
        &mut s,
        Msg::Decided {
            id: "req-1".into(),
            result: Ok(done),
        },
    );
    assert!(!s.entries.contains_key("req-1"));
    assert_eq!(
        s.selected.as_deref(),
        Some("req-2"),
        "cursor stays in place"
    );
    assert_eq!(s.history[0].id, "req-1");
}

#[test]
fn conflict_says_who_decided_first_and_how() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    let first = decided(
        s.entries["req-1"].req.clone(),
        Outcome::Rejected,
        Scope::Once,
        "bob",
    );
    // The event of bob's decision may arrive before our answer: the row waits for it.
    update(&mut s, event(EventKind::RequestDecided, 5, first.clone()));
    assert!(matches!(s.entries["req-1"].local, Local::Sending { .. }));
    update(
        &mut s,
        Msg::Decided {
            id: "req-1".into(),
            result: Err(ClientError::Api {
                status: 409,
                code: "conflict".into(),
                message: "already decided".into(),
                request: Some(Box::new(first)),
            }),
        },
    );
    let m = message(&s);
    assert!(m.contains("rejected (once) by bob"), "{m}");
    match &s.entries["req-1"].local {
        Local::Ended { note, .. } => assert!(note.contains("bob"), "{note}"),
        other => panic!("{other:?}"),
    }
    assert!(
        key(&mut s, 'a').is_empty(),
        "an ended row cannot be decided"
    );
    tick(&mut s, 10);
    assert!(!s.entries.contains_key("req-1"));
    assert_eq!(s.history[0].id, "req-1");
}

#[test]
fn network_error_keeps_the_row_with_the_error_and_allows_retry() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    update(
        &mut s,
        Msg::Decided {
            id: "req-1".into(),
            result: Err(ClientError::Network {
                url: "http://127.0.0.1:1".into(),
                detail: "connection refused or host unreachable".into(),
            }),
        },
    );
    match &s.entries["req-1"].local {
        Local::Failed { error } => assert!(error.contains("connection refused")),
        other => panic!("{other:?}"),
    }
    assert!(message(&s).contains("retry"));
    let fx = key(&mut s, 'a');
    assert_eq!(decision(&fx).0, "req-1");
}

#[test]
fn filter_searches_tool_agent_reason_and_params() {
    let mut s = loaded(80, 24);
    key(&mut s, '/');
    typed(&mut s, "jane@");
    assert_eq!(s.order, ["req-2"]);
    assert_eq!(s.selected.as_deref(), Some("req-2"));
    code(&mut s, KeyCode::Enter);
    assert!(matches!(s.mode, Mode::Normal));
    assert_eq!(s.filter, "jane@");
    // Reason and agent match too, case-insensitively.
    key(&mut s, '/');
    code(&mut s, KeyCode::Esc);
    assert_eq!(s.order.len(), 3);
    key(&mut s, '/');
    typed(&mut s, "NIGHTLY");
    assert_eq!(s.order, ["req-3"]);
    code(&mut s, KeyCode::Esc);
    key(&mut s, '/');
    typed(&mut s, "janitor");
    assert_eq!(s.order, ["req-3"]);
}

#[test]
fn sort_cycles_age_risk_expiry() {
    let mut s = loaded(80, 24);
    key(&mut s, 's');
    assert_eq!(s.sort, SortKey::Risk);
    assert_eq!(s.order, ["req-3", "req-1", "req-2"]);
    key(&mut s, 's');
    assert_eq!(s.sort, SortKey::Expiry);
    assert_eq!(s.order, ["req-1", "req-2", "req-3"]);
    key(&mut s, 's');
    assert_eq!(s.sort, SortKey::Age);
    // The selection follows its request through every sort.
    assert_eq!(s.selected.as_deref(), Some("req-1"));
}

#[test]
fn expiry_on_screen_is_shown_refused_then_removed() {
    let mut s = loaded(80, 24);
    // req-1 expires 45 s after `now`; the backend has not said so yet.
    tick(&mut s, 46);
    match &s.entries["req-1"].local {
        Local::Ended { note, .. } => assert_eq!(note, "expired"),
        other => panic!("{other:?}"),
    }
    assert!(key(&mut s, 'a').is_empty());
    assert!(message(&s).contains("can no longer be decided"));
    tick(&mut s, 46 + 6);
    assert!(!s.entries.contains_key("req-1"));
}

#[test]
fn expiry_is_checked_at_the_key_press_too() {
    let mut s = loaded(80, 24);
    // The clock moved past the expiry without a tick having marked the row yet.
    s.now = now() + chrono::Duration::seconds(50);
    assert!(key(&mut s, 'a').is_empty());
    assert!(matches!(s.entries["req-1"].local, Local::Ended { .. }));
}

#[test]
fn expired_and_cancelled_events_end_the_row() {
    let mut s = loaded(80, 24);
    let mut r1 = s.entries["req-1"].req.clone();
    r1.status = Status::Expired;
    update(&mut s, event(EventKind::RequestExpired, 3, r1));
    let mut r2 = s.entries["req-2"].req.clone();
    r2.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 4, r2));
    assert!(matches!(&s.entries["req-1"].local, Local::Ended { note, .. } if note == "expired"));
    assert!(
        matches!(&s.entries["req-2"].local, Local::Ended { note, .. } if note.contains("cancelled"))
    );
    select(&mut s, "req-2");
    assert!(key(&mut s, 'r').is_empty());
    assert!(
        matches!(s.mode, Mode::Normal),
        "no reason input for an ended row"
    );
    tick(&mut s, 6);
    assert_eq!(s.order, ["req-3"]);
    assert_eq!(s.history.len(), 2);
}

#[test]
fn request_ending_while_reason_is_typed_is_not_sent() {
    let mut s = loaded(80, 24);
    key(&mut s, 'r');
    typed(&mut s, "no");
    let mut r1 = s.entries["req-1"].req.clone();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    assert!(code(&mut s, KeyCode::Enter).is_empty());
}

#[test]
fn decided_elsewhere_while_idle_is_shown_then_leaves() {
    let mut s = loaded(80, 24);
    let r = decided(
        s.entries["req-2"].req.clone(),
        Outcome::Approved,
        Scope::Always,
        "bob",
    );
    update(&mut s, event(EventKind::RequestDecided, 9, r));
    match &s.entries["req-2"].local {
        Local::Ended { note, .. } => assert!(note.contains("approved (always) by bob")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn snapshot_ends_rows_that_left_while_offline() {
    let mut s = loaded(80, 24);
    let mut rest = fixtures::queue();
    rest.remove(1);
    update(&mut s, Msg::Pending(rest));
    assert!(matches!(s.entries["req-2"].local, Local::Ended { .. }));
    assert!(matches!(s.entries["req-1"].local, Local::Idle));
}

#[test]
fn decisions_only_on_the_pending_tab() {
    let mut s = loaded(80, 24);
    code(&mut s, KeyCode::Tab);
    assert_eq!(s.tab, Tab::History);
    assert!(key(&mut s, 'a').is_empty());
    assert!(message(&s).contains("Pending tab"));
    code(&mut s, KeyCode::BackTab);
    assert_eq!(s.tab, Tab::Pending);
}

#[test]
fn revoking_a_grant_asks_first() {
    let mut s = loaded(80, 24);
    let g = Grant {
        id: "g1".into(),
        scope: Scope::Always,
        agent: "order-manager".into(),
        tool: "order_tools.process_refund".into(),
        conversation_id: None,
        created_by: "alice".into(),
        created_at: ago(60),
        source_request_id: None,
        revoked_at: None,
        revoked_by: None,
    };
    update(&mut s, Msg::Grants(vec![g.clone()]));
    assert!(key(&mut s, 'd').is_empty(), "not on the Grants tab");
    code(&mut s, KeyCode::Tab);
    code(&mut s, KeyCode::Tab);
    assert_eq!(s.tab, Tab::Grants);
    key(&mut s, 'd');
    assert!(matches!(&s.mode, Mode::Confirm(Confirm::Revoke { grant_id }) if grant_id == "g1"));
    assert!(key(&mut s, 'n').is_empty());
    key(&mut s, 'd');
    assert_eq!(
        key(&mut s, 'y'),
        vec![Effect::RevokeGrant { id: "g1".into() }]
    );
    update(
        &mut s,
        Msg::Revoked {
            grant_id: "g1".into(),
            result: Ok(g),
        },
    );
    assert!(s.grants.is_empty());
}

#[test]
fn quitting() {
    let mut s = loaded(80, 24);
    assert_eq!(key(&mut s, 'q'), vec![Effect::Quit]);
    key(&mut s, 'r');
    assert!(key(&mut s, 'q').is_empty(), "q is text in the reason input");
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn keymap_overrides_drive_dispatch() {
    let mut o = BTreeMap::new();
    o.insert("approve_once".to_owned(), KeyBinding::One("o".into()));
    let mut s = loaded(80, 24);
    s.keymap = Keymap::with_overrides(&o).unwrap();
    assert!(key(&mut s, 'a').is_empty());
    let fx = key(&mut s, 'o');
    assert_eq!(decision(&fx).1.scope, Scope::Once);
}

#[test]
fn detail_view_opens_scrolls_and_closes_on_small_terminals() {
    let mut s = loaded(80, 24);
    assert!(s.areas().detail.is_none(), "80x24 has no side pane");
    code(&mut s, KeyCode::Enter);
    assert!(matches!(s.mode, Mode::Detail));
    let (total, height) = s.detail_extent();
    assert!(total > 0 && height > 0);
    key(&mut s, 'j');
    assert_eq!(s.detail_scroll, usize::from(total > height));
    key(&mut s, 'G');
    assert_eq!(s.detail_scroll, total.saturating_sub(height));
    // Deciding works from the detail view.
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-1");
    code(&mut s, KeyCode::Esc);
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn huge_params_are_pretty_printed_once() {
    let mut s = fixtures::state(120, 40);
    let blob: String = "é".repeat(1_000_000);
    let r = req("big", "t", "a", 0, json!({"blob": blob}));
    update(&mut s, Msg::Pending(vec![r]));
    let before = s.detail.as_ref().map(|d| d.lines.as_ptr());
    tick(&mut s, 1);
    key(&mut s, 'J');
    assert_eq!(s.detail.as_ref().map(|d| d.lines.as_ptr()), before);
    assert_eq!(s.detail_scroll, 1);
}

#[test]
fn a_double_press_never_decides_the_next_request_unseen() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    let done = decided(
        s.entries["req-1"].req.clone(),
        Outcome::Approved,
        Scope::Once,
        "alice",
    );
    update(
        &mut s,
        Msg::Decided {
            id: "req-1".into(),
            result: Ok(done),
        },
    );
    assert_eq!(s.selected.as_deref(), Some("req-2"));
    // The first press on the request that slid under the cursor only says so.
    assert!(key(&mut s, 'a').is_empty());
    assert!(
        message(&s).contains("cursor moved to email.send"),
        "{}",
        message(&s)
    );
    assert!(matches!(s.entries["req-2"].local, Local::Idle));
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");

    // Moving explicitly clears the guard; so does nothing else.
    let mut s = loaded(80, 24);
    let mut r1 = s.entries["req-1"].req.clone();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    tick(&mut s, 6);
    assert!(s.moved);
    key(&mut s, 'j');
    key(&mut s, 'k');
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");
}

#[test]
fn the_detail_view_closes_when_its_request_leaves() {
    let mut s = loaded(80, 24);
    code(&mut s, KeyCode::Enter);
    key(&mut s, 'a');
    let done = decided(
        s.entries["req-1"].req.clone(),
        Outcome::Approved,
        Scope::Once,
        "alice",
    );
    update(
        &mut s,
        Msg::Decided {
            id: "req-1".into(),
            result: Ok(done),
        },
    );
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn a_request_born_decided_goes_to_history_not_the_queue() {
    let mut s = loaded(120, 30);
    let before = s.entries.len();
    let born = decided(
        req("born", "shell.exec", "ops", 0, json!({"argv": ["rm", "/"]})),
        Outcome::Rejected,
        Scope::Once,
        "policy:never-rm-root",
    );
    let fx = update(&mut s, event(EventKind::RequestCreated, 9, born));
    assert_eq!(s.entries.len(), before, "never enters the queue");
    assert!(!fx.contains(&Effect::Bell), "nothing to ring for");
    assert!(s.history.iter().any(|r| r.id == "born"));
}
