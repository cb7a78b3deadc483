//! Everything that can happen to the console, as plain data: the only input of `update`.

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::model::Drawn;
use super::streamed::Streamed;
use crate::client::ClientError;
use crate::protocol::{ApprovalRequest, Grant, Identity};

/// How the console is connected to the backend, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// First attempt under way.
    Connecting,
    /// Streaming events.
    Live,
    /// Polling every `poll_interval` (configured, or streaming failed).
    Polling { why: Option<String> },
    /// Not connected; the next attempt is at `at`.
    Retrying { at: DateTime<Utc>, error: String },
}

#[derive(Debug, Clone)]
// One message per event, moved once through a channel: a few hundred bytes is cheaper
// than a heap allocation per decision.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste): never keys, so it can only land
    /// in a text field.
    Paste(String),
    /// What the frame just drawn showed (sent by the driver after each draw).
    Drawn(Drawn),
    Resize {
        width: u16,
        height: u16,
    },
    /// Once a second, and whenever the driver wants the clock moved: ages, expiry, timers.
    Tick(DateTime<Utc>),
    /// The terminal gained (true) or lost (false) focus (its focus reports, turned on by
    /// the driver).
    Focus(bool),
    Conn(Conn),
    Identity(Identity),
    /// One page of the paged list of pending requests, handed over as it arrives so the
    /// whole list is never held twice (once parsed, once in the queue). `first` starts a
    /// new list; once `last` arrives, rows the whole list missed are ended (a whole list
    /// in one piece is a page both first and last).
    PendingPage {
        requests: Vec<ApprovalRequest>,
        first: bool,
        last: bool,
    },
    /// Recent final requests, for the History tab. `more`: the backend holds older ones
    /// than these (the list is capped).
    History {
        requests: Vec<ApprovalRequest>,
        more: bool,
    },
    /// Every active grant.
    Grants(Vec<Grant>),
    Event(Box<Streamed>),
    /// The answer to a decision the console sent.
    Decided {
        id: String,
        result: Result<ApprovalRequest, ClientError>,
    },
    /// The answer to the fetch of a request listed without its parameters.
    Fetched {
        id: String,
        result: Result<ApprovalRequest, ClientError>,
    },
    /// The answer to a revocation the console sent.
    Revoked {
        grant_id: String,
        result: Result<Grant, ClientError>,
    },
    /// The reviewer's editor closed on the params of request `id`: the text it left, or
    /// why there is none (the editor could not start, or failed).
    Edited {
        id: String,
        result: Result<String, String>,
    },
}
