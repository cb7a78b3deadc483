//! Unit tests of the pure update function: no terminal, no network.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{
    self, ago, answer, api_error, decided, entry, event, listed, loaded, network_error, now, req,
};
use super::keymap::Keymap;
use super::model::{Confirm, Drawn, Local, Mode, SortKey, State, Tab};
use super::update::update;
use super::view::{self, dialog};
use crate::config::KeyBinding;
use crate::protocol::{
    ApprovalRequest, DecisionBody, EventKind, Outcome, Scope, Status, Verdict, args_hash,
};

/// Draws a frame, as the driver does before it reads the next key, and tells `update`
/// what it showed.
fn frame(state: &mut State) {
    let mut t = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
    let mut drawn = Drawn::default();
    t.draw(|f| drawn = view::draw(state, f)).unwrap();
    update(state, Msg::Drawn(drawn));
}

/// A key pressed with the screen in front of the reviewer (a frame drawn first).
fn key(state: &mut State, c: char) -> Vec<Effect> {
    frame(state);
    blind(state, c)
}

/// A key pressed with no frame drawn since the last change.
fn blind(state: &mut State, c: char) -> Vec<Effect> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(state, Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)))
}

/// The ids shown, in order.
fn shown(s: &State) -> Vec<&str> {
    s.queue().shown_ids().collect()
}

/// The `i`-th newest request of the history.
fn history(s: &State, i: usize) -> &ApprovalRequest {
    match s.history().get(i) {
        Some(r) => r,
        None => panic!("the history has no request {i}"),
    }
}

/// The backend's answer to an approval sent for `id`: the whole request (parameters
/// included, as the server sends it), approved once by alice.
fn backend_approved(s: &mut State, id: &str) {
    let done = decided(
        entry(s, id).request(),
        Outcome::Approved,
        Scope::Once,
        "alice",
    );
    update(s, answer(id, Ok(done)));
}

fn code(state: &mut State, code: KeyCode) -> Vec<Effect> {
    frame(state);
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(state: &mut State, s: &str) {
    for c in s.chars() {
        key(state, c);
    }
}

fn select(state: &mut State, id: &str) {
    let i = state.queue().shown_ids().position(|o| o == id).unwrap();
    state.select_index(i);
    assert_eq!(state.queue().selected_id(), Some(id));
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
    assert_eq!(shown(&s), ["req-1", "req-2", "req-3"]);
    assert_eq!(s.queue().selected_id(), Some("req-1"));
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
    assert_eq!(shown(&s)[0], "req-0");
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    assert_eq!(s.queue().selected_index(), Some(2));
    // A snapshot (reconnect or poll) with the same content keeps it too.
    let mut all = fixtures::queue();
    all.push(req(
        "req-0",
        "shell.run",
        "ops",
        9999,
        json!({"command": "ls"}),
    ));
    update(&mut s, listed(all));
    assert_eq!(s.queue().selected_id(), Some("req-2"));
}

#[test]
fn first_arrival_into_an_empty_queue_is_selected_and_rings() {
    let mut s = fixtures::state(80, 24);
    assert!(update(&mut s, listed(vec![])).is_empty());
    let fx = update(
        &mut s,
        event(
            EventKind::RequestCreated,
            1,
            req("r", "t", "a", 0, json!({})),
        ),
    );
    // With the bell, a desktop notification (update_attention_tests.rs has the rest).
    assert_eq!(fx.first(), Some(&Effect::Bell));
    assert!(matches!(fx.get(1), Some(Effect::Notify { .. })), "{fx:?}");
    assert_eq!(fx.len(), 2);
    assert_eq!(s.queue().selected_id(), Some("r"));
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
    assert_eq!(s.queue().shown_len(), 2);

    let mut quiet = fixtures::state(80, 24);
    quiet.bell = false;
    update(&mut quiet, listed(vec![]));
    let fx = update(
        &mut quiet,
        event(
            EventKind::RequestCreated,
            1,
            req("r", "t", "a", 0, json!({})),
        ),
    );
    // No bell; the desktop notification has a setting of its own.
    assert!(!fx.contains(&Effect::Bell), "{fx:?}");
    quiet.desktop_notify = false;
    let fx = update(
        &mut quiet,
        event(
            EventKind::RequestCreated,
            3,
            req("r3", "t", "a", 0, json!({})),
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
    let shown = entry(&s, "req-1").request();
    assert_eq!(body.args_hash, args_hash(&shown.params));
    assert_eq!(body.args_hash, shown.args_hash);
    assert!(matches!(
        entry(&s, "req-1").local(),
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
    assert!(entry(&s, "req-1").notify());
    assert!(!entry(&s, "req-2").notify());
    // Notifying the agent needs a reason to tell it: the approval asks for one.
    assert!(key(&mut s, 'a').is_empty());
    assert!(matches!(
        s.mode,
        Mode::Reason {
            verdict: Verdict::Approve,
            scope: Scope::Once,
            ..
        }
    ));
    typed(&mut s, "refund ok");
    let fx = code(&mut s, KeyCode::Enter);
    let (_, body) = decision(&fx);
    assert!(body.notify_agent);
    assert_eq!(
        (body.outcome, body.reason.as_deref()),
        (Verdict::Approve, Some("refund ok"))
    );
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
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));
    select(&mut s, "req-1");
    assert!(key(&mut s, 'c').is_empty(), "asks first");
    let fx = key(&mut s, 'y');
    assert_eq!(decision(&fx).1.scope, Scope::Conversation);
}

#[test]
fn always_asks_first_and_only_y_confirms() {
    let mut s = loaded(80, 24);
    assert!(key(&mut s, 'A').is_empty());
    assert!(
        matches!(&s.mode, Mode::Confirm(Confirm::Always { id, commands: false }) if id == "req-1")
    );
    let always = Confirm::Always {
        id: "req-1".into(),
        commands: false,
    };
    let (_, q) = dialog::question(&s, &always, 70);
    assert_eq!(
        q[0],
        "every future `order_tools.process_refund` call from `order-manager`"
    );
    // Any other key cancels, and sends nothing.
    assert!(key(&mut s, 'a').is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
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
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));

    key(&mut s, 'r');
    typed(&mut s, "amount too high");
    let fx = code(&mut s, KeyCode::Enter);
    let (id, body) = decision(&fx);
    assert_eq!(id, "req-1");
    assert_eq!(body.outcome, Verdict::Reject);
    assert_eq!(body.reason.as_deref(), Some("amount too high"));

    // A blank reason is refused, as `assent reject` refuses it: the prompt stays open.
    select(&mut s, "req-2");
    key(&mut s, 'r');
    typed(&mut s, "   ");
    assert!(code(&mut s, KeyCode::Enter).is_empty());
    assert!(matches!(&s.mode, Mode::Reason { id, .. } if id == "req-2"));
    assert!(
        message(&s).contains("a rejection needs a reason"),
        "{}",
        message(&s)
    );
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));
    typed(&mut s, "spam");
    let fx = code(&mut s, KeyCode::Enter);
    assert_eq!(decision(&fx).1.reason.as_deref(), Some("spam"));
}

