//! The words the reviewer reads about a request or the connection, said the same way by
//! every view and every message. Changes when what the console says changes.

use chrono::{DateTime, Utc};

use super::action::Conn;
use super::model::full::Fetch;
use crate::protocol::{ApprovalRequest, Decision, Outcome, Scope, Status, Verdict, Via, short_id};
use crate::sanitize;

/// The cue of a request still pending after its `escalate_at` (the backend escalated
/// it): on its row, before the summary, and in the detail's status line.
pub const ESCALATED_CUE: &str = "ESCALATED";

/// A row this reviewer approved that needs more approvals: `1/2 waiting on another
/// reviewer`.
pub fn waiting_words(req: &ApprovalRequest) -> String {
    let missing = req.approvals_missing();
    format!(
        "{} you approved; waiting on {missing} more reviewer{}",
        req.approvals_progress().unwrap_or_default(),
        if missing == 1 { "" } else { "s" }
    )
}

/// The detail's `approvals` field: how many of how many, and who, when, with what scope.
pub fn approvals_field(req: &ApprovalRequest) -> String {
    let who: Vec<String> = req
        .approvals
        .iter()
        .map(|a| {
            format!(
                "{} ({}, {})",
                crate::sanitize::line(&a.responder),
                a.approved_at.format("%H:%M:%S UTC"),
                a.scope
            )
        })
        .collect();
    let progress = req.approvals_progress().unwrap_or_default();
    match (who.is_empty(), req.status.is_final()) {
        (true, _) => format!(
            "{progress} (needs {} different reviewers)",
            req.approvals_required
        ),
        (false, true) => format!("{progress}: {}", who.join(", ")),
        (false, false) => format!(
            "{progress}: {}; waiting on {} more",
            who.join(", "),
            req.approvals_missing()
        ),
    }
}

/// Why a reviewer who approved already is given no decision keys.
pub fn already_approved(req: &ApprovalRequest) -> String {
    format!(
        "You approved this already ({}): it needs {} different reviewers and waits on {} \
         more from someone else",
        req.approvals_progress().unwrap_or_default(),
        req.approvals_required,
        req.approvals_missing()
    )
}

