//! The state machine: `update(&mut State, Msg) -> Vec<Effect>`. Pure: no IO, no clock, no
//! async; time arrives as `Msg::Tick`. Every behaviour of the console is a unit test here.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::action::{Conn, Msg};
use super::effect::Effect;
use super::keymap::Action;
use super::state::{
    Confirm, Entry, LINGER_SECS, Level, Local, Mode, State, Tab, decision_words, ended_sentence,
    outcome_words,
};
use crate::client::ClientError;
use crate::protocol::{ApprovalRequest, DecisionBody, Event, EventKind, Scope, Status, Verdict};
use crate::sanitize;

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    if !matches!(msg, Msg::Tick(_)) {
        // Anything but the clock may have changed what the next tick has to sweep.
        state.quiet_until = None;
    }
    match msg {
        Msg::Key(key) => on_key(state, key, &mut fx),
        Msg::Resize { width, height } => {
            state.width = width;
            state.height = height;
        }
        Msg::Tick(now) => on_tick(state, now),
        Msg::Conn(c) => state.conn = c,
        Msg::Identity(me) => state.me = Some(me),
        Msg::Pending(list) => on_pending(state, list, true, true, &mut fx),
        Msg::PendingPage {
            requests,
            first,
            last,
        } => on_pending(state, requests, first, last, &mut fx),
        Msg::History { requests, more } => on_history(state, requests, more),
        Msg::Grants(grants) => {
            state.grants = grants.into_iter().filter(|g| g.is_active()).collect();
            state
                .grants
                .sort_by_key(|g| std::cmp::Reverse(g.created_at));
        }
        Msg::Event(ev) => on_event(state, *ev, &mut fx),
        Msg::Decided { id, result } => on_decided(state, id, result),
        Msg::Revoked { grant_id, result } => match result {
            Ok(g) => {
                state.grants.retain(|x| x.id != grant_id);
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
        },
    }
    state.refresh();
    close_ended_confirm(state);
    #[cfg(test)]
    state.assert_ended_in_step();
    fx
}

/// A confirmation whose subject ended while it was open (the request expired, was
/// cancelled or decided elsewhere; the grant was revoked elsewhere) closes and says so,
/// rather than asking about nothing.
fn close_ended_confirm(state: &mut State) {
    let Mode::Confirm(c) = &state.mode else {
        return;
    };
    let text = match c {
        Confirm::Always { id } | Confirm::Conversation { id } => match state.entries.get(id) {
            None => Some("The request left the queue".to_owned()),
            Some(e) => match &e.local {
                Local::Ended { note, .. } => Some(ended_sentence(note)),
                _ => None,
            },
        },
        Confirm::Revoke { grant_id } => (!state.grants.iter().any(|g| &g.id == grant_id))
            .then(|| "The grant was revoked elsewhere".to_owned()),
    };
    if let Some(text) = text {
        state.mode = Mode::Normal;
        state.say(
            Level::Warn,
            format!("{text} while you were asked: nothing was sent"),
        );
    }
}