#[test]
fn success_removes_the_row_and_records_history() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    backend_approved(&mut s, "req-1");
    assert!(!s.queue().contains("req-1"));
    assert_eq!(
        s.queue().selected_id(),
        Some("req-2"),
        "cursor stays in place"
    );
    assert_eq!(history(&s, 0).id, "req-1");
    // History keeps the request whole: its detail shows the parameters that were approved.
    assert!(
        history(&s, 0).params.is_object(),
        "{:?}",
        history(&s, 0).params
    );
}

#[test]
fn conflict_says_who_decided_first_and_how() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    let first = decided(
        entry(&s, "req-1").request(),
        Outcome::Rejected,
        Scope::Once,
        "bob",
    );
    // The event of bob's decision may arrive before our answer: the row waits for it.
    update(&mut s, event(EventKind::RequestDecided, 5, first.clone()));
    assert!(matches!(entry(&s, "req-1").local(), Local::Sending { .. }));
    update(
        &mut s,
        answer(
            "req-1",
            Err(api_error(409, "conflict", "already decided", Some(first))),
        ),
    );
    let m = message(&s);
    // A rejection has no scope worth saying.
    assert!(m.contains("was rejected by bob"), "{m}");
    match entry(&s, "req-1").local() {
        Local::Ended { note, .. } => assert_eq!(note, "already rejected by bob"),
        other => panic!("{other:?}"),
    }
    assert!(
        key(&mut s, 'a').is_empty(),
        "an ended row cannot be decided"
    );
    assert_eq!(
        message(&s),
        "This request was already rejected by bob: it can no longer be decided"
    );
    tick(&mut s, 10);
    assert!(!s.queue().contains("req-1"));
    assert_eq!(history(&s, 0).id, "req-1");
}

#[test]
fn network_error_keeps_the_row_with_the_error_and_allows_retry() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    update(&mut s, answer("req-1", Err(fixtures::refused())));
    match entry(&s, "req-1").local() {
        Local::Failed { error, unknown } => {
            assert!(error.contains("connection refused"));
            assert!(!unknown, "a refused connection proves it was not sent");
        }
        other => panic!("{other:?}"),
    }
    assert!(message(&s).contains("retry"));
    let fx = key(&mut s, 'a');
    assert_eq!(decision(&fx).0, "req-1");
}

#[test]
fn a_timed_out_decision_has_an_unknown_outcome() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    update(&mut s, answer("req-1", Err(network_error("timed out"))));
    // The backend may have received it: never "not sent".
    let m = message(&s);
    assert!(m.starts_with("Outcome unknown (timed out)"), "{m}");
    assert!(m.contains("refresh (Ctrl-r) or decide again"), "{m}");
    assert!(!m.contains("not sent") && !m.contains("Not decided"), "{m}");
    match entry(&s, "req-1").local() {
        Local::Failed { error, unknown } => {
            assert_eq!(error, "timed out");
            assert!(unknown);
            assert_eq!(
                super::words::failed_words(error, *unknown, "Ctrl-r"),
                "outcome unknown (timed out); refresh (Ctrl-r) or decide again"
            );
        }
        other => panic!("{other:?}"),
    }
    // It can be decided again (the backend answers 409 if the first one landed).
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-1");
}

