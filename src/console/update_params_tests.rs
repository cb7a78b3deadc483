//! Unit tests of `update` with requests listed without their parameters (issue 11, point
//! 3): the request shown is fetched in full, nothing is decided before its parameters are
//! on screen, and a decision carries the hash of the full parameters fetched.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{self, decided, frame, listed, req};
use super::model::{Fetch, Mode, State, Tab};
use super::update::update;
use crate::protocol::{ApprovalRequest, DecisionBody, Outcome, Scope, args_hash};

fn press(state: &mut State, code: KeyCode) -> Vec<Effect> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn message(state: &State) -> String {
    state
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

/// A large request as the server has it, and as a list with `params_max_bytes` sends it.
fn big(id: &str, age: i64) -> (ApprovalRequest, ApprovalRequest) {
    let params = json!({"command": "tar czf /backup.tgz /srv", "blob": "x".repeat(200_000)});
    let whole = req(id, "shell.run", "ops", age, params);
    let mut listed = whole.clone();
    let size = serde_json::to_string(&listed.params).unwrap().len() as u64;
    listed.params = Value::Null;
    listed.params_truncated = true;
    listed.params_size = Some(size);
    (whole, listed)
}

fn fetches(fx: &[Effect]) -> Vec<&str> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::FetchRequest { id } => Some(id.as_str()),
            _ => None,
        })
        .collect()
}

fn decision(fx: &[Effect]) -> Option<&DecisionBody> {
    fx.iter().find_map(|f| match f {
        Effect::SendDecision { body, .. } => Some(body),
        _ => None,
    })
}

/// A console at `w`×`h` whose queue is `big` (listed without its params) and a small one.
fn with_big(w: u16, h: u16) -> (State, ApprovalRequest, Vec<Effect>) {
    let mut s = fixtures::state(w, h);
    let (whole, short) = big("big", 100);
    let small = req("small", "t", "a", 10, json!({"x": 1}));
    let fx = update(&mut s, listed(vec![short, small]));
    (s, whole, fx)
}

#[test]
fn a_truncated_row_shown_is_fetched_once_and_says_so() {
    let (mut s, _, fx) = with_big(160, 30);
    assert_eq!(s.queue().selected_id(), Some("big"));
    assert_eq!(fetches(&fx), ["big"], "the request shown is fetched");
    let screen = frame(&mut s);
    assert!(screen.contains("params: 195.4 KiB, loading…"), "{screen}");
    // Other messages do not fetch it again while the fetch is under way.
    let fx = update(&mut s, Msg::Tick(fixtures::now()));
    assert!(fetches(&fx).is_empty(), "{fx:?}");
    // A row listed whole is never fetched.
    let fx = press(&mut s, KeyCode::Char('j'));
    assert_eq!(s.queue().selected_id(), Some("small"));
    assert!(fetches(&fx).is_empty(), "{fx:?}");
    // Unselected, the row says its params are not loaded, and none are held.
    let screen = frame(&mut s);
    assert!(screen.contains("params: 195.4 KiB, not loaded"), "{screen}");
    assert!(s.full_of("big").is_none(), "let go once another is shown");
    // Back on it: fetched again.
    let fx = press(&mut s, KeyCode::Char('k'));
    assert_eq!(fetches(&fx), ["big"]);
}

#[test]
fn no_decision_until_the_full_params_were_on_screen_then_their_hash() {
    let (mut s, whole, _) = with_big(160, 30);
    frame(&mut s);
    for k in ['a', 'r', 'A', 'c'] {
        let fx = press(&mut s, KeyCode::Char(k));
        assert!(decision(&fx).is_none(), "{k}: {fx:?}");
        assert!(matches!(s.mode, Mode::Normal), "{k}: no prompt, no dialog");
        assert!(
            message(&s).contains("are still loading: decide once they are shown"),
            "{k}: {}",
            message(&s)
        );
    }
    // Loaded, but not drawn yet: a key pressed on the "loading…" frame is refused.
    update(
        &mut s,
        Msg::Fetched {
            id: "big".into(),
            result: Ok(whole.clone()),
        },
    );
    let fx = press(&mut s, KeyCode::Char('a'));
    assert!(decision(&fx).is_none(), "{fx:?}");
    assert!(message(&s).contains("just loaded"), "{}", message(&s));
    // On screen: decided, with the hash of the full params fetched.
    let screen = frame(&mut s);
    assert!(screen.contains("tar czf /backup.tgz /srv"), "{screen}");
    assert!(!screen.contains("loading…"), "{screen}");
    let fx = press(&mut s, KeyCode::Char('a'));
    let body = decision(&fx).unwrap_or_else(|| panic!("{fx:?} {}", message(&s)));
    assert_eq!(body.args_hash, args_hash(&whole.params));
    assert_eq!(body.args_hash, whole.args_hash);
    assert_ne!(body.args_hash, args_hash(&Value::Null));

    // The backend's answer holds the params whole; the history keeps the row as listed.
    let done = decided(whole, Outcome::Approved, Scope::Once, "alice");
    update(&mut s, fixtures::answer("big", Ok(done)));
    let h = s.history().get(0).unwrap();
    assert!(h.params_truncated && h.params.is_null(), "{h:?}");
}