fn on_tick(state: &mut State, now: chrono::DateTime<chrono::Utc>) {
    state.now = now;
    // Nothing in the queue can leave before `quiet_until` unless a message changed it
    // since the last sweep: an idle console does not walk the whole queue every second.
    if state.quiet_until.is_some_and(|t| now < t) {
        if state.message.as_ref().is_some_and(|m| m.until <= now) {
            state.message = None;
        }
        return;
    }
    // A request past its expiry by this clock is only shown as expiring: the backend's
    // clock is the one that counts (this one may run ahead), and it says when the request
    // expired. Only rows the backend ended leave.
    let linger = chrono::Duration::seconds(LINGER_SECS);
    let mut next: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut gone: Vec<String> = Vec::new();
    for e in state.ended_ids().filter_map(|id| state.entries.get(id)) {
        if let Local::Ended { since, .. } = &e.local {
            if *since + linger <= now {
                gone.push(e.req.id.clone());
            } else {
                let t = *since + linger;
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
    }
    state.quiet_until = Some(next.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC));
    for e in state.remove_entries(&gone) {
        if e.req.status.is_final() {
            state.upsert_history(e.into_request());
        }
    }
    if state.message.as_ref().is_some_and(|m| m.until <= now) {
        state.message = None;
    }
}

/// Takes one page of the list of pending requests (a whole list is one page that is both
/// first and last). Rows the list missed are ended only once its last page arrived: a
/// request on a later page is not gone.
fn on_pending(
    state: &mut State,
    list: Vec<ApprovalRequest>,
    first: bool,
    last: bool,
    fx: &mut Vec<Effect>,
) {
    if first || state.listing.is_none() {
        state.listing = Some(super::state::Listing {
            seen: std::collections::HashSet::new(),
            was_empty: state.entries.is_empty(),
        });
    }
    let mut revive = Vec::new();
    if let Some(listing) = state.listing.as_mut() {
        listing.seen.extend(list.iter().map(|r| r.id.clone()));
    }
    for req in list {
        if req.status != Status::Pending {
            continue;
        }
        match state.entries.get_mut(&req.id) {
            Some(e) => match &e.local {
                // Ended by the backend's word (a final state): that stands.
                Local::Ended { .. } if e.req.status.is_final() => {}
                // Ended only because an earlier list missed it: the backend now says it
                // is pending, and the backend is trusted.
                Local::Ended { .. } => {
                    e.set_req(req);
                    revive.push(e.req.id.clone());
                }
                _ => e.set_req(req),
            },
            None => {
                state
                    .entries
                    .insert(req.id.clone(), Box::new(Entry::new(req)));
            }
        }
    }
    for id in revive {
        state.revive_entry(&id);
    }
    if !last {
        return;
    }
    let Some(listing) = state.listing.take() else {
        return;
    };
    // A whole new list: sorted once, in refresh, rather than placed one by one (and not
    // once per page: until the last page the rows shown are the previous list's).
    state.invalidate_order();
    // Requests that left the pending list while we were not streaming: decided elsewhere,
    // expired or cancelled. Say so, then let them go like any ended row.
    let left: Vec<String> = state
        .entries
        .values()
        .filter(|e| {
            !listing.seen.contains(&e.req.id)
                && matches!(e.local, Local::Idle | Local::Failed { .. })
        })
        .map(|e| e.req.id.clone())
        .collect();
    for id in left {
        state.end_entry(&id, "no longer pending".to_owned());
    }
    if state.loaded && listing.was_empty && !state.entries.is_empty() && state.bell {
        fx.push(Effect::Bell);
    }
    state.loaded = true;
}

fn history_key(r: &ApprovalRequest) -> chrono::DateTime<chrono::Utc> {
    r.decision
        .as_ref()
        .map(|d| d.decided_at)
        .or(r.expires_at.filter(|_| r.status == Status::Expired))
        .unwrap_or(r.created_at)
}

fn on_history(state: &mut State, mut list: Vec<ApprovalRequest>, more: bool) {
    list.retain(|r| r.status.is_final());
    list.sort_by_key(|r| std::cmp::Reverse(history_key(r)));
    let cut = list.len() > super::state::HISTORY_CAP;
    list.truncate(super::state::HISTORY_CAP);
    state.set_history(list);
    state.history_more = more || cut;
}

fn on_event(state: &mut State, ev: Event, fx: &mut Vec<Effect>) {
    match ev.kind {
        EventKind::RequestCreated => {
            let Some(req) = ev.request else { return };
            // Born decided (by a grant or the policy): it never waits, but the History
            // tab must show what was let through or refused without a person.
            if req.status.is_final() {
                state.upsert_history(req);
                return;
            }
            if state.entries.contains_key(&req.id) {
                return;
            }
            let was_empty = state.entries.is_empty();
            state.insert_entry(req);
            if was_empty && state.bell {
                fx.push(Effect::Bell);
            }
        }
        EventKind::RequestDecided | EventKind::RequestExpired | EventKind::RequestCancelled => {
            let Some(req) = ev.request else { return };
            if req.decision.is_none() {
                state.ended_at.insert(req.id.clone(), ev.at);
            }
            if let Some(e) = state.entries.get_mut(&req.id) {
                // After filing only the status and the decision change: no need to copy
                // the rest (the parameters can be large) for a row that is leaving.
                e.req.status = req.status;
                e.req.decision.clone_from(&req.decision);
                // Our own decision in flight: its answer will settle the row (success or
                // 409), not the event, which may arrive first.
                if !matches!(e.local, Local::Sending { .. }) {
                    state.end_entry(&req.id, ended_note(&req));
                }
            }
            if req.status.is_final() {
                state.upsert_history(req);
            }
        }
        EventKind::GrantCreated => {
            if let Some(g) = ev.grant
                && g.is_active()
            {
                state.grants.retain(|x| x.id != g.id);
                state.grants.insert(0, g);
            }
        }
        EventKind::GrantRevoked => {
            if let Some(g) = ev.grant {
                state.grants.retain(|x| x.id != g.id);
            }
        }
    }
}

fn ended_note(req: &ApprovalRequest) -> String {
    match req.status {
        Status::Expired => "expired".to_owned(),
        Status::Cancelled => "cancelled by its agent".to_owned(),
        Status::Pending => "no longer pending".to_owned(),
        _ => format!("already {}", outcome_words(req)),
    }
}

fn on_decided(state: &mut State, id: String, result: Result<ApprovalRequest, ClientError>) {
    match result {
        Ok(req) => {
            state.remove_entry(&id);
            let words = match &req.decision {
                Some(d) => decision_words(d),
                None => req.status.to_string(),
            };
            state.say(
                Level::Info,
                format!("{}: {words}", sanitize::line(&req.tool)),
            );
            state.upsert_history(req);
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
            if let Some(e) = state.entries.get_mut(&id) {
                e.set_req((*req).clone());
                state.end_entry(&id, note);
            }
            if req.status.is_final() {
                state.upsert_history(*req);
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
            state.end_entry(&id, note);
        }
        Err(err) => {
            // Only a refused connection proves the decision never reached the backend; a
            // timeout or a broken connection may have delivered it.
            let unknown = matches!(&err, ClientError::Network { detail, .. }
                if detail != crate::client::CONNECT_FAILED);
            let error = match &err {
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
                .entries
                .get(&id)
                .filter(|e| e.req.status.is_final())
                .map(|e| ended_note(&e.req));
            match ended {
                Some(note) => state.end_entry(&id, note),
                None => {
                    if let Some(e) = state.entries.get_mut(&id) {
                        e.local = Local::Failed { error, unknown };
                    }
                }
            }
        }
    }
}

fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    // Ctrl-C quits from anywhere, whatever the mode.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        fx.push(Effect::Quit);
        return;
    }
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Confirm(c) => {
            if key.code == KeyCode::Char('y') {
                confirmed(state, c, fx);
            } else {
                state.say(Level::Info, "Cancelled: nothing was sent");
            }
        }
        Mode::Reason { id, mut input } => match key.code {
            KeyCode::Enter => {
                let reason = input.value().trim().to_owned();
                let reason = (!reason.is_empty()).then_some(reason);
                send(state, &id, Verdict::Reject, Scope::Once, reason, fx);
            }
            KeyCode::Esc => state.say(Level::Info, "Rejection cancelled: nothing was sent"),
            _ => {
                if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                    input.handle(req);
                }
                state.mode = Mode::Reason { id, input };
            }
        },
        Mode::Filter { mut input } => match key.code {
            KeyCode::Enter => {}
            KeyCode::Esc => state.filter.clear(),
            _ => {
                if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                    input.handle(req);
                }
                state.filter = input.value().to_owned();
                state.mode = Mode::Filter { input };
            }
        },
        Mode::Help { scroll } => {
            let action = state.keymap.action_for(&key);
            match action {
                Some(Action::Down) => state.mode = Mode::Help { scroll: scroll + 1 },
                Some(Action::Up) => {
                    state.mode = Mode::Help {
                        scroll: scroll.saturating_sub(1),
                    }
                }
                Some(Action::PageDown) => {
                    state.mode = Mode::Help {
                        scroll: scroll + 10,
                    }
                }
                Some(Action::PageUp) => {
                    state.mode = Mode::Help {
                        scroll: scroll.saturating_sub(10),
                    }
                }
                // Any other key closes the help.
                _ => {}
            }
        }
        Mode::Detail => {
            state.mode = Mode::Detail;
            let Some(action) = state.keymap.action_for(&key) else {
                return;
            };
            detail_view_key(state, action, fx);
        }
        Mode::Normal => {
            let Some(action) = state.keymap.action_for(&key) else {
                return;
            };
            normal_key(state, action, fx);
        }
    }
}

