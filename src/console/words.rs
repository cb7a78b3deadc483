//! The words the reviewer reads about a request or the connection, said the same way by
//! every view and every message. Changes when what the console says changes.

use chrono::{DateTime, Utc};

use super::action::Conn;
use crate::protocol::{ApprovalRequest, Decision, Outcome, Scope, Status, Verdict};
use crate::sanitize;

/// A decision in words: `approved (once)`, `approved (conversation)`, `rejected` (a
/// rejection has no scope worth saying: it is always for this call only).
pub fn decision_words(d: &Decision) -> String {
    match d.outcome {
        Outcome::Approved => format!("{} ({})", d.outcome.as_str(), d.scope.as_str()),
        Outcome::Rejected => d.outcome.as_str().to_owned(),
    }
}

/// How a final request ended, in words: `approved (once) by alice`, `expired`...
pub fn outcome_words(req: &ApprovalRequest) -> String {
    match (&req.decision, req.status) {
        (Some(d), _) => {
            let mut s = format!("{} by {}", decision_words(d), sanitize::line(&d.responder));
            if let Some(r) = d.reason.as_deref().filter(|r| !r.is_empty()) {
                s.push_str(&format!(": {}", sanitize::line(r)));
            }
            s
        }
        (None, Status::Cancelled) => "cancelled by its agent".to_owned(),
        (None, st) => st.as_str().to_owned(),
    }
}

/// The note of a row that can no longer be decided, a short phrase that reads well on
/// the row: `expired`, `already rejected by bob`, `no longer pending`.
pub fn ended_note(req: &ApprovalRequest) -> String {
    match req.status {
        Status::Expired => "expired".to_owned(),
        Status::Cancelled => "cancelled by its agent".to_owned(),
        Status::Pending => "no longer pending".to_owned(),
        _ => format!("already {}", outcome_words(req)),
    }
}

/// The note of an ended row as a sentence about the request.
pub fn ended_sentence(note: &str) -> String {
    if note == "expired" {
        "This request expired".to_owned()
    } else if note.starts_with("no longer") {
        format!("This request is {note}")
    } else {
        format!("This request was {note}")
    }
}

/// Why an ended row takes no decision.
pub fn no_longer_decidable(note: &str) -> String {
    format!("{}: it can no longer be decided", ended_sentence(note))
}

/// What a row whose decision failed says. A timeout does not prove the backend did not
/// receive the decision, so then the outcome is unknown, not "not sent".
pub fn failed_words(error: &str, unknown: bool, refresh_key: &str) -> String {
    if unknown {
        format!("outcome unknown ({error}); refresh ({refresh_key}) or decide again")
    } else {
        format!("not sent: {error}")
    }
}

/// What a row whose decision is on its way says.
pub fn sending_words(verdict: Verdict, scope: Scope) -> String {
    match (verdict, scope) {
        (Verdict::Reject, _) => "rejecting…".to_owned(),
        (Verdict::Approve, Scope::Once) => "approving once…".to_owned(),
        (Verdict::Approve, Scope::Conversation) => "approving for the conversation…".to_owned(),
        (Verdict::Approve, Scope::Always) => "approving always…".to_owned(),
    }
}

/// The connection state in the header's words, with the last error when there is one.
pub fn conn_words(conn: &Conn, now: DateTime<Utc>) -> (String, Option<String>) {
    match conn {
        Conn::Connecting => ("connecting…".to_owned(), None),
        Conn::Live => ("live".to_owned(), None),
        Conn::Polling { why } => ("polling".to_owned(), why.clone()),
        Conn::Retrying { at, error } => {
            let secs = (*at - now).num_seconds().max(0);
            (
                format!("offline, reconnecting in {secs}s"),
                Some(error.clone()),
            )
        }
    }
}

/// The reject prompt, naming the request: `Reject order_tools.process_refund from
/// order-bot — reason: `. Fitted to `cols` columns: the tool and the agent are cut with
/// `…` (the agent to at most a third of the room) before the words around them go.
pub fn reject_prompt(tool: &str, agent: &str, cols: usize) -> String {
    use super::text::{fit, width};
    let (tool, agent) = (sanitize::line(tool), sanitize::line(agent));
    let frame = width("Reject  from  — reason: ");
    let room = cols.saturating_sub(frame);
    if room < 8 {
        return fit("Reject — reason: ", cols);
    }
    let (tw, aw) = (width(&tool), width(&agent));
    let agent_w = if tw + aw <= room {
        aw
    } else {
        aw.min((room / 3).max(room.saturating_sub(tw)))
    };
    let tool_w = room - agent_w;
    format!(
        "Reject {} from {} — reason: ",
        fit(&tool, tool_w),
        fit(&agent, agent_w)
    )
}