/// The detail's `escalated` field: when.
pub fn escalated_field(at: DateTime<Utc>) -> String {
    format!(
        "{} (nobody decided in time: the backend told those it escalates to)",
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// The detail's `on timeout` field of a request its TTL's end rejects.
pub const REJECT_AT_TIMEOUT: &str =
    "rejected by the system if nobody decides before it expires (the agent is told why)";

/// The desktop notification of a new request: its title, and its body (agent text:
/// `text::osc_notify` makes it safe in the sequence).
pub fn arrival_notice(req: &ApprovalRequest) -> (String, String) {
    let risk = req
        .risk
        .map(|r| format!(" ({} risk)", r.as_str()))
        .unwrap_or_default();
    (
        "assent: approval requested".to_owned(),
        format!("{} asks to run {}{risk}", req.agent, req.tool),
    )
}

/// The desktop notification of a list that brought `n` requests into an empty queue.
pub fn waiting_notice(n: usize) -> (String, String) {
    let body = if n == 1 {
        "1 request waits for a decision".to_owned()
    } else {
        format!("{n} requests wait for a decision")
    };
    ("assent: approval requested".to_owned(), body)
}

/// A size in bytes of JSON, as a person reads it: `1.0 MiB`, `640 B`.
pub fn size_words(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// What stands in for parameters a request was listed without (`fetch`: where the fetch
/// of the full request stands, for the request shown): `params: 1.0 MiB, not loaded`,
/// `params: 1.0 MiB, loading…`, `! params: 1.0 MiB, not loaded: <why>`.
pub fn params_left_out(size: u64, fetch: Option<&Fetch>) -> String {
    let size = size_words(size);
    match fetch {
        None => format!("params: {size}, not loaded"),
        Some(Fetch::Loading) => format!("params: {size}, loading…"),
        Some(Fetch::Failed(why)) => format!("! params: {size}, not loaded: {why}"),
        Some(Fetch::Loaded(_)) => format!("params: {size}"),
    }
}

/// Why a decision on a request whose parameters are not shown in full is refused
/// (`retried`: a failed fetch was started again).
pub fn params_not_shown(size: u64, fetch: Option<&Fetch>, key: &str) -> String {
    let size = size_words(size);
    match fetch {
        Some(Fetch::Failed(why)) => format!(
            "Not decided: its params ({size}) could not be loaded ({why}); loading them \
             again: decide once they are shown"
        ),
        Some(Fetch::Loaded(_)) => {
            format!(
                "Not decided: its params ({size}) just loaded: read them, then press {key} again"
            )
        }
        Some(Fetch::Loading) | None => format!(
            "Not decided: its params ({size}) are still loading: decide once they are shown"
        ),
    }
}

/// A decision in words: `approved (once)`, `approved (conversation)`, `rejected` (a
/// rejection has no scope worth saying: it is always for this call only).
pub fn decision_words(d: &Decision) -> String {
    let mut s = String::new();
    push_decision(&mut s, d);
    s
}

fn push_decision(out: &mut String, d: &Decision) {
    out.push_str(d.outcome.as_str());
    match d.outcome {
        Outcome::Approved => {
            out.push_str(" (");
            out.push_str(d.scope.as_str());
            out.push(')');
        }
        Outcome::Rejected => {}
    }
}

/// Who or what made a decision, after its outcome: `approved (once) by alice`,
/// `approved by grant 0193a3f2-7b1c… (made by alice, conversation)`, `rejected by policy
/// rule no-drops`. A grant's approvals carry its creator as responder, but that person
/// never saw the request: the words name the grant, never the person alone.
pub fn decided_words(d: &Decision) -> String {
    let mut words = String::new();
    push_decided(&mut words, d);
    sanitize_from(&mut words, 0);
    words
}

/// [`decided_words`] before sanitising, written onto `out`: a note that holds them is then
/// made in one buffer (the notes of decided rows were a quarter of the cost of taking in
/// a stream of decisions, most of it in allocating the pieces).
fn push_decided(out: &mut String, d: &Decision) {
    use std::fmt::Write;
    let outcome = d.outcome.as_str();
    match &d.via {
        Via::Person => {
            push_decision(out, d);
            out.push_str(" by ");
            out.push_str(&d.responder);
        }
        Via::Grant {
            grant_id,
            granted_by,
            scope,
        } => {
            let _ = write!(
                out,
                "{outcome} by grant {} (made by {granted_by}, {scope})",
                short_id(grant_id)
            );
        }
        Via::Policy { rule, .. } => {
            out.push_str(outcome);
            out.push_str(" by ");
            out.push_str(&Via::policy_words(rule.as_deref()));
        }
        Via::Timeout => {
            out.push_str(outcome);
            out.push_str(" by ");
            out.push_str(&d.by_words());
        }
    }
}

/// Makes `out` from byte `start` on safe for one line (`sanitize::line`, which works
/// character by character), without a copy when it already is: printable ASCII always is.
fn sanitize_from(out: &mut String, start: usize) {
    let tail = out.get(start..).unwrap_or_default();
    if tail.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return;
    }
    if let std::borrow::Cow::Owned(safe) = sanitize::line(tail) {
        out.truncate(start);
        out.push_str(&safe);
    }
}

/// The History's BY column: the reviewer's name, `via grant 0193a3f2-7b1c… (alice,
/// conversation)` or `policy: no-drops`.
pub fn by_words(d: &Decision) -> String {
    let words = match &d.via {
        Via::Person => d.responder.clone(),
        Via::Grant { .. } => format!("via {}", d.by_words()),
        Via::Policy { rule, .. } => format!("policy: {}", rule.as_deref().unwrap_or("default")),
        Via::Timeout => "timeout".to_owned(),
    };
    sanitize::line(&words).into_owned()
}

/// How a final request ended, in words: `approved (once) by alice`, `expired`...
pub fn outcome_words(req: &ApprovalRequest) -> String {
    let mut s = String::new();
    push_outcome(&mut s, req);
    s
}

/// [`outcome_words`] onto `out`: the decision's words and its reason are sanitised once,
/// together (sanitising is per character, so that is the same as one by one).
fn push_outcome(out: &mut String, req: &ApprovalRequest) {
    match (&req.decision, req.status) {
        (Some(d), _) => {
            let start = out.len();
            push_decided(out, d);
            if let Some(r) = d.reason.as_deref().filter(|r| !r.is_empty()) {
                out.push_str(": ");
                out.push_str(r);
            }
            sanitize_from(out, start);
        }
        (None, Status::Cancelled) => out.push_str("cancelled by its agent"),
        (None, st) => out.push_str(st.as_str()),
    }
}

/// The note of a row that can no longer be decided, a short phrase that reads well on
/// the row: `expired`, `already rejected by bob`, `no longer pending`.
pub fn ended_note(req: &ApprovalRequest) -> String {
    match req.status {
        Status::Expired => "expired".to_owned(),
        Status::Cancelled => "cancelled by its agent".to_owned(),
        Status::Pending => "no longer pending".to_owned(),
        _ => {
            let mut note = String::with_capacity(64);
            note.push_str("already ");
            push_outcome(&mut note, req);
            note
        }
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

/// Why a decision key was refused by the cursor guard: the request under the cursor is
/// not the one the reviewer was looking at. `tool` and `agent` are the backend's (this
/// sanitises them); `key` as the help shows it.
pub fn cursor_changed(tool: &str, agent: &str, key: &str) -> String {
    format!(
        "The request under the cursor changed: now {} from {}. Read it, then press {key} again.",
        sanitize::line(tool),
        sanitize::line(agent)
    )
}

/// What a terminal too small to show a decision's subject says instead of the console.
pub fn too_small(width: u16, height: u16) -> String {
    format!("terminal too small: needs at least {width}×{height}")
}

/// Why a decision key did nothing on a terminal too small for its subject.
pub fn too_small_refusal(width: u16, height: u16) -> String {
    format!("Nothing decided: the terminal is too small (needs at least {width}×{height})")
}

/// Why a decision key did nothing on a request the last frame did not show.
pub fn not_on_screen(key: &str) -> String {
    format!("Nothing decided: that request was not on screen yet. Read it, then press {key} again.")
}

/// A paste where no text field is open: dropped, never run as keys.
pub fn paste_ignored(reason_key: &str, filter_key: &str) -> String {
    format!("Paste ignored: paste into the reason ({reason_key}) or the filter ({filter_key}).")
}

/// The reason prompt's words: what Enter sends, naming the tool when one is given.
pub fn reason_prompt(verdict: Verdict, scope: Scope, tool: Option<&str>) -> String {
    let tool = tool.map(|t| format!(" {t}")).unwrap_or_default();
    match (verdict, scope) {
        (Verdict::Reject, _) => format!("Reject{tool}, reason: "),
        (Verdict::Approve, Scope::Once) if tool.is_empty() => "Approve once, reason: ".into(),
        (Verdict::Approve, Scope::Once) => format!("Approve{tool} once, reason for the agent: "),
        (Verdict::Approve, Scope::Conversation) if tool.is_empty() => {
            "Approve for the conversation, reason: ".into()
        }
        (Verdict::Approve, Scope::Conversation) => {
            format!("Approve{tool} for the conversation, reason for the agent: ")
        }
        (Verdict::Approve, Scope::Always) => format!("Always approve{tool}, reason: "),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures;
    use crate::protocol::PolicyAction;
    use serde_json::json;

    fn decided(via: Via, outcome: Outcome, scope: Scope) -> ApprovalRequest {
        let r = fixtures::req("r1", "t", "a", 0, json!({}));
        let mut r = fixtures::decided(r, outcome, scope, "alice");
        if let Some(d) = r.decision.as_mut() {
            d.via = via;
        }
        r
    }

    fn grant() -> Via {
        Via::Grant {
            grant_id: "0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into(),
            granted_by: "alice".into(),
            scope: Scope::Conversation,
        }
    }

    #[test]
    fn a_person_is_named_with_the_scope_they_chose() {
        let r = decided(Via::Person, Outcome::Approved, Scope::Always);
        assert_eq!(outcome_words(&r), "approved (always) by alice");
        assert_eq!(by_words(r.decision.as_ref().unwrap()), "alice");
    }

    #[test]
    fn what_a_grant_approved_names_the_grant_not_the_person() {
        let r = decided(grant(), Outcome::Approved, Scope::Conversation);
        assert_eq!(
            outcome_words(&r),
            "approved by grant 0193a3f2-7b1c… (made by alice, conversation)"
        );
        assert_eq!(
            by_words(r.decision.as_ref().unwrap()),
            "via grant 0193a3f2-7b1c… (alice, conversation)"
        );
        assert_eq!(
            ended_note(&r),
            "already approved by grant 0193a3f2-7b1c… (made by alice, conversation)"
        );
    }

    #[test]
    fn what_the_policy_decided_names_the_rule() {
        let via = Via::Policy {
            rule: Some("no-drops".into()),
            action: PolicyAction::Deny,
        };
        let mut r = decided(via, Outcome::Rejected, Scope::Once);
        if let Some(d) = r.decision.as_mut() {
            d.responder = "policy:no-drops".into();
            d.reason = Some("never".into());
        }
        assert_eq!(outcome_words(&r), "rejected by policy rule no-drops: never");
        assert_eq!(by_words(r.decision.as_ref().unwrap()), "policy: no-drops");
        let default = Via::Policy {
            rule: None,
            action: PolicyAction::Allow,
        };
        let r = decided(default, Outcome::Approved, Scope::Once);
        assert_eq!(outcome_words(&r), "approved by the policy default");
        assert_eq!(by_words(r.decision.as_ref().unwrap()), "policy: default");
    }

    #[test]
    fn names_from_the_backend_are_escaped() {
        let via = Via::Grant {
            grant_id: "g\u{1b}[2J".into(),
            granted_by: "al\u{202e}ice".into(),
            scope: Scope::Always,
        };
        let r = decided(via, Outcome::Approved, Scope::Always);
        let words = outcome_words(&r);
        assert!(
            !words.contains('\u{1b}') && !words.contains('\u{202e}'),
            "{words}"
        );
        let by = by_words(r.decision.as_ref().unwrap());
        assert!(!by.contains('\u{1b}') && !by.contains('\u{202e}'), "{by}");
    }
}