#[test]
fn filter_searches_tool_agent_reason_and_params() {
    let mut s = loaded(80, 24);
    key(&mut s, '/');
    typed(&mut s, "jane@");
    assert_eq!(shown(&s), ["req-2"]);
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    code(&mut s, KeyCode::Enter);
    assert!(matches!(s.mode, Mode::Normal));
    assert_eq!(s.queue().filter(), "jane@");
    // Reason and agent match too, case-insensitively.
    key(&mut s, '/');
    code(&mut s, KeyCode::Esc);
    assert_eq!(s.queue().shown_len(), 3);
    key(&mut s, '/');
    typed(&mut s, "NIGHTLY");
    assert_eq!(shown(&s), ["req-3"]);
    code(&mut s, KeyCode::Esc);
    key(&mut s, '/');
    typed(&mut s, "janitor");
    assert_eq!(shown(&s), ["req-3"]);
}

#[test]
fn sort_cycles_age_risk_expiry() {
    let mut s = loaded(80, 24);
    key(&mut s, 's');
    assert_eq!(s.queue().sort(), SortKey::Risk);
    assert_eq!(shown(&s), ["req-3", "req-1", "req-2"]);
    key(&mut s, 's');
    assert_eq!(s.queue().sort(), SortKey::Expiry);
    assert_eq!(shown(&s), ["req-1", "req-2", "req-3"]);
    key(&mut s, 's');
    assert_eq!(s.queue().sort(), SortKey::Age);
    // The selection follows its request through every sort.
    assert_eq!(s.queue().selected_id(), Some("req-1"));
}

#[test]
fn expiry_by_this_clock_only_marks_the_row_expiring() {
    let mut s = loaded(80, 24);
    // req-1 expires 45 s after `now` by this clock; the backend has not said so (its clock
    // may be behind this one).
    tick(&mut s, 46);
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
    assert!(entry(&s, "req-1").expiring(s.now));
    // Long after, it is still there: only the backend's word ends it.
    tick(&mut s, 600);
    assert!(s.queue().contains("req-1"));
    assert_eq!(s.pending_count(), 3);
    // Still decidable: the backend decides whether it is too late.
    let fx = key(&mut s, 'a');
    assert_eq!(decision(&fx).0, "req-1");
    let mut expired = entry(&s, "req-1").request();
    expired.status = Status::Expired;
    update(
        &mut s,
        answer(
            "req-1",
            Err(api_error(
                409,
                "not_pending",
                "the request expired",
                Some(expired),
            )),
        ),
    );
    assert!(matches!(entry(&s, "req-1").local(), Local::Ended { note, .. } if note == "expired"));
    tick(&mut s, 600 + 6);
    assert!(!s.queue().contains("req-1"));
    assert_eq!(
        history(&s, 0).id,
        "req-1",
        "an expired request goes to History"
    );
}

#[test]
fn the_expired_event_ends_an_expiring_row_and_it_goes_to_history() {
    let mut s = loaded(80, 24);
    tick(&mut s, 46);
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Expired;
    update(&mut s, event(EventKind::RequestExpired, 3, r1));
    assert!(key(&mut s, 'a').is_empty());
    assert_eq!(
        message(&s),
        "This request expired: it can no longer be decided"
    );
    tick(&mut s, 46 + 6);
    assert!(!s.queue().contains("req-1"));
    assert_eq!(history(&s, 0).id, "req-1");
}

#[test]
fn a_row_the_backend_lists_as_pending_again_is_kept() {
    let mut s = loaded(80, 24);
    let mut rest = fixtures::queue();
    let gone = rest.remove(1);
    update(&mut s, listed(rest.clone()));
    assert!(matches!(entry(&s, "req-2").local(), Local::Ended { .. }));
    // The next list has it again: the backend says pending, so it stays decidable.
    rest.push(gone);
    update(&mut s, listed(rest));
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));
    tick(&mut s, 10);
    assert!(s.queue().contains("req-2"));
}