fn detail_view_key(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let (total, height) = state.detail_extent();
    let max = total.saturating_sub(height);
    let page = height.max(1);
    // Scrolling the detail is reading it: the request under the cursor has been seen.
    if matches!(
        action,
        Action::Down
            | Action::Up
            | Action::ScrollDetailDown
            | Action::ScrollDetailUp
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom
    ) && state.tab == Tab::Pending
    {
        state.moved = false;
    }
    let s = &mut state.detail_scroll;
    match action {
        Action::Back | Action::OpenDetail => state.mode = Mode::Normal,
        Action::Down | Action::ScrollDetailDown => *s = (*s + 1).min(max),
        Action::Up | Action::ScrollDetailUp => *s = s.saturating_sub(1),
        Action::PageDown => *s = (*s + page).min(max),
        Action::PageUp => *s = s.saturating_sub(page),
        Action::Top => *s = 0,
        Action::Bottom => *s = max,
        Action::NextTab | Action::PrevTab => {
            state.mode = Mode::Normal;
            normal_key(state, action, fx);
        }
        other => normal_key(state, other, fx),
    }
}

fn normal_key(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let page = super::layout::list_rows(state.areas().list).max(1);
    let idx = state.current_index();
    match action {
        Action::Quit => fx.push(Effect::Quit),
        Action::Help => state.mode = Mode::Help { scroll: 0 },
        Action::Up => state.select_index(idx.saturating_sub(1)),
        Action::Down => state.select_index(idx + 1),
        Action::Top => state.select_index(0),
        Action::Bottom => state.select_index(usize::MAX),
        Action::PageUp => state.select_index(idx.saturating_sub(page)),
        Action::PageDown => state.select_index(idx.saturating_add(page)),
        // Reading the detail (scrolling it, opening it) counts as having looked at the
        // request under the cursor, as moving onto it does.
        Action::ScrollDetailDown => {
            let (total, height) = state.detail_extent();
            state.detail_scroll = (state.detail_scroll + 1).min(total.saturating_sub(height));
            seen(state);
        }
        Action::ScrollDetailUp => {
            state.detail_scroll = state.detail_scroll.saturating_sub(1);
            seen(state);
        }
        Action::OpenDetail => {
            if state.detail_request().is_some() {
                state.mode = Mode::Detail;
                seen(state);
            }
        }
        Action::Back => {
            if !state.filter.is_empty() {
                state.filter.clear();
                state.say(Level::Info, "Filter cleared");
            }
        }
        Action::NextTab | Action::PrevTab => {
            let i = Tab::ALL.iter().position(|t| *t == state.tab).unwrap_or(0);
            let n = Tab::ALL.len();
            let next = if action == Action::NextTab {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            state.tab = Tab::ALL[next];
            state.detail_scroll = 0;
        }
        Action::Filter => {
            state.mode = Mode::Filter {
                input: Input::new(state.filter.clone()),
            }
        }
        Action::CycleSort => {
            state.sort = state.sort.next();
            state.say(Level::Info, format!("Sorted by {}", state.sort.as_str()));
        }
        Action::Refresh => {
            fx.push(Effect::Refresh);
            state.say(Level::Info, "Reloading from the backend…");
        }
        Action::Revoke => {
            if state.tab != Tab::Grants {
                state.say(
                    Level::Warn,
                    "Revoke works on the Grants tab (Tab to switch)",
                );
            } else if let Some(g) = state.selected_grant() {
                state.mode = Mode::Confirm(Confirm::Revoke {
                    grant_id: g.id.clone(),
                });
            } else {
                state.say(Level::Warn, "No grant selected");
            }
        }
        Action::ToggleNotify => {
            // It decides nothing, so the "cursor moved" guard does not apply.
            if let Some(id) = selected_decidable(state)
                && let Some(e) = state.entries.get_mut(&id)
            {
                e.notify = !e.notify;
                let on = e.notify;
                state.say(
                    Level::Info,
                    if on {
                        "The agent will be notified of this decision"
                    } else {
                        "The agent will not be notified of this decision"
                    },
                );
            }
        }
        Action::ApproveOnce => {
            if let Some(id) = decidable(state) {
                send(state, &id, Verdict::Approve, Scope::Once, None, fx);
            }
        }
        Action::ApproveConversation => {
            if let Some(id) = decidable(state) {
                let has_conv = state
                    .entries
                    .get(&id)
                    .is_some_and(|e| e.req.conversation_id.is_some());
                if !has_conv {
                    no_conversation(state);
                } else if state.covered_by(&id, Scope::Conversation) > 0 {
                    // The grant approves the other pending calls it covers at once: that
                    // is more than one request, so it is confirmed like `always`.
                    state.mode = Mode::Confirm(Confirm::Conversation { id });
                } else {
                    send(state, &id, Verdict::Approve, Scope::Conversation, None, fx);
                }
            }
        }
        Action::ApproveAlways => {
            if let Some(id) = decidable(state) {
                state.mode = Mode::Confirm(Confirm::Always { id });
            }
        }
        Action::Reject => {
            if let Some(id) = decidable(state) {
                state.mode = Mode::Reason {
                    id,
                    input: Input::default(),
                };
            }
        }
    }
}

fn no_conversation(state: &mut State) {
    let text = format!(
        "This request has no conversation: approve once ({}) or always ({}) instead",
        state.keymap.label(Action::ApproveOnce),
        state.keymap.label(Action::ApproveAlways)
    );
    state.say(Level::Warn, text);
}

/// The reviewer has looked at the request under the cursor.
fn seen(state: &mut State) {
    if state.tab == Tab::Pending {
        state.moved = false;
    }
}

/// The id of the selected request if it can be decided now; otherwise says why not.
fn decidable(state: &mut State) -> Option<String> {
    if state.tab == Tab::Pending && state.selected.is_some() && state.moved {
        state.moved = false;
        let what = state
            .selected_entry()
            .map(|e| {
                format!(
                    "{} from {}",
                    sanitize::line(&e.req.tool),
                    sanitize::line(&e.req.agent)
                )
            })
            .unwrap_or_default();
        state.say(
            Level::Warn,
            format!("The cursor moved to {what}: read it, then press the key again"),
        );
        return None;
    }
    selected_decidable(state)
}

/// Like [`decidable`], without the "cursor moved" guard (for keys that decide nothing).
fn selected_decidable(state: &mut State) -> Option<String> {
    if state.tab != Tab::Pending {
        state.say(
            Level::Warn,
            "Decisions are made on the Pending tab (Tab to switch)",
        );
        return None;
    }
    let Some(id) = state.selected.clone() else {
        state.say(Level::Warn, "No request selected");
        return None;
    };
    check_decidable(state, &id).then_some(id)
}

fn check_decidable(state: &mut State, id: &str) -> bool {
    // Past its expiry by this clock is not enough to refuse: the backend's clock decides
    // (it answers 409 if the request has expired there).
    let Some(e) = state.entries.get(id) else {
        state.say(Level::Warn, "That request is no longer in the queue");
        return false;
    };
    match &e.local {
        Local::Sending { .. } => {
            state.say(
                Level::Warn,
                "A decision on this request is already on its way",
            );
            false
        }
        Local::Ended { note, .. } => {
            let text = format!("{}: it can no longer be decided", ended_sentence(note));
            state.say(Level::Warn, text);
            false
        }
        Local::Idle | Local::Failed { .. } => true,
    }
}

fn confirmed(state: &mut State, c: Confirm, fx: &mut Vec<Effect>) {
    match c {
        Confirm::Always { id } => send(state, &id, Verdict::Approve, Scope::Always, None, fx),
        Confirm::Conversation { id } => {
            send(state, &id, Verdict::Approve, Scope::Conversation, None, fx)
        }
        Confirm::Revoke { grant_id } => {
            fx.push(Effect::RevokeGrant { id: grant_id });
            state.say(Level::Info, "Revoking…");
        }
    }
}

fn send(
    state: &mut State,
    id: &str,
    verdict: Verdict,
    scope: Scope,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    // Checked again: the request may have expired or been decided while a confirmation
    // or the reason input was open.
    if !check_decidable(state, id) {
        return;
    }
    let Some(e) = state.entries.get_mut(id) else {
        return;
    };
    let body = DecisionBody {
        outcome: verdict,
        scope,
        reason,
        notify_agent: e.notify,
        args_hash: e.hash().to_owned(),
    };
    e.local = Local::Sending { verdict, scope };
    fx.push(Effect::SendDecision {
        id: id.to_owned(),
        body,
    });
}

/// Header text of the connection state, shared by the header view and tests.
pub fn conn_words(state: &State) -> (String, Option<String>) {
    match &state.conn {
        Conn::Connecting => ("connecting…".to_owned(), None),
        Conn::Live => ("live".to_owned(), None),
        Conn::Polling { why } => ("polling".to_owned(), why.clone()),
        Conn::Retrying { at, error } => {
            let secs = (*at - state.now).num_seconds().max(0);
            (
                format!("offline, reconnecting in {secs}s"),
                Some(error.clone()),
            )
        }
    }
}
