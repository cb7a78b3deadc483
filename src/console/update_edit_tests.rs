//! Unit tests of `update` for edit, then approve (issue 15): `e` asks the driver for the
//! editor on the params shown, the editor's text is checked as a filing's params are, a
//! real change is shown as a diff, and `y` approves exactly the edit, once, with the hash
//! of what was shown.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{frame, loaded};
use super::model::{Confirm, DiffLine, Mode, State};
use super::update::update;
use crate::protocol::{Scope, Verdict, args_hash};

fn key(state: &mut State, c: char) -> Vec<Effect> {
    frame(state);
    update(
        state,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

fn message(state: &State) -> String {
    state
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

fn edited(state: &mut State, text: &str) -> Vec<Effect> {
    update(
        state,
        Msg::Edited {
            id: "req-1".into(),
            result: Ok(text.to_owned()),
        },
    )
}

/// `e` on req-1: the text the editor is given.
fn opened(state: &mut State) -> String {
    match key(state, 'e').as_slice() {
        [Effect::EditParams { id, text }] if id == "req-1" => text.clone(),
        other => panic!("expected the editor, got {other:?}"),
    }
}

#[test]
fn e_opens_the_editor_and_y_approves_exactly_the_edit_once() {
    let mut s = loaded(120, 40);
    let text = opened(&mut s);
    let shown = json!({"order_id": "A-1001", "amount": 250, "currency": "EUR", "note": "damaged"});
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        shown
    );
    assert!(
        text.contains("\n  \"amount\": 250,\n"),
        "pretty JSON: {text}"
    );
    assert!(
        edited(&mut s, &text.replace("250", "25")).is_empty(),
        "asks first"
    );
    let Mode::Confirm(Confirm::Edit { diff, .. }) = &s.mode else {
        panic!("{:?}", s.mode);
    };
    assert!(diff.contains(&DiffLine::Removed("  \"amount\": 250,".into())));
    assert!(diff.contains(&DiffLine::Added("  \"amount\": 25,".into())));
    let screen = frame(&mut s);
    assert!(screen.contains("Approve edited params?"), "{screen}");
    assert!(screen.contains("+   \"amount\": 25,"), "{screen}");
    let fx = key(&mut s, 'y');
    let [Effect::SendDecision { id, body }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(id, "req-1");
    assert_eq!((body.outcome, body.scope), (Verdict::Approve, Scope::Once));
    assert_eq!(
        body.args_hash,
        args_hash(&shown),
        "the hash of what was shown"
    );
    let mut edit = shown;
    edit["amount"] = json!(25);
    assert_eq!(body.params, Some(edit));
    assert_eq!(body.grant_ttl_seconds, None);
}

#[test]
fn an_edit_refused_or_unchanged_sends_nothing() {
    let mut s = loaded(120, 40);
    let text = opened(&mut s);
    for (bad, says) in [
        ("{\"amount\": ", "not valid JSON"),
        (r#"{"amount": 1, "amount": 2}"#, "twice"),
        (r#"{"amount": 12345678901234567890}"#, "2^53"),
    ] {
        assert!(edited(&mut s, bad).is_empty());
        assert!(matches!(s.mode, Mode::Normal), "{:?}", s.mode);
        assert!(message(&s).contains("refused"), "{}", message(&s));
        assert!(message(&s).contains(says), "{}", message(&s));
    }
    // Reformatted, same value: no change.
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap();
    assert!(edited(&mut s, &compact).is_empty());
    assert!(message(&s).contains("not changed"), "{}", message(&s));
    assert!(matches!(s.mode, Mode::Normal));
    // An editor that failed: said, nothing sent.
    let fx = update(
        &mut s,
        Msg::Edited {
            id: "req-1".into(),
            result: Err("the editor exited with exit status: 1".into()),
        },
    );
    assert!(fx.is_empty());
    assert!(message(&s).contains("the editor failed"), "{}", message(&s));
    // Any key but y cancels the diff.
    edited(&mut s, &text.replace("EUR", "USD"));
    assert!(matches!(s.mode, Mode::Confirm(Confirm::Edit { .. })));
    assert!(key(&mut s, 'n').is_empty());
    assert!(matches!(s.mode, Mode::Normal));
}
