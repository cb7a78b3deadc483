//! What the sweep does to a request nobody decided: at its TTL's end it expires or is
//! rejected by the system (`on_timeout`), and while still pending after `escalate_at` it
//! escalates, once. A backend finds the rows that are due (pending, past `expires_at`;
//! pending, past `escalate_at`, `escalated_at` null) under its own locks and asks these
//! what each becomes.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{RequestAction, SYSTEM_ACTOR, truncate_millis};
use crate::protocol::{
    ApprovalRequest, Decision, EventKind, Outcome, Scope, Status, TIMEOUT_REASON, TimeoutAction,
    Via,
};

/// When a request filed at `created_at` escalates, `after` its filing; None when it
/// never does: no `escalate_after`, or not before it expires (an expired request needs
/// nobody).
pub fn escalate_at(
    created_at: DateTime<Utc>,
    after: Option<Duration>,
    expires_at: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let at = created_at.checked_add_signed(TimeDelta::from_std(after?).ok()?)?;
    let at = truncate_millis(at);
    match expires_at {
        Some(end) if end <= at => None,
        _ => Some(at),
    }
}

/// The decision of a request its TTL's end rejects: by the system, told to the agent,
/// and never a person's (`via: timeout`).
fn timeout_rejection(now: DateTime<Utc>) -> Decision {
    Decision {
        outcome: Outcome::Rejected,
        scope: Scope::Once,
        reason: Some(TIMEOUT_REASON.to_owned()),
        approved_params: None,
        approved_args_hash: None,
        notify_agent: true,
        responder: SYSTEM_ACTOR.to_owned(),
        decided_at: now,
        grant_id: None,
        via: Via::Timeout,
        approval_token: None,
    }
}

/// Ends `req`, pending and past its expiry at `now`, as its `on_timeout` says: expired,
/// or rejected by the system. Returns what to audit and which event to append; the
/// backend writes the request's status and decision as they now stand.
pub fn end_at_timeout(
    req: &mut ApprovalRequest,
    now: DateTime<Utc>,
) -> (RequestAction<'static>, EventKind) {
    match req.on_timeout {
        TimeoutAction::Expire => {
            req.status = Status::Expired;
            (RequestAction::Expired, EventKind::RequestExpired)
        }
        TimeoutAction::Reject => {
            req.status = Status::Rejected;
            req.decision = Some(Box::new(timeout_rejection(now)));
            (RequestAction::Decided, EventKind::RequestDecided)
        }
    }
}

/// Marks `req`, pending and past its `escalate_at` at `now` and not escalated yet, as
/// escalated. The backend writes `escalated_at` only where it is still null, in the
/// transaction that appends the event, so the event is appended once however many
/// sweeps run.
pub fn escalate(
    req: &mut ApprovalRequest,
    now: DateTime<Utc>,
) -> (RequestAction<'static>, EventKind) {
    req.escalated_at = Some(now);
    (RequestAction::Escalated, EventKind::RequestEscalated)
}

/// The sweep's next wake-up: the sooner of the next expiry and the next escalation.
pub fn next_due(
    expiry: Option<DateTime<Utc>>,
    escalation: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (expiry, escalation) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures;
    use crate::store::rules::{now_millis, request_audit};

    #[test]
    fn escalation_is_after_filing_and_only_before_expiry() {
        let now = now_millis();
        let min = Duration::from_secs(60);
        let in_a_minute = now + TimeDelta::seconds(60);
        assert_eq!(escalate_at(now, Some(min), None), Some(in_a_minute));
        assert_eq!(escalate_at(now, None, None), None);
        let later = now + TimeDelta::seconds(61);
        assert_eq!(escalate_at(now, Some(min), Some(later)), Some(in_a_minute));
        assert_eq!(escalate_at(now, Some(min), Some(in_a_minute)), None);
        assert_eq!(escalate_at(now, Some(Duration::MAX), None), None);
    }

    #[test]
    fn a_timeout_rejects_as_the_system_or_expires() {
        let now = now_millis();
        let mut r = fixtures::request("r", Status::Pending);
        assert_eq!(
            end_at_timeout(&mut r.clone(), now),
            (RequestAction::Expired, EventKind::RequestExpired)
        );
        r.on_timeout = TimeoutAction::Reject;
        let (action, kind) = end_at_timeout(&mut r, now);
        assert_eq!(
            (action, kind),
            (RequestAction::Decided, EventKind::RequestDecided)
        );
        assert_eq!(r.status, Status::Rejected);
        let d = r.decision.clone().unwrap();
        assert_eq!(d.responder, "system");
        assert_eq!(d.via, Via::Timeout);
        assert_eq!(d.reason.as_deref(), Some("approval_timeout"));
        assert!(d.notify_agent, "the agent gets its stop reason");
        let audit = request_audit(&r, action, now);
        assert_eq!(
            (audit.actor.as_str(), audit.via),
            ("system", Some(Via::Timeout))
        );
    }

    #[test]
    fn an_escalation_is_audited_as_the_system() {
        let now = now_millis();
        let mut r = fixtures::request("r", Status::Pending);
        let (action, kind) = escalate(&mut r, now);
        assert_eq!(kind, EventKind::RequestEscalated);
        assert_eq!(r.escalated_at, Some(now));
        let audit = request_audit(&r, action, now);
        assert_eq!(
            (audit.actor.as_str(), audit.action.as_str()),
            ("system", "escalated")
        );
        assert_eq!(next_due(Some(now), None), Some(now));
        let sooner = now - TimeDelta::seconds(1);
        assert_eq!(next_due(Some(now), Some(sooner)), Some(sooner));
        assert_eq!(next_due(None, None), None);
    }
}
