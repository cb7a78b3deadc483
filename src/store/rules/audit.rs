//! What the audit log records of each change: its action name, who it is attributed to,
//! and which fields of the request or grant it keeps.

use chrono::{DateTime, Utc};

use super::SYSTEM_ACTOR;
use crate::protocol::{ApprovalRequest, AuditEntry, Grant};

/// A change to a request, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction<'a> {
    /// Attributed to the filing token.
    Filed,
    /// Attributed to the decision's responder (a person, a grant's creator, a policy);
    /// the entry's `via` says which of them decided.
    Decided,
    /// One approval of a request that needs several, still pending after it; attributed
    /// to that approver (the request's last approval).
    ApprovalAdded,
    /// Attributed to [`SYSTEM_ACTOR`].
    Expired,
    /// Still pending at its `escalate_at`; attributed to [`SYSTEM_ACTOR`].
    Escalated,
    Cancelled {
        by: &'a str,
    },
}

impl RequestAction<'_> {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestAction::Filed => "filed",
            RequestAction::Decided => "decided",
            RequestAction::ApprovalAdded => "approval_added",
            RequestAction::Expired => "expired",
            RequestAction::Escalated => "escalated",
            RequestAction::Cancelled { .. } => "cancelled",
        }
    }
}

/// A change to a grant, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAction<'a> {
    /// Attributed to the grant's creator.
    Created,
    Revoked {
        by: &'a str,
    },
    /// Ended by itself (past its duration, or used up): attributed to [`SYSTEM_ACTOR`].
    Expired,
}

/// The audit entry of `action` on `req` (as it stands after the change) at `at`; the
/// decision's fields are kept on `decided`, the filing's reason and policy verdict on
/// `filed`.
pub fn request_audit(
    req: &ApprovalRequest,
    action: RequestAction,
    at: DateTime<Utc>,
) -> AuditEntry {
    let d = req
        .decision
        .as_ref()
        .filter(|_| action == RequestAction::Decided);
    let filed = action == RequestAction::Filed;
    let added = req
        .approvals
        .last()
        .filter(|_| action == RequestAction::ApprovalAdded);
    let actor = match action {
        RequestAction::Filed => req.filed_by.as_str(),
        RequestAction::Decided => d.map_or("", |d| d.responder.as_str()),
        RequestAction::ApprovalAdded => added.map_or("", |a| a.responder.as_str()),
        RequestAction::Expired | RequestAction::Escalated => SYSTEM_ACTOR,
        RequestAction::Cancelled { by } => by,
    };
    // A partial approval is what this reviewer chose, by a person, nothing decided yet.
    let outcome = match (d, added) {
        (Some(d), _) => Some(d.outcome.as_str().to_owned()),
        (None, Some(_)) => Some(crate::protocol::Outcome::Approved.as_str().to_owned()),
        (None, None) => None,
    };
    AuditEntry {
        seq: 0,
        at,
        actor: actor.to_owned(),
        action: action.as_str().to_owned(),
        request_id: Some(req.id.clone()),
        tool: Some(req.tool.clone()),
        agent: Some(req.agent.clone()),
        outcome,
        scope: d.map(|d| d.scope).or(added.map(|a| a.scope)),
        reason: match (d, added) {
            (Some(d), _) => d.reason.clone(),
            (None, Some(a)) => a.reason.clone(),
            (None, None) if filed => req.reason.clone(),
            (None, None) => None,
        },
        args_hash: Some(req.args_hash.clone()),
        approved_args_hash: d.and_then(|d| d.approved_args_hash.clone()),
        grant_id: d.and_then(|d| d.grant_id.clone()),
        policy: req.policy.clone().filter(|_| filed),
        via: d
            .map(|d| d.via.clone())
            .or(added.map(|_| crate::protocol::Via::Person)),
        prev_hash: None,
        hash: None,
    }
}

/// The audit entry of `action` on `g` at `at`.
pub fn grant_audit(g: &Grant, action: GrantAction, at: DateTime<Utc>) -> AuditEntry {
    let (name, actor) = match action {
        GrantAction::Created => ("grant_created", g.created_by.as_str()),
        GrantAction::Revoked { by } => ("grant_revoked", by),
        GrantAction::Expired => ("grant_expired", SYSTEM_ACTOR),
    };
    AuditEntry {
        seq: 0,
        at,
        actor: actor.to_owned(),
        action: name.to_owned(),
        request_id: g.source_request_id.clone(),
        tool: Some(g.tool.clone()),
        agent: Some(g.agent.clone()),
        outcome: None,
        scope: Some(g.scope),
        reason: None,
        args_hash: None,
        approved_args_hash: None,
        grant_id: Some(g.id.clone()),
        policy: None,
        via: None,
        prev_hash: None,
        hash: None,
    }
}
