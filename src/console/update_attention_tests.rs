//! Unit tests of how `update` calls the reviewer (the bell and the desktop notification,
//! by focus) and of escalated requests in the queue (marked, and first by age).

use serde_json::json;

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{self, event, listed, loaded, now, req};
use super::model::{SortKey, State};
use super::update::update;
use crate::protocol::{EventKind, Risk};

fn arrival(s: &mut State, id: &str, seq: u64) -> Vec<Effect> {
    let mut r = req(
        id,
        "order_tools.process_refund",
        "order-manager",
        0,
        json!({}),
    );
    r.risk = Some(Risk::High);
    update(s, event(EventKind::RequestCreated, seq, r))
}

fn bells(fx: &[Effect]) -> usize {
    fx.iter().filter(|f| **f == Effect::Bell).count()
}

fn notices(fx: &[Effect]) -> Vec<(String, String)> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Notify { title, body } => Some((title.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn with_focus_unknown_only_an_arrival_into_an_empty_queue_calls() {
    let mut s = loaded(80, 24);
    assert_eq!(s.focus, None);
    assert!(
        arrival(&mut s, "n1", 10).is_empty(),
        "the queue was not empty"
    );
    let mut empty = fixtures::state(80, 24);
    update(&mut empty, listed(vec![]));
    let fx = arrival(&mut empty, "n1", 10);
    assert_eq!(bells(&fx), 1);
    assert_eq!(notices(&fx).len(), 1);
}

#[test]
fn without_focus_every_arrival_rings_and_notifies() {
    let mut s = loaded(80, 24);
    assert!(update(&mut s, Msg::Focus(false)).is_empty());
    assert_eq!(s.focus, Some(false));
    for (i, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let fx = arrival(&mut s, id, 10 + i as u64);
        assert_eq!(bells(&fx), 1, "{id}: {fx:?}");
        let n = notices(&fx);
        assert_eq!(n.len(), 1, "{id}: {fx:?}");
        assert_eq!(n[0].0, "assent: approval requested");
        assert_eq!(
            n[0].1,
            "order-manager asks to run order_tools.process_refund (high risk)"
        );
    }
    // A replayed arrival of a request already queued calls nobody.
    assert!(arrival(&mut s, "n1", 20).is_empty());
    // Back at the console: the rest arrive in front of the reviewer.
    update(&mut s, Msg::Focus(true));
    assert!(arrival(&mut s, "n4", 21).is_empty());
}

#[test]
fn the_settings_turn_each_call_off() {
    let mut s = loaded(80, 24);
    update(&mut s, Msg::Focus(false));
    s.desktop_notify = false;
    let fx = arrival(&mut s, "n1", 10);
    assert_eq!((bells(&fx), notices(&fx).len()), (1, 0));
    s.bell = false;
    s.desktop_notify = true;
    let fx = arrival(&mut s, "n2", 11);
    assert_eq!((bells(&fx), notices(&fx).len()), (0, 1));
}

#[test]
fn an_escalated_request_is_marked_and_sorts_first_by_age_only() {
    let mut s = loaded(120, 30);
    assert_eq!(s.queue().sort(), SortKey::Age);
    let ids: Vec<String> = s.queue().shown_ids().map(str::to_owned).collect();
    let newest = ids.last().cloned().unwrap();
    let mut r = s.queue().get(&newest).unwrap().request();
    assert!(!r.is_escalated());
    r.escalated_at = Some(now());
    let fx = update(&mut s, event(EventKind::RequestEscalated, 50, r));
    assert!(
        fx.is_empty(),
        "an escalation is the backend's notice: {fx:?}"
    );
    let shown: Vec<&str> = s.queue().shown_ids().collect();
    assert_eq!(shown[0], newest, "escalated first: {shown:?}");
    assert_eq!(shown[1..], ids[..ids.len() - 1]);
    assert!(s.queue().get(&newest).unwrap().req().is_escalated());
    // The other sorts keep their own order.
    s.queue_mut().set_sort(SortKey::Expiry);
    let by_expiry = s.queue().shown_ids().count();
    s.queue_mut().set_sort(SortKey::Age);
    assert_eq!(s.queue().shown_ids().next(), Some(newest.as_str()));
    assert_eq!(by_expiry, ids.len());
    // An escalation of a request the queue does not hold adds nothing.
    let mut stranger = req("gone", "t", "a", 0, json!({}));
    stranger.escalated_at = Some(now());
    update(&mut s, event(EventKind::RequestEscalated, 51, stranger));
    assert!(!s.queue().contains("gone"));
    // Arrivals after it still go after it.
    update(&mut s, Msg::Focus(true));
    arrival(&mut s, "late", 52);
    assert_eq!(s.queue().shown_ids().next(), Some(newest.as_str()));
    assert_eq!(s.queue().shown_ids().last(), Some("late"));
}
