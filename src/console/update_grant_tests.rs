//! Unit tests of `update` for grants that end (issue 15): `A` and `c` confirmations offer
//! 1 h, 8 h or until revoked, the decision carries the duration chosen, and a grant that
//! ends by itself is shown so on the Grants tab.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{self, frame, loaded, now, press as key};
use super::model::{Mode, Tab};
use super::update::update;
use crate::protocol::{DecisionBody, Event, EventKind, Scope};

fn decision(fx: &[Effect]) -> &DecisionBody {
    match fx {
        [Effect::SendDecision { body, .. }] => body,
        other => panic!("expected one SendDecision, got {other:?}"),
    }
}

#[test]
fn a_grant_confirmation_offers_durations_and_sends_the_one_chosen() {
    for (k, ttl) in [('y', None), ('1', Some(3600)), ('8', Some(8 * 3600))] {
        let mut s = loaded(100, 30);
        key(&mut s, 'A');
        let screen = frame(&mut s);
        assert!(
            screen.contains("y: until revoked · 1: 1 h · 8: 8 h"),
            "{screen}"
        );
        assert!(screen.contains("y, 1 or 8 confirms"), "{screen}");
        let body = decision(&key(&mut s, k)).clone();
        assert_eq!((body.scope, body.grant_ttl_seconds), (Scope::Always, ttl));
        assert_eq!(body.grant_max_uses, None);
    }
    // The same in the conversation's confirmation.
    let mut s = loaded(100, 30);
    key(&mut s, 'c');
    let body = decision(&key(&mut s, '8')).clone();
    assert_eq!(
        (body.scope, body.grant_ttl_seconds),
        (Scope::Conversation, Some(8 * 3600))
    );
}

#[test]
fn a_duration_key_confirms_only_a_grant_and_only_on_screen() {
    let mut s = loaded(100, 30);
    // Once: no confirmation, no duration.
    let body = decision(&key(&mut s, 'a')).clone();
    assert_eq!((body.scope, body.grant_ttl_seconds), (Scope::Once, None));
    // A revocation's confirmation takes `y` only: `1` cancels it.
    let g = fixtures::grant("g1", "order_tools.process_refund", "order-manager");
    update(&mut s, Msg::Grants(vec![g]));
    s.tab = Tab::Grants;
    key(&mut s, 'd');
    assert!(matches!(s.mode, Mode::Confirm(_)));
    assert!(key(&mut s, '1').is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    // A confirmation not drawn yet confirms nothing, whatever the key.
    let mut s = loaded(100, 30);
    key(&mut s, 'A');
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('1'), KeyModifiers::NONE)),
    );
    assert!(fx.is_empty(), "{fx:?}");
    assert!(matches!(s.mode, Mode::Confirm(_)), "stays open, to be read");
}

#[test]
fn a_grant_that_ends_is_shown_expired_on_the_grants_tab() {
    let mut s = loaded(100, 30);
    let mut g = fixtures::grant("g1", "order_tools.process_refund", "order-manager");
    g.expires_at = Some(now() + chrono::TimeDelta::minutes(45));
    g.max_uses = Some(5);
    g.uses = 2;
    update(&mut s, Msg::Grants(vec![g.clone()]));
    s.tab = Tab::Grants;
    let screen = frame(&mut s);
    assert!(screen.contains("45m 2/5 uses"), "{screen}");
    let mut ended = g;
    ended.expired_at = Some(now());
    let ev = Event {
        seq: 9,
        kind: EventKind::GrantExpired,
        at: now(),
        request: None,
        grant: Some(ended),
        database_id: None,
    };
    update(&mut s, Msg::Event(Box::new(ev.clone().into())));
    assert_eq!(s.grants().len(), 1, "kept in sight");
    let screen = frame(&mut s);
    assert!(screen.contains("expired"), "{screen}");
    // An event of a grant not held adds nothing.
    let other = Event {
        grant: Some(fixtures::grant("g2", "x", "y")),
        ..ev
    };
    update(&mut s, Msg::Event(Box::new(other.into())));
    assert_eq!(s.grants().len(), 1);
}
