//! Decisions: whether the request can be decided now, the decision sent with the hash of
//! the parameters on screen, and what its answer (or a revocation's) does to the state.
//! Changes when how a decision is sent or answered changes.

use super::super::effect::Effect;
use super::super::keymap::Action;
use super::super::model::{Extra, Full, Level, Local, State};
use super::super::view;
use super::super::words::{
    already_approved, decision_words, ended_note, no_longer_decidable, not_on_screen,
    outcome_words, params_not_shown, too_small_refusal, waiting_words,
};
use crate::client::ClientError;
use crate::protocol::{ApprovalRequest, DecisionBody, Grant, Scope, Verdict};
use crate::sanitize;

/// Whether request `id` can be decided now; otherwise says why not. Past its expiry by
/// this clock is not enough to refuse: the backend's clock decides (it answers 409 if the
/// request has expired there).
pub(super) fn check_decidable(state: &mut State, id: &str) -> bool {
    let Some(e) = state.queue().get(id) else {
        state.say(Level::Warn, "That request is no longer in the queue");
        return false;
    };
    match e.local() {
        Local::Sending { .. } => {
            state.say(
                Level::Warn,
                "A decision on this request is already on its way",
            );
            false
        }
        Local::Ended { note, .. } => {
            let text = no_longer_decidable(note);
            state.say(Level::Warn, text);
            false
        }
        Local::Idle | Local::Failed { .. } if state.waits_on_others(e.req()) => {
            let text = already_approved(e.req());
            state.say(Level::Warn, text);
            false
        }
        Local::Idle | Local::Failed { .. } => true,
    }
}

/// Why no decision can be made at this terminal size, if none can: below the smallest
/// size that shows the selected row, its tool and the decision keys, the screen says only
/// that it is too small, so nothing on it can be decided.
pub(super) fn too_small(state: &State) -> Option<String> {
    let (w, h) = view::min_size(&state.keymap);
    (state.width < w || state.height < h).then(|| too_small_refusal(w, h))
}

/// Whether `key` may act on `subject` (a request or grant id) of the open reason prompt or
/// confirmation: only when the last frame showed that prompt or confirmation.
pub(super) fn may_act(state: &State, subject: &str, key: &str) -> Result<(), String> {
    if let Some(text) = too_small(state) {
        return Err(text);
    }
    if state.drawn.asked.as_deref() != Some(subject) {
        return Err(not_on_screen(key));
    }
    Ok(())
}

/// Whether the parameters of request `id` (under the cursor) are held in full and were so
/// in the last frame drawn; otherwise says why no decision is made with `key`, and tries a
/// failed fetch of them again. A request listed without its parameters is decided only on
/// those fetched in full, and only once they were on screen.
pub(super) fn params_shown(state: &mut State, id: &str, key: &str) -> bool {
    if state.params_held(id) && state.drawn.params {
        return true;
    }
    if state
        .queue()
        .get(id)
        .is_some_and(|e| e.left_out().is_none())
    {
        state.say(
            Level::Warn,
            "Not decided: its params cannot be read (not JSON): nothing is decided on them",
        );
        return false;
    }
    let size = state.full_of(id).map_or(0, Full::size);
    let text = params_not_shown(size, state.full_of(id).map(Full::fetch), key);
    // A failed fetch is started again (the words above say so).
    state.retry_full();
    state.say(Level::Warn, text);
    false
}

/// Sends a decision on request `id`, with the args_hash of the parameters shown (and,
/// for a grant, how long it lasts; for an edit, the params approved instead).
pub(super) fn send(
    state: &mut State,
    id: &str,
    verdict: Verdict,
    scope: Scope,
    extra: Extra,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    // Checked again: the request may have expired or been decided while a confirmation
    // or the reason input was open.
    if !check_decidable(state, id) {
        return;
    }
    let Some(e) = state.queue().get(id) else {
        return;
    };
    let notify_agent = e.notify();
    // Never the hash of parameters left out of a list: of those fetched in full, or none.
    let Some(args_hash) = state.decision_hash(id).map(str::to_owned) else {
        let size = state.full_of(id).map_or(0, Full::size);
        let text = params_not_shown(size, state.full_of(id).map(Full::fetch), "the key");
        state.say(Level::Warn, text);
        return;
    };
    let body = DecisionBody {
        outcome: verdict,
        scope,
        reason,
        notify_agent,
        args_hash,
        grant_ttl_seconds: extra.grant_ttl.filter(|_| scope != Scope::Once),
        grant_max_uses: None,
        params: extra.params,
    };
    state
        .queue_mut()
        .set_local(id, Local::Sending { verdict, scope });
    fx.push(Effect::SendDecision {
        id: id.to_owned(),
        body,
    });
}

