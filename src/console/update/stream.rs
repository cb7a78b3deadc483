//! What the backend says, taken into the state: pages of the pending list, and the events
//! of the stream (filed, escalated, decided, expired, cancelled; grants made and revoked). Changes
//! when the backend says something new.

use super::super::effect::Effect;
use super::super::model::{Local, State};
use super::super::streamed::Streamed;
use super::super::words::{arrival_notice, ended_note, waiting_notice};
use crate::protocol::{ApprovalRequest, EventKind};

/// Takes one page of the list of pending requests; after the last one, calls the reviewer
/// (bell, desktop notification) if the list brought requests into a queue that was empty.
pub(super) fn on_pending(
    state: &mut State,
    list: Vec<ApprovalRequest>,
    first: bool,
    last: bool,
    fx: &mut Vec<Effect>,
) {
    let now = state.now;
    let Some(was_empty) = state.queue_mut().take_page(list, first, last, now) else {
        return;
    };
    if state.loaded && was_empty && !state.queue().is_empty() {
        let (title, body) = waiting_notice(state.queue().pending_count());
        call_attention(state, title, body, fx);
    }
    state.loaded = true;
}

/// Rings the bell and asks for a desktop notification, as far as the settings let.
fn call_attention(state: &State, title: String, body: String, fx: &mut Vec<Effect>) {
    if state.bell {
        fx.push(Effect::Bell);
    }
    if state.desktop_notify {
        fx.push(Effect::Notify { title, body });
    }
}

/// Whether a request arriving now should call the reviewer: always while the terminal
/// is known not to have focus (nobody is looking), else only into an empty queue (a
/// reviewer at the console sees the rest arrive; a terminal that does not report focus
/// keeps this, the older rule).
fn calls_attention(state: &State, was_empty: bool) -> bool {
    was_empty || state.focus == Some(false)
}

/// Takes in a stream event. It stays in its box: only its request (its parameters kept as
/// text: a queued request keeps them so) or its grant is taken out.
pub(super) fn on_event(state: &mut State, mut ev: Box<Streamed>, fx: &mut Vec<Effect>) {
    match ev.kind {
        EventKind::RequestCreated => {
            let (Some(req), params) = ev.take_request() else {
                return;
            };
            // Born decided (by a grant or the policy): it never waits, but the History
            // tab must show what was let through or refused without a person.
            if req.status.is_final() {
                let text = params.unwrap_or_else(|| "null".into());
                state.history_mut().add_text(req, text, None);
                return;
            }
            if state.queue().contains(&req.id) {
                return;
            }
            let was_empty = state.queue().is_empty();
            let text = params.unwrap_or_else(|| "null".into());
            let notice = calls_attention(state, was_empty).then(|| arrival_notice(&req));
            state.queue_mut().insert_text(req, text);
            if let Some((title, body)) = notice {
                call_attention(state, title, body, fx);
            }
        }
        EventKind::RequestEscalated | EventKind::RequestApprovalAdded => {
            // The row is marked (escalated: and sorts first by age; an approval: `1/2`
            // and who): the newer copy says so.
            if let (Some(req), _) = ev.take_request()
                && state.queue().contains(&req.id)
            {
                state.queue_mut().renew(req);
            }
        }
        EventKind::RequestDecided | EventKind::RequestExpired | EventKind::RequestCancelled => {
            let (Some(req), params) = ev.take_request() else {
                return;
            };
            let (now, queue) = (state.now, state.queue_mut());
            let sending = queue
                .get(&req.id)
                .map(|e| matches!(e.local(), Local::Sending { .. }));
            if let Some(sending) = sending {
                // After filing only the status and the decision change: no need to copy
                // the rest (the parameters can be large) for a row that is leaving.
                queue.set_outcome(&req.id, req.status, req.decision.as_deref());
                // Our own decision in flight: its answer will settle the row (success or
                // 409), not the event, which may arrive first.
                if !sending {
                    queue.end(&req.id, ended_note(&req), now);
                }
            }
            if req.status.is_final() {
                let text = params.unwrap_or_else(|| "null".into());
                state.history_mut().add_text(req, text, Some(ev.at));
            }
        }
        EventKind::GrantCreated => {
            if let Some(g) = ev.take_grant() {
                state.grants_mut().add(g);
            }
        }
        EventKind::GrantRevoked => {
            if let Some(g) = ev.take_grant() {
                state.grants_mut().remove(&g.id);
            }
        }
        EventKind::GrantExpired => {
            if let Some(g) = ev.take_grant() {
                state.grants_mut().ended(g);
            }
        }
    }
}
