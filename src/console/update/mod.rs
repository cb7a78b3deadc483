//! The state machine: `update(&mut State, Msg) -> Vec<Effect>`. Pure: no IO, no clock, no
//! async; time arrives as `Msg::Tick`. It routes each message to its concern (`keys`;
//! `stream`, what the backend says; `decide`, decisions sent and answered), then runs what
//! follows every message: the clock's sweep, the cursors, a confirmation whose subject is
//! gone. Changes when a kind of message is added. Its tests: `update_tests.rs`.

mod decide;
mod edit;
mod keys;
mod stream;
mod view_keys;

use chrono::{DateTime, Utc};

use super::action::{Conn, Msg};
use super::effect::Effect;
use super::model::{Confirm, LINGER_SECS, Level, Local, Mode, State};
use super::words::ended_sentence;

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    if let Msg::Drawn(drawn) = msg {
        // A record of the screen, sent after every frame: it changes nothing else, so
        // none of what follows other messages needs to run.
        state.drawn = drawn;
        return fx;
    }
    if !matches!(msg, Msg::Tick(_)) {
        // Anything but the clock may have changed what the next tick has to sweep.
        state.quiet_until = None;
    }
    match msg {
        Msg::Key(key) => keys::on_key(state, key, &mut fx),
        Msg::Paste(text) => keys::on_paste(state, &text),
        Msg::Drawn(_) => {}
        Msg::Resize { width, height } => {
            state.width = width;
            state.height = height;
            // Until a frame is drawn at the new size, nothing on it has been seen.
            state.drawn = Default::default();
        }
        Msg::Tick(now) => on_tick(state, now),
        // Whether anyone is looking: new requests call them while nobody is.
        Msg::Focus(focused) => state.focus = Some(focused),
        Msg::Conn(c) => {
            // The backend answers: decisions it never got are not "not sent" any more,
            // only pending, as they are.
            if matches!(c, Conn::Live | Conn::Polling { .. }) {
                state.queue_mut().clear_unsent();
            }
            state.conn = c;
        }
        Msg::Identity(me) => state.me = Some(me),
        Msg::PendingPage {
            requests,
            first,
            last,
        } => stream::on_pending(state, requests, first, last, &mut fx),
        Msg::History { requests, more } => state.history_mut().set(requests, more),
        Msg::Grants(grants) => state.grants_mut().set(grants),
        Msg::Event(ev) => stream::on_event(state, ev, &mut fx),
        Msg::Decided { id, result } => decide::on_decided(state, id, result),
        Msg::Fetched { id, result } => state.take_fetched(&id, result),
        Msg::Revoked { grant_id, result } => decide::on_revoked(state, &grant_id, result),
        Msg::Edited { id, result } => edit::on_edited(state, &id, result),
    }
    state.refresh();
    close_ended_confirm(state);
    if let Some(id) = state.take_fetch() {
        fx.push(Effect::FetchRequest { id });
    }
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
        Confirm::Always { id, .. }
        | Confirm::Conversation { id, .. }
        | Confirm::Edit { id, .. } => match state.queue().get(id).map(|e| e.local()) {
            None => Some("The request left the queue".to_owned()),
            Some(Local::Ended { note, .. }) => Some(ended_sentence(note)),
            Some(_) => None,
        },
        Confirm::Revoke { grant_id } => state
            .grants()
            .find(grant_id)
            .is_none()
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

fn on_tick(state: &mut State, now: DateTime<Utc>) {
    state.now = now;
    // Nothing in the queue can leave before `quiet_until` unless a message changed it
    // since the last sweep: an idle console does not walk the whole queue every second.
    if state.quiet_until.is_none_or(|t| now >= t) {
        // A request past its expiry by this clock is only shown as expiring: the
        // backend's clock is the one that counts (this one may run ahead), and it says
        // when the request expired. Only rows the backend ended leave.
        let linger = chrono::Duration::seconds(LINGER_SECS);
        let (gone, next) = state.queue_mut().sweep(now, linger);
        state.quiet_until = Some(next.unwrap_or(DateTime::<Utc>::MAX_UTC));
        for e in gone {
            if e.req().status.is_final() {
                let (req, text) = e.into_parts();
                state.history_mut().add_text(req, text, None);
            }
        }
    }
    if state.message.as_ref().is_some_and(|m| m.until <= now) {
        state.message = None;
    }
}