#[test]
fn a_paged_list_ends_only_the_rows_the_whole_list_missed() {
    let mut s = loaded(80, 24);
    let mut pages = fixtures::queue();
    assert!(
        pages.len() >= 3,
        "the fixture queue has at least three requests"
    );
    let gone = pages.remove(1);
    let later = pages.split_off(1);
    let new = req("req-new", "email.send", "bot", 1, json!({"n": 1}));
    update(
        &mut s,
        Msg::PendingPage {
            requests: pages,
            first: true,
            last: false,
        },
    );
    // Nothing ends before the last page: the rest of the list may still hold them.
    assert_eq!(s.queue().ended_count(), 0);
    let mut last_page = later;
    last_page.push(new);
    update(
        &mut s,
        Msg::PendingPage {
            requests: last_page,
            first: false,
            last: true,
        },
    );
    // Only the request no page held ends; the ones on the first page stay decidable.
    assert_eq!(s.queue().ended_count(), 1);
    assert!(
        matches!(entry(&s, &gone.id).local(), Local::Ended { note, .. } if note == "no longer pending")
    );
    assert!(matches!(entry(&s, "req-new").local(), Local::Idle));
    assert_eq!(s.queue().shown_len(), s.queue().len());
    assert!(s.queue().shown_ids().any(|id| id == "req-new"));
    // A new list starts afresh: ids seen by an earlier list do not count for it.
    let again = entry(&s, "req-new").request();
    update(
        &mut s,
        Msg::PendingPage {
            requests: vec![],
            first: true,
            last: false,
        },
    );
    update(
        &mut s,
        Msg::PendingPage {
            requests: vec![again],
            first: false,
            last: true,
        },
    );
    assert!(matches!(entry(&s, "req-new").local(), Local::Idle));
    assert_eq!(s.queue().ended_count(), s.queue().len() - 1);
}

#[test]
fn expired_and_cancelled_events_end_the_row() {
    let mut s = loaded(80, 24);
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Expired;
    update(&mut s, event(EventKind::RequestExpired, 3, r1));
    let mut r2 = entry(&s, "req-2").request();
    r2.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 4, r2));
    assert!(matches!(entry(&s, "req-1").local(), Local::Ended { note, .. } if note == "expired"));
    assert!(
        matches!(entry(&s, "req-2").local(), Local::Ended { note, .. } if note.contains("cancelled"))
    );
    select(&mut s, "req-2");
    assert!(key(&mut s, 'r').is_empty());
    assert!(
        matches!(s.mode, Mode::Normal),
        "no reason input for an ended row"
    );
    tick(&mut s, 6);
    assert_eq!(shown(&s), ["req-3"]);
    assert_eq!(s.history().len(), 2);
}

#[test]
fn request_ending_while_reason_is_typed_is_not_sent() {
    let mut s = loaded(80, 24);
    key(&mut s, 'r');
    typed(&mut s, "no");
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    // Still open while typed (the rest of a reason typed blind stays text)...
    typed(&mut s, "pe");
    assert!(matches!(&s.mode, Mode::Reason { input, .. } if input.value() == "nope"));
    // ...and Enter says why nothing is sent, and closes it.
    assert!(code(&mut s, KeyCode::Enter).is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("cancelled"), "{}", message(&s));
}