pub(super) fn on_decided(
    state: &mut State,
    id: String,
    result: Result<ApprovalRequest, ClientError>,
) {
    let now = state.now;
    match result {
        // One approval of several: the request stays, waiting on another reviewer.
        Ok(req) if !req.status.is_final() && state.queue().contains(&id) => {
            let text = format!("{}: {}", sanitize::line(&req.tool), waiting_words(&req));
            let queue = state.queue_mut();
            queue.set_local(&id, Local::Idle);
            queue.renew(req);
            state.say(Level::Info, text);
        }
        Ok(mut req) => {
            let left_out = state.queue_mut().remove(&id).and_then(|e| e.left_out());
            held_as_listed(&mut req, left_out);
            let words = match &req.decision {
                Some(d) => decision_words(d),
                None => req.status.to_string(),
            };
            state.say(
                Level::Info,
                format!("{}: {words}", sanitize::line(&req.tool)),
            );
            state.history_mut().add(req);
        }
        // Still pending (this reviewer gave one of the approvals it needs already, say
        // from the CLI): the row stays, waiting on someone else, not ended.
        Err(ClientError::Api {
            status: 409,
            request: Some(req),
            ..
        }) if !req.status.is_final() && state.queue().contains(&id) => {
            let text = format!("{}: {}", sanitize::line(&req.tool), waiting_words(&req));
            let queue = state.queue_mut();
            queue.set_local(&id, Local::Idle);
            queue.renew(*req);
            state.say(Level::Warn, text);
        }
        Err(ClientError::Api {
            status: 409,
            request: Some(req),
            message,
            ..
        }) => {
            let note = ended_note(&req);
            let text = match &req.decision {
                Some(_) => format!(
                    "Too late: {} was {}",
                    sanitize::line(&req.tool),
                    outcome_words(&req)
                ),
                None => format!("Too late: {} ({})", note, sanitize::line(&message)),
            };
            state.say(Level::Error, text);
            if state.queue().contains(&id) {
                state.queue_mut().renew((*req).clone());
                state.queue_mut().end(&id, note, now);
            }
            if req.status.is_final() {
                let left_out = state.queue().get(&id).and_then(|e| e.left_out());
                let mut req = *req;
                held_as_listed(&mut req, left_out);
                state.history_mut().add(req);
            }
        }
        Err(ClientError::Api {
            status: 404,
            message,
            ..
        }) => {
            let note = "no longer on the backend".to_owned();
            state.say(
                Level::Error,
                format!("Not decided: {}", sanitize::line(&message)),
            );
            state.queue_mut().end(&id, note, now);
        }
        Err(err) => on_failed(state, &id, &err),
    }
}

/// The backend answers a decision with the whole request: a request listed without its
/// parameters (`left_out`, their size) goes to the history without them too, so the
/// History tab holds no more than the list did (the detail fetches them again).
fn held_as_listed(req: &mut ApprovalRequest, left_out: Option<u64>) {
    if let Some(size) = left_out {
        req.params = serde_json::Value::Null;
        req.params_truncated = true;
        req.params_size = Some(size);
    }
}

/// A decision that did not get an answer from the backend (network, 5xx, other errors).
fn on_failed(state: &mut State, id: &str, err: &ClientError) {
    // Only a refused connection proves the decision never reached the backend; a
    // timeout or a broken connection may have delivered it.
    let unknown = matches!(err, ClientError::Network { detail, .. }
        if detail != crate::client::CONNECT_FAILED);
    let error = match err {
        ClientError::Network { detail, .. } if unknown => detail.clone(),
        _ => err.to_string(),
    };
    let error = sanitize::line(&error).into_owned();
    let refresh = state.keymap.label(Action::Refresh);
    let text = if unknown {
        format!(
            "Outcome unknown ({error}): the backend may have received it; refresh \
             ({refresh}) or decide again"
        )
    } else if err.is_transient() {
        format!("Not decided: {error}; it is still pending: decide again to retry")
    } else {
        format!("Not decided: {error}")
    };
    state.say(Level::Error, text);
    // The event of its end may have come while the decision was on its way.
    let ended = state
        .queue()
        .get(id)
        .filter(|e| e.req().status.is_final())
        .map(|e| ended_note(e.req()));
    let now = state.now;
    match ended {
        Some(note) => state.queue_mut().end(id, note, now),
        // Refused before the backend took it, for a reason that passes (no connection, a
        // 5xx): the mark goes once the backend answers again.
        None if !unknown && err.is_transient() => state.queue_mut().set_unsent(id, error),
        None => state
            .queue_mut()
            .set_local(id, Local::Failed { error, unknown }),
    }
}

pub(super) fn on_revoked(state: &mut State, grant_id: &str, result: Result<Grant, ClientError>) {
    match result {
        Ok(g) => {
            state.grants_mut().remove(grant_id);
            state.say(
                Level::Info,
                format!(
                    "Revoked the {} grant for {} from {}",
                    g.scope,
                    sanitize::line(&g.tool),
                    sanitize::line(&g.agent)
                ),
            );
        }
        Err(e) => state.say(
            Level::Error,
            format!(
                "Could not revoke the grant: {}",
                sanitize::line(&e.to_string())
            ),
        ),
    }
}