#[test]
fn a_failed_fetch_shows_a_mark_and_a_decision_key_fetches_again() {
    let (mut s, whole, _) = with_big(160, 30);
    update(
        &mut s,
        Msg::Fetched {
            id: "big".into(),
            result: Err(fixtures::refused()),
        },
    );
    let screen = frame(&mut s);
    assert!(
        screen.contains("! params: 195.4 KiB, not loaded: cannot reach"),
        "{screen}"
    );
    let fx = press(&mut s, KeyCode::Char('a'));
    assert!(decision(&fx).is_none());
    assert_eq!(fetches(&fx), ["big"], "fetched again");
    assert!(
        message(&s).contains("loading them again"),
        "{}",
        message(&s)
    );
    assert_eq!(s.full_of("big").map(|f| f.fetch()), Some(&Fetch::Loading));
    // Ctrl-r after another failure fetches again too.
    update(
        &mut s,
        Msg::Fetched {
            id: "big".into(),
            result: Err(fixtures::refused()),
        },
    );
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fetches(&fx), ["big"], "{fx:?}");
    update(
        &mut s,
        Msg::Fetched {
            id: "big".into(),
            result: Ok(whole),
        },
    );
    frame(&mut s);
    assert!(decision(&press(&mut s, KeyCode::Char('a'))).is_some());
}

#[test]
fn an_answer_for_a_request_no_longer_shown_is_dropped() {
    let (mut s, whole, _) = with_big(160, 30);
    press(&mut s, KeyCode::Char('j'));
    update(
        &mut s,
        Msg::Fetched {
            id: "big".into(),
            result: Ok(whole),
        },
    );
    assert!(s.full_of("big").is_none());
    // Not held: shown again, it is fetched again and decided only once loaded.
    let fx = press(&mut s, KeyCode::Char('k'));
    assert_eq!(fetches(&fx), ["big"]);
    frame(&mut s);
    assert!(decision(&press(&mut s, KeyCode::Char('a'))).is_none());
}

#[test]
fn copying_params_not_loaded_copies_nothing() {
    let (mut s, _, _) = with_big(160, 30);
    frame(&mut s);
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('Y'), KeyModifiers::SHIFT)),
    );
    assert!(fx.iter().all(|f| !matches!(f, Effect::Copy(_))), "{fx:?}");
    assert!(message(&s).contains("not loaded"), "{}", message(&s));
}

#[test]
fn a_truncated_final_request_in_the_history_is_fetched_for_its_detail() {
    let mut s = fixtures::state(160, 30);
    update(&mut s, listed(vec![]));
    let (whole, short) = big("old", 100);
    let short = decided(short, Outcome::Approved, Scope::Once, "alice");
    update(
        &mut s,
        Msg::History {
            requests: vec![short],
            more: false,
        },
    );
    let fx = press(&mut s, KeyCode::Tab);
    assert_eq!(s.tab, Tab::History);
    assert_eq!(fetches(&fx), ["old"]);
    let screen = frame(&mut s);
    assert!(screen.contains("loading…"), "{screen}");
    let whole = decided(whole, Outcome::Approved, Scope::Once, "alice");
    update(
        &mut s,
        Msg::Fetched {
            id: "old".into(),
            result: Ok(whole),
        },
    );
    let screen = frame(&mut s);
    assert!(screen.contains("params (200057 bytes)"), "{screen}");
    assert!(s.detail().is_some_and(|d| d.has_params()));
}

#[test]
fn a_request_decided_elsewhere_keeps_its_streamed_params_for_the_history_detail() {
    let mut s = fixtures::state(160, 30);
    update(&mut s, listed(vec![]));
    let params = json!({"order_id": "A-77", "amount": 12});
    let r = req("r1", "order_tools.process_refund", "bot", 5, params.clone());
    update(
        &mut s,
        fixtures::event(crate::protocol::EventKind::RequestCreated, 1, r.clone()),
    );
    let done = decided(r, Outcome::Approved, Scope::Once, "bob");
    update(
        &mut s,
        fixtures::event(crate::protocol::EventKind::RequestDecided, 2, done),
    );
    // Kept as the text it came in, parsed for the detail of the one selected.
    assert!(s.history().get(0).is_some_and(|h| h.params.is_null()));
    assert!(s.history().params_text("r1").is_some());
    press(&mut s, KeyCode::Tab);
    let d = s.detail().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&d.params_json()).unwrap(),
        params
    );
    // The filter reads the text too.
    press(&mut s, KeyCode::Char('/'));
    for c in "a-77".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    assert_eq!(s.history().shown_len(), 1);
}