#[test]
fn decided_elsewhere_while_idle_is_shown_then_leaves() {
    let mut s = loaded(80, 24);
    let r = decided(
        entry(&s, "req-2").request(),
        Outcome::Approved,
        Scope::Always,
        "bob",
    );
    update(&mut s, event(EventKind::RequestDecided, 9, r));
    match entry(&s, "req-2").local() {
        Local::Ended { note, .. } => assert!(note.contains("approved (always) by bob")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn snapshot_ends_rows_that_left_while_offline() {
    let mut s = loaded(80, 24);
    let mut rest = fixtures::queue();
    rest.remove(1);
    update(&mut s, listed(rest));
    assert!(matches!(entry(&s, "req-2").local(), Local::Ended { .. }));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
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
    let g = fixtures::grant("g1", "order_tools.process_refund", "order-manager");
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
    assert!(s.grants().is_empty());
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
    update(&mut s, listed(vec![r]));
    let before = s.detail().map(|d| d.lines.as_ptr());
    tick(&mut s, 1);
    key(&mut s, 'J');
    assert_eq!(s.detail().map(|d| d.lines.as_ptr()), before);
    assert_eq!(s.detail_scroll, 1);
}

#[test]
fn a_double_press_never_decides_the_next_request_unseen() {
    let mut s = loaded(80, 24);
    key(&mut s, 'a');
    backend_approved(&mut s, "req-1");
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    // The first press on the request that slid under the cursor only says so.
    assert!(key(&mut s, 'a').is_empty());
    assert_eq!(
        message(&s),
        "The request under the cursor changed: now email.send from support-bot. Read it, \
         then press a again."
    );
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");

    // Moving explicitly clears the guard; so does nothing else.
    let mut s = loaded(80, 24);
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    tick(&mut s, 6);
    assert!(s.queue().moved());
    key(&mut s, 'j');
    key(&mut s, 'k');
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");
}

/// A queue whose first request just left, so the cursor slid onto req-2 unseen.
fn slid(width: u16, height: u16) -> State {
    let mut s = loaded(width, height);
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    tick(&mut s, 6);
    assert!(s.queue().moved());
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    s
}

#[test]
fn reading_the_detail_clears_the_cursor_moved_guard() {
    // Opening the detail view is reading it.
    let mut s = slid(80, 24);
    code(&mut s, KeyCode::Enter);
    assert!(matches!(s.mode, Mode::Detail));
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");

    // Scrolling in the detail view too.
    let mut s = slid(80, 24);
    s.mode = Mode::Detail;
    key(&mut s, 'j');
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");

    // Scrolling the side pane (J) too.
    let mut s = slid(160, 40);
    key(&mut s, 'J');
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");
}

#[test]
fn notify_is_not_refused_by_the_cursor_moved_guard() {
    let mut s = slid(80, 24);
    assert!(key(&mut s, 'n').is_empty());
    assert!(entry(&s, "req-2").notify(), "n decides nothing: allowed");
    assert!(s.queue().moved(), "but it is not reading: the guard stays");
    assert!(key(&mut s, 'a').is_empty());
    assert!(message(&s).contains("cursor changed"));
}

#[test]
fn the_detail_view_closes_when_its_request_leaves() {
    let mut s = loaded(80, 24);
    code(&mut s, KeyCode::Enter);
    key(&mut s, 'a');
    backend_approved(&mut s, "req-1");
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn a_request_born_decided_goes_to_history_not_the_queue() {
    let mut s = loaded(120, 30);
    let before = s.queue().len();
    let born = decided(
        req("born", "shell.exec", "ops", 0, json!({"argv": ["rm", "/"]})),
        Outcome::Rejected,
        Scope::Once,
        "policy:never-rm-root",
    );
    let fx = update(&mut s, event(EventKind::RequestCreated, 9, born));
    assert_eq!(s.queue().len(), before, "never enters the queue");
    assert!(!fx.contains(&Effect::Bell), "nothing to ring for");
    assert!(s.history().iter().any(|r| r.id == "born"));
}

/// The fixture queue plus more refunds from the same agent: two in conv-77 (one filed
/// with another token, which a grant never covers), one in another conversation.
fn with_siblings() -> State {
    let mut s = loaded(80, 24);
    let base = entry(&s, "req-1").request();
    let sibling = |id: &str, conv: &str, filed_by: &str| {
        let mut r = base.clone();
        r.id = id.into();
        r.conversation_id = Some(conv.into());
        r.filed_by = filed_by.into();
        r.created_at = ago(5);
        r
    };
    for r in [
        sibling("same-conv", "conv-77", "order-manager"),
        sibling("other-token", "conv-77", "someone-else"),
        sibling("other-conv", "conv-88", "order-manager"),
    ] {
        update(&mut s, event(EventKind::RequestCreated, 20, r));
    }
    s
}

#[test]
fn conversation_approval_asks_first_when_it_approves_other_pending_requests() {
    let mut s = with_siblings();
    assert_eq!(s.queue().covered_by("req-1", Scope::Conversation), 1);
    assert_eq!(s.queue().covered_by("req-1", Scope::Always), 2);
    assert!(key(&mut s, 'c').is_empty(), "asks first");
    assert!(matches!(&s.mode, Mode::Confirm(Confirm::Conversation { id, .. }) if id == "req-1"));
    let conv = Confirm::Conversation {
        id: "req-1".into(),
        commands: false,
    };
    let (title, q) = dialog::question(&s, &conv, 70);
    assert!(title.contains("conversation"), "{title}");
    let q = q.join("\n");
    assert!(
        q.contains(
            "Also approves 1 other pending `order_tools.process_refund` call in this conversation"
        ),
        "{q}"
    );
    // Any other key cancels and sends nothing.
    assert!(key(&mut s, 'c').is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("nothing was sent"));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
    key(&mut s, 'c');
    let fx = key(&mut s, 'y');
    let (id, body) = decision(&fx);
    assert_eq!((id, body.scope), ("req-1", Scope::Conversation));

    // The always dialog names what it approves at once too.
    let s = with_siblings();
    let always = Confirm::Always {
        id: "req-1".into(),
        commands: false,
    };
    let (_, q) = dialog::question(&s, &always, 70);
    let q = q.join("\n");
    assert!(
        q.contains("Also approves 2 other pending `order_tools.process_refund` calls at once"),
        "{q}"
    );
}

#[test]
fn conversation_approval_asks_even_when_nothing_else_is_covered() {
    let mut s = with_siblings();
    // Once the sibling in the conversation has ended, only this request is approved now;
    // the grant still approves every later call, so `c` asks all the same.
    let mut sib = entry(&s, "same-conv").request();
    sib.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 21, sib));
    assert_eq!(s.queue().covered_by("req-1", Scope::Conversation), 0);
    assert!(key(&mut s, 'c').is_empty());
    assert!(matches!(
        s.mode,
        Mode::Confirm(Confirm::Conversation { .. })
    ));
    let fx = key(&mut s, 'y');
    assert_eq!(decision(&fx).1.scope, Scope::Conversation);
}

#[test]
fn a_confirmation_closes_when_its_request_ends() {
    for (kind, status) in [
        (EventKind::RequestExpired, Status::Expired),
        (EventKind::RequestCancelled, Status::Cancelled),
    ] {
        let mut s = loaded(80, 24);
        key(&mut s, 'A');
        assert!(matches!(s.mode, Mode::Confirm(_)));
        let mut r1 = entry(&s, "req-1").request();
        r1.status = status;
        update(&mut s, event(kind, 3, r1));
        assert!(matches!(s.mode, Mode::Normal), "{status:?}");
        let m = message(&s);
        assert!(m.starts_with("This request "), "{m}");
        assert!(m.contains("nothing was sent"), "{m}");
        // The `y` meant for the dialog now decides nothing (it copies the id).
        assert!(
            !key(&mut s, 'y')
                .iter()
                .any(|f| matches!(f, Effect::SendDecision { .. }))
        );
    }

    // Decided elsewhere, with the conversation dialog open.
    let mut s = with_siblings();
    key(&mut s, 'c');
    let r = decided(
        entry(&s, "req-1").request(),
        Outcome::Approved,
        Scope::Once,
        "bob",
    );
    update(&mut s, event(EventKind::RequestDecided, 30, r));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(
        message(&s).starts_with("This request was already approved (once) by bob"),
        "{}",
        message(&s)
    );

    // A grant revoked elsewhere closes the revoke dialog.
    let mut s = loaded(80, 24);
    let g = fixtures::grant("g1", "t", "a");
    update(&mut s, Msg::Grants(vec![g]));
    code(&mut s, KeyCode::BackTab);
    key(&mut s, 'd');
    assert!(matches!(s.mode, Mode::Confirm(Confirm::Revoke { .. })));
    update(&mut s, Msg::Grants(vec![]));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("revoked elsewhere"));
}

#[test]
fn the_pending_count_leaves_out_ended_rows() {
    let mut s = loaded(80, 24);
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 3, r1));
    assert_eq!(s.queue().len(), 3);
    assert_eq!(s.pending_count(), 2);
    assert_eq!(s.queue().ended_count(), 1);
}

