//! Unit tests of requests that need several approvals in the console: `1/2` on the row
//! and who approved in the detail, a partial approval's answer keeping the row, and a
//! reviewer who approved already given no decision keys.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::action::Msg;
use super::effect::Effect;
use super::fixtures::{self, answer, entry, event, frame, listed, now, press, req, reviewer};
use super::model::{Local, State};
use super::update::update;
use crate::protocol::{Approval, ApprovalRequest, EventKind, Scope, Status};

fn two_person() -> ApprovalRequest {
    let mut r = req(
        "r2",
        "order_tools.process_refund",
        "order-manager",
        30,
        json!({"order_id": "A-1", "amount": 900}),
    );
    r.approvals_required = 2;
    r
}

fn approved_by(mut r: ApprovalRequest, who: &str) -> ApprovalRequest {
    r.approvals.push(Approval {
        responder: who.into(),
        approved_at: now(),
        scope: Scope::Once,
        reason: None,
        grant_ttl_seconds: None,
        grant_max_uses: None,
    });
    r
}

fn console(me: &str, r: ApprovalRequest) -> State {
    let mut s = fixtures::state(120, 30);
    s.me = Some(reviewer(me));
    update(&mut s, listed(vec![r]));
    s
}

fn sent(fx: &[Effect]) -> bool {
    fx.iter().any(|f| matches!(f, Effect::SendDecision { .. }))
}

#[test]
fn the_row_shows_how_many_of_how_many_and_the_detail_who() {
    let mut s = console("bob", two_person());
    assert!(frame(&mut s).contains("0/2 "), "{}", frame(&mut s));
    update(
        &mut s,
        event(
            EventKind::RequestApprovalAdded,
            9,
            approved_by(two_person(), "alice"),
        ),
    );
    let screen = frame(&mut s);
    assert!(screen.contains("1/2 "), "{screen}");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let screen = frame(&mut s);
    assert!(screen.contains("approvals"), "{screen}");
    assert!(screen.contains("alice"), "{screen}");
    assert!(screen.contains("waiting on 1 more"), "{screen}");
}

#[test]
fn a_partial_approval_keeps_the_row_waiting_on_someone_else() {
    let mut s = console("alice", two_person());
    let fx = press(&mut s, 'a');
    assert!(sent(&fx), "{fx:?}");
    update(&mut s, answer("r2", Ok(approved_by(two_person(), "alice"))));
    let e = entry(&s, "r2");
    assert_eq!(*e.local(), Local::Idle);
    assert_eq!(e.req().status, Status::Pending);
    let screen = frame(&mut s);
    assert!(
        screen.contains("1/2 you approved; waiting on 1 more reviewer"),
        "{screen}"
    );
    assert!(screen.contains("waiting on another reviewer"), "{screen}");
    // No decision key acts on it here any more: not approve, not reject, not a grant.
    for c in ['a', 'r', 'A', 'c', 'e'] {
        let fx = press(&mut s, c);
        assert!(!sent(&fx), "{c}: {fx:?}");
        let said = s
            .message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        assert!(said.contains("You approved this already"), "{c}: {said}");
    }
}

#[test]
fn another_reviewer_still_decides_it() {
    let mut s = console("bob", approved_by(two_person(), "alice"));
    let fx = press(&mut s, 'a');
    assert!(sent(&fx), "{fx:?}");
}

#[test]
fn a_409_for_an_approval_given_elsewhere_keeps_the_row_waiting() {
    // Bob approved from the CLI; his console did not know yet.
    let mut s = console("bob", two_person());
    let fx = press(&mut s, 'a');
    assert!(sent(&fx), "{fx:?}");
    let err = fixtures::api_error(
        409,
        "already_approved",
        "bob approved it already",
        Some(approved_by(two_person(), "bob")),
    );
    update(&mut s, answer("r2", Err(err)));
    let e = entry(&s, "r2");
    assert_eq!(*e.local(), Local::Idle);
    assert!(!e.local().is_ended());
    assert!(
        frame(&mut s).contains("1/2 you approved"),
        "{}",
        frame(&mut s)
    );
}