// ---- Issue 10: the decision-safety contract ----

/// The cursor's request the guard names in its refusal.
const SLID: &str = "The request under the cursor changed: now email.send from support-bot. Read it, \
                    then press r again.";

#[test]
fn after_a_refusal_only_the_same_key_repeats_the_decision() {
    let mut s = slid(80, 24);
    assert!(key(&mut s, 'r').is_empty());
    assert_eq!(message(&s), SLID);
    assert!(matches!(s.mode, Mode::Normal));
    // The reason typed blind: "bad a…": its `a` and an `A` are refused again, naming `r`.
    for c in ['b', 'a', 'd', ' ', 'a', 'A', 'c'] {
        assert!(key(&mut s, c).is_empty(), "{c}");
        assert!(matches!(s.mode, Mode::Normal), "{c}");
    }
    assert_eq!(message(&s), SLID);
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));
    // The same key does what it was pressed for, on the request now read.
    key(&mut s, 'r');
    assert!(matches!(&s.mode, Mode::Reason { id, .. } if id == "req-2"));
}

#[test]
fn the_refusal_names_the_key_as_the_help_shows_it() {
    let mut s = slid(80, 24);
    key(&mut s, 'A');
    assert!(message(&s).ends_with("Read it, then press A again."));
    assert!(matches!(s.mode, Mode::Normal));
    key(&mut s, 'A');
    assert!(matches!(s.mode, Mode::Confirm(Confirm::Always { .. })));
    // Names from the backend are sanitised in the message.
    let mut s = loaded(80, 24);
    // Younger than req-1, older than req-2: next under the cursor once req-1 leaves.
    let evil = req("evil", "t\u{1b}[2J", "a\u{202e}b", 100, json!({}));
    update(&mut s, event(EventKind::RequestCreated, 9, evil));
    key(&mut s, 'a');
    backend_approved(&mut s, "req-1");
    assert_eq!(s.queue().selected_id(), Some("evil"));
    key(&mut s, 'a');
    let m = message(&s);
    assert!(!m.contains('\u{1b}') && !m.contains('\u{202e}'), "{m:?}");
}

#[test]
fn an_arrival_moments_after_the_queue_emptied_under_the_cursor_is_guarded() {
    let mut s = fixtures::state(80, 24);
    update(&mut s, listed(vec![req("r1", "t", "a", 0, json!({}))]));
    key(&mut s, 'a');
    backend_approved(&mut s, "r1");
    assert!(s.queue().is_empty());
    // The second press of a double press meets a request that has just arrived.
    update(
        &mut s,
        event(
            EventKind::RequestCreated,
            2,
            req("r2", "t2", "a", 0, json!({})),
        ),
    );
    assert!(key(&mut s, 'a').is_empty());
    assert!(message(&s).contains("now t2 from a"), "{}", message(&s));

    // An arrival into a queue empty for a while is not: the screen said it was empty.
    let mut s = fixtures::state(80, 24);
    update(&mut s, listed(vec![req("r1", "t", "a", 0, json!({}))]));
    key(&mut s, 'a');
    backend_approved(&mut s, "r1");
    tick(&mut s, 30);
    update(
        &mut s,
        event(
            EventKind::RequestCreated,
            2,
            req("r2", "t2", "a", 0, json!({})),
        ),
    );
    assert_eq!(decision(&key(&mut s, 'a')).0, "r2");
}

#[test]
fn a_filter_the_reviewer_types_chooses_the_row_it_brings_under_the_cursor() {
    let mut s = loaded(80, 24);
    key(&mut s, '/');
    typed(&mut s, "email");
    code(&mut s, KeyCode::Enter);
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    assert!(!s.queue().moved());
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-2");
}

#[test]
fn a_decision_applies_only_to_a_row_drawn_in_the_last_frame() {
    // No frame yet: nothing was on screen.
    let mut s = loaded(80, 24);
    assert!(blind(&mut s, 'a').is_empty());
    assert!(message(&s).starts_with("Nothing decided: that request was not on screen"));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
    // A frame that drew it.
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-1");

    // A resize: until the next frame, the new size has shown nothing.
    let mut s = loaded(80, 24);
    frame(&mut s);
    update(
        &mut s,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    assert!(blind(&mut s, 'a').is_empty());
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-1");

    // A frame that drew another row under the cursor than the one there now.
    let mut s = loaded(80, 24);
    frame(&mut s);
    s.select_index(1);
    assert!(blind(&mut s, 'a').is_empty());
    assert!(matches!(entry(&s, "req-2").local(), Local::Idle));

    // The help drawn over the list: the row under it was not shown.
    let mut s = loaded(80, 24);
    s.mode = Mode::Help { scroll: 0 };
    frame(&mut s);
    assert_eq!(s.drawn.selected, None);

    // The confirmation's `y` needs the confirmation drawn; refused, it stays open.
    let mut s = loaded(80, 24);
    key(&mut s, 'A');
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    assert!(blind(&mut s, 'y').is_empty());
    assert!(matches!(s.mode, Mode::Confirm(Confirm::Always { .. })));
    assert_eq!(decision(&key(&mut s, 'y')).1.scope, Scope::Always);
}

#[test]
fn a_terminal_too_small_to_show_the_row_decides_nothing() {
    assert_eq!(view::min_size(&Keymap::default()), (30, 7));
    for (w, h) in [(30, 6), (29, 7), (12, 40), (200, 3)] {
        let mut s = loaded(w, h);
        for c in ['a', 'c', 'A', 'r'] {
            assert!(key(&mut s, c).is_empty(), "{w}x{h} {c}");
            assert!(matches!(s.mode, Mode::Normal), "{w}x{h} {c}");
        }
        assert_eq!(
            message(&s),
            "Nothing decided: the terminal is too small (needs at least 30×7)"
        );
        assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
        // Keys that decide nothing still work: q quits.
        assert_eq!(key(&mut s, 'q'), vec![Effect::Quit]);
    }
    let mut s = loaded(30, 7);
    assert_eq!(decision(&key(&mut s, 'a')).0, "req-1");
    // A confirmation open when the terminal shrinks waits for it to grow back.
    let mut s = loaded(80, 24);
    key(&mut s, 'A');
    update(
        &mut s,
        Msg::Resize {
            width: 30,
            height: 6,
        },
    );
    assert!(key(&mut s, 'y').is_empty());
    assert!(matches!(s.mode, Mode::Confirm(_)));
    assert!(message(&s).contains("too small"));
    // Longer decision keys need a wider screen.
    let mut o = BTreeMap::new();
    o.insert("approve_once".to_owned(), KeyBinding::One("ctrl-o".into()));
    let wide = view::min_size(&Keymap::with_overrides(&o).unwrap());
    // "Ctrl-o c A r decide  n notify:off  ": five columns more.
    assert_eq!(wide, (35, 7));
}

#[test]
fn a_paste_goes_into_the_open_field_and_nowhere_else() {
    let paste = |s: &mut State, t: &str| update(s, Msg::Paste(t.into()));
    // In the queue: dropped, said so, nothing decided.
    let mut s = loaded(80, 24);
    assert!(paste(&mut s, "a\nA\ny").is_empty());
    assert_eq!(
        message(&s),
        "Paste ignored: paste into the reason (r) or the filter (/)."
    );
    assert!(matches!(s.mode, Mode::Normal));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
    // Over a confirmation: it neither confirms nor cancels.
    key(&mut s, 'A');
    assert!(paste(&mut s, "y").is_empty());
    assert!(matches!(s.mode, Mode::Confirm(_)));
    code(&mut s, KeyCode::Esc);
    // Into the reason: line breaks and tabs are spaces, other controls dropped.
    key(&mut s, 'r');
    assert!(paste(&mut s, "a\nA\ny").is_empty());
    assert!(matches!(&s.mode, Mode::Reason { input, .. } if input.value() == "a A y"));
    paste(&mut s, "\r\nx\ty\r\x1b[2J!");
    assert!(
        matches!(&s.mode, Mode::Reason { input, .. } if input.value() == "a A y x y [2J!"),
        "{:?}",
        s.mode
    );
    // Nothing was sent by the paste; Enter sends what it put in the field.
    let fx = code(&mut s, KeyCode::Enter);
    assert_eq!(decision(&fx).1.reason.as_deref(), Some("a A y x y [2J!"));
    // Into the filter, applied as typed.
    let mut s = loaded(80, 24);
    key(&mut s, '/');
    paste(&mut s, "email\n");
    assert_eq!(s.queue().filter(), "email ");
    assert!(matches!(s.mode, Mode::Filter { .. }));
}

#[test]
fn an_approval_that_notifies_the_agent_needs_a_reason() {
    let mut s = loaded(80, 24);
    key(&mut s, 'n');
    key(&mut s, 'a');
    assert!(matches!(
        s.mode,
        Mode::Reason {
            verdict: Verdict::Approve,
            ..
        }
    ));
    typed(&mut s, "  ");
    assert!(code(&mut s, KeyCode::Enter).is_empty());
    assert!(
        message(&s).contains("notifying the agent needs a reason"),
        "{}",
        message(&s)
    );
    code(&mut s, KeyCode::Esc);
    assert_eq!(message(&s), "Approval cancelled: nothing was sent");
    // Confirmed first, then the reason: a conversation grant that notifies.
    key(&mut s, 'c');
    key(&mut s, 'y');
    assert!(matches!(
        s.mode,
        Mode::Reason {
            verdict: Verdict::Approve,
            scope: Scope::Conversation,
            ..
        }
    ));
    typed(&mut s, "fine for this chat");
    let fx = code(&mut s, KeyCode::Enter);
    let (_, body) = decision(&fx);
    assert_eq!(
        (body.scope, body.notify_agent, body.reason.as_deref()),
        (Scope::Conversation, true, Some("fine for this chat"))
    );
}

#[test]
fn a_grant_for_a_tool_that_runs_commands_is_marked_so() {
    let mut s = fixtures::state(80, 24);
    let mut exec = req(
        "x1",
        "shell.exec",
        "ops",
        5,
        json!({"argv": ["ls"], "cwd": "/"}),
    );
    exec.conversation_id = Some("c1".into());
    update(&mut s, listed(vec![exec]));
    key(&mut s, 'c');
    assert!(matches!(
        s.mode,
        Mode::Confirm(Confirm::Conversation { commands: true, .. })
    ));
    code(&mut s, KeyCode::Esc);
    key(&mut s, 'A');
    let c = match &s.mode {
        Mode::Confirm(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(c, Confirm::Always { commands: true, .. }));
    let (_, q) = dialog::question(&s, &c, 76);
    assert!(
        q.iter().any(|l| l
            == "This covers every command `ops` runs with `shell.exec`, in any conversation, \
                not only this one."),
        "{q:?}"
    );
    // The refund of the fixtures runs no command.
    let mut s = loaded(80, 24);
    key(&mut s, 'A');
    assert!(matches!(
        s.mode,
        Mode::Confirm(Confirm::Always {
            commands: false,
            ..
        })
    ));
}

#[test]
fn not_sent_marks_clear_once_the_backend_answers_again() {
    let mut s = loaded(80, 24);
    update(&mut s, Msg::Conn(super::action::Conn::Live));
    key(&mut s, 'a');
    update(&mut s, answer("req-1", Err(fixtures::refused())));
    assert!(matches!(
        entry(&s, "req-1").local(),
        Local::Failed { unknown: false, .. }
    ));
    select(&mut s, "req-2");
    key(&mut s, 'a');
    update(
        &mut s,
        answer("req-2", Err(fixtures::network_error("timed out"))),
    );
    assert!(matches!(
        entry(&s, "req-2").local(),
        Local::Failed { unknown: true, .. }
    ));
    // Still offline: the marks stay.
    let offline = super::action::Conn::Retrying {
        at: now(),
        error: "down".into(),
    };
    update(&mut s, Msg::Conn(offline));
    assert!(matches!(entry(&s, "req-1").local(), Local::Failed { .. }));
    update(&mut s, Msg::Conn(super::action::Conn::Live));
    assert!(matches!(entry(&s, "req-1").local(), Local::Idle));
    // One that may have arrived keeps saying so: only the backend can tell.
    assert!(matches!(
        entry(&s, "req-2").local(),
        Local::Failed { unknown: true, .. }
    ));
}

#[test]
fn ctrl_r_while_offline_retries_now() {
    let mut s = loaded(80, 24);
    let offline = super::action::Conn::Retrying {
        at: now() + chrono::Duration::seconds(20),
        error: "down".into(),
    };
    update(&mut s, Msg::Conn(offline));
    frame(&mut s);
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, vec![Effect::Refresh]);
    assert_eq!(message(&s), "Retrying now…");
}
