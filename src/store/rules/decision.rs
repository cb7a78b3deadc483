//! Deciding: what a reviewer's decision may do to a request, when a repeated decision is
//! the same one, what status a decision gives, and who may cancel.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{invalid, no_nul};
use crate::protocol::{
    Approval, ApprovalRequest, Decision, DecisionBody, Grant, Identity, Outcome, Role, Scope,
    Status, Verdict, Via,
};
use crate::store::StoreError;
use serde_json::Value;

/// What a decision on a request should do.
// Made once per decision and consumed at once, never stored: boxing would cost more.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionPlan {
    /// The same responder already made this decision: answer 200 with the request as is.
    Replay,
    /// Record this decision (and, for a wider scope, create a grant).
    Apply(Decision),
    /// One more approval of a request that needs several: record it; the request stays
    /// pending.
    AddApproval(Approval),
}

fn describe_final(req: &ApprovalRequest) -> String {
    match (&req.status, &req.decision) {
        (Status::Approved | Status::Rejected, Some(d)) => {
            // The grant a person's approval made; a grant's own approvals name it already.
            let made = match (&d.via, &d.grant_id) {
                (Via::Person, Some(g)) => format!(" (which made grant {g})"),
                _ => String::new(),
            };
            format!(
                "request {} was already {} by {} at {}{made}",
                req.id,
                req.status,
                d.by_words(),
                d.decided_at.to_rfc3339_opts(SecondsFormat::Millis, true)
            )
        }
        (Status::Expired, _) => match req.expires_at {
            Some(t) => format!(
                "request {} expired at {}",
                req.id,
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            ),
            None => format!("request {} has expired", req.id),
        },
        (Status::Cancelled, _) => format!("request {} was cancelled by its agent", req.id),
        _ => format!("request {} is {}", req.id, req.status),
    }
}

/// The 409 for acting on a request that is no longer pending.
fn not_pending(req: &ApprovalRequest) -> StoreError {
    StoreError::Conflict {
        code: "not_pending",
        message: format!("{}; it can no longer be changed", describe_final(req)),
        request: Box::new(req.clone()),
    }
}

/// Decides what `body` from `responder` does to `req` (as it stands after expiry).
pub fn plan_decision(
    req: &ApprovalRequest,
    responder: &str,
    body: &DecisionBody,
    now: DateTime<Utc>,
) -> Result<DecisionPlan, StoreError> {
    let outcome = body.outcome.outcome();
    if let Some(reason) = &body.reason {
        no_nul("reason", reason)?;
    }
    let edit = edited(req, body)?;
    if req.status.is_final() {
        let same = req.decision.as_ref().is_some_and(|d| {
            d.responder == responder
                // The system's rejection at the TTL's end is nobody's to repeat, even a
                // token's that is called `system`.
                && d.via != Via::Timeout
                && d.outcome == outcome
                && d.scope == body.scope
                && body.args_hash == req.args_hash
                && req.status.as_str() == outcome.as_str()
                && d.approved_args_hash == edit.as_ref().map(|(_, h)| h.clone())
        });
        return if same {
            Ok(DecisionPlan::Replay)
        } else {
            Err(not_pending(req))
        };
    }
    if body.args_hash != req.args_hash {
        return Err(invalid(
            "args_hash_mismatch",
            format!(
                "args_hash {} does not match request {} (its params hash to {}); fetch the \
                 request again and review the arguments it now has",
                body.args_hash, req.id, req.args_hash
            ),
        ));
    }
    if body.outcome == Verdict::Reject && body.scope != Scope::Once {
        return Err(invalid(
            "invalid_scope",
            "a rejection applies to this request only: send scope \"once\" or omit it".into(),
        ));
    }
    if body.scope == Scope::Conversation && req.conversation_id.is_none() {
        return Err(invalid(
            "invalid_scope",
            format!(
                "request {} has no conversation_id, so scope \"conversation\" cannot apply; \
                 use \"once\" or \"always\"",
                req.id
            ),
        ));
    }
    super::check_limits(body)?;
    let mut scope = body.scope;
    if req.needs_several() && body.outcome == Verdict::Approve {
        check_approver(req, responder, edit.is_some())?;
        if req.approvals_missing() > 1 {
            return Ok(DecisionPlan::AddApproval(Approval {
                responder: responder.to_owned(),
                approved_at: now,
                scope: body.scope,
                reason: body.reason.clone(),
                grant_ttl_seconds: body.grant_ttl_seconds,
                grant_max_uses: body.grant_max_uses,
            }));
        }
        // The last approval needed: a grant only when every approver chose its scope.
        if req.approvals.iter().any(|a| a.scope != body.scope) {
            scope = Scope::Once;
        }
    }
    let (approved_params, approved_args_hash) = edit.unzip();
    Ok(DecisionPlan::Apply(Decision {
        approved_params,
        approved_args_hash,
        approval_token: None,
        outcome,
        scope,
        reason: body.reason.clone(),
        notify_agent: body.notify_agent,
        responder: responder.to_owned(),
        decided_at: now,
        grant_id: None,
        via: Via::Person,
    }))
}

/// Whether `responder` may give one of the approvals `req` needs: not the token that
/// filed it (an admin approving its own call is one person, however many roles), not a
/// reviewer who gave one already, and never of edited params, which the other approvers
/// were not shown.
fn check_approver(req: &ApprovalRequest, responder: &str, edits: bool) -> Result<(), StoreError> {
    let needed = req.approvals_required;
    if responder == req.filed_by {
        return Err(StoreError::Forbidden(format!(
            "request {} was filed by {responder}, and it needs {needed} approvals from              reviewers other than the token that filed it",
            req.id
        )));
    }
    if let Some(mine) = req.approvals.iter().find(|a| a.responder == responder) {
        return Err(StoreError::Conflict {
            code: "already_approved",
            message: format!(
                "request {} needs {needed} approvals from different reviewers; {responder}                  approved it already at {}, and it waits on {} more from someone else",
                req.id,
                mine.approved_at
                    .to_rfc3339_opts(SecondsFormat::Millis, true),
                req.approvals_missing()
            ),
            request: Box::new(req.clone()),
        });
    }
    if edits {
        return Err(invalid(
            "invalid_edit",
            format!(
                "request {} needs {needed} approvals, and each approver must approve the                  params that were shown: approve them as filed, or reject the request with                  the change you want in the reason",
                req.id
            ),
        ));
    }
    Ok(())
}

/// The edit `body` makes to `req`'s params, with its args_hash: None when it sends no
/// params, or the very params filed (no edit). Edited params are approved for this call
/// only: a grant would approve later calls nobody edited.
fn edited(
    req: &ApprovalRequest,
    body: &DecisionBody,
) -> Result<Option<(Value, String)>, StoreError> {
    let Some(params) = &body.params else {
        return Ok(None);
    };
    if body.outcome != Verdict::Approve {
        return Err(invalid(
            "invalid_edit",
            "params apply to an approval only: a rejection rejects the call as filed; \
             leave params out"
                .into(),
        ));
    }
    if body.scope != Scope::Once {
        return Err(invalid(
            "edited_grant",
            format!(
                "an approval of edited params is for this call only: send scope \"once\" \
                 (scope \"{}\" would make a grant that approves later calls nobody edited)",
                body.scope
            ),
        ));
    }
    let hash = crate::protocol::args_hash(params);
    Ok((hash != req.args_hash).then(|| (params.clone(), hash)))
}

/// The status of a request carrying `decision` (none: still pending).
pub(super) fn status_of(decision: Option<&Decision>) -> Status {
    match decision.map(|d| d.outcome) {
        None => Status::Pending,
        Some(Outcome::Approved) => Status::Approved,
        Some(Outcome::Rejected) => Status::Rejected,
    }
}

/// Records `decision` on `req`, with the status it gives.
pub fn apply_decision(req: &mut ApprovalRequest, decision: Decision) {
    req.status = status_of(Some(&decision));
    req.decision = Some(Box::new(decision));
}

/// Readies `decision`, planned from `body`, for `req`: the approval that completes a
/// request needing several becomes its last approval, as its reviewer chose it; then the
/// grant a wider scope makes, if any (see [`super::grant_for`]).
pub fn conclude(
    req: &mut ApprovalRequest,
    decision: &mut Decision,
    body: &DecisionBody,
) -> Option<Grant> {
    if req.needs_several() && decision.via == Via::Person && decision.outcome == Outcome::Approved {
        req.approvals.push(Approval {
            responder: decision.responder.clone(),
            approved_at: decision.decided_at,
            scope: body.scope,
            reason: decision.reason.clone(),
            grant_ttl_seconds: body.grant_ttl_seconds,
            grant_max_uses: body.grant_max_uses,
        });
    }
    super::grant_for(req, decision, body)
}

/// Records one more approval on `req`, which stays pending.
pub fn add_approval(req: &mut ApprovalRequest, approval: Approval) {
    req.approvals.push(approval);
}

/// Cancels `req` for `actor`: only the token that filed it, or an admin, may, and only
/// while it is pending.
pub fn cancel(req: &mut ApprovalRequest, actor: &Identity) -> Result<(), StoreError> {
    if actor.role != Role::Admin && req.filed_by != actor.name {
        return Err(StoreError::Forbidden(format!(
            "request {} was filed by another token; only the agent that filed it, or an \
             admin, may cancel it",
            req.id
        )));
    }
    if req.status.is_final() {
        return Err(not_pending(req));
    }
    req.status = Status::Cancelled;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures;
    use crate::store::rules::now_millis;

    fn body(outcome: Verdict, scope: Scope, hash: &str) -> DecisionBody {
        DecisionBody {
            outcome,
            scope,
            reason: None,
            notify_agent: false,
            args_hash: hash.into(),
            grant_ttl_seconds: None,
            grant_max_uses: None,
            params: None,
        }
    }

    #[test]
    fn decision_checks() {
        let r = fixtures::request("r1", Status::Pending);
        let now = now_millis();
        let h = r.args_hash.clone();
        assert!(matches!(
            plan_decision(
                &r,
                "alice",
                &body(Verdict::Approve, Scope::Once, "sha256:00"),
                now
            ),
            Err(StoreError::Invalid {
                code: "args_hash_mismatch",
                ..
            })
        ));
        assert!(matches!(
            plan_decision(
                &r,
                "alice",
                &body(Verdict::Approve, Scope::Conversation, &h),
                now
            ),
            Err(StoreError::Invalid {
                code: "invalid_scope",
                ..
            })
        ));
        assert!(matches!(
            plan_decision(&r, "alice", &body(Verdict::Reject, Scope::Always, &h), now),
            Err(StoreError::Invalid {
                code: "invalid_scope",
                ..
            })
        ));
        let Ok(DecisionPlan::Apply(d)) =
            plan_decision(&r, "alice", &body(Verdict::Approve, Scope::Always, &h), now)
        else {
            panic!("approval should apply");
        };
        let decided = ApprovalRequest {
            status: Status::Approved,
            decision: Some(Box::new(d)),
            ..r
        };
        assert_eq!(
            plan_decision(
                &decided,
                "alice",
                &body(Verdict::Approve, Scope::Always, &h),
                now
            )
            .unwrap(),
            DecisionPlan::Replay
        );
        for (who, b) in [
            ("bob", body(Verdict::Approve, Scope::Always, &h)),
            ("alice", body(Verdict::Reject, Scope::Once, &h)),
            ("alice", body(Verdict::Approve, Scope::Once, &h)),
        ] {
            assert!(matches!(
                plan_decision(&decided, who, &b, now),
                Err(StoreError::Conflict { .. })
            ));
        }
    }

    #[test]
    fn an_edit_is_approved_once_with_its_hash_beside_the_one_shown() {
        let r = fixtures::request("r1", Status::Pending);
        let now = now_millis();
        let h = r.args_hash.clone();
        let edit = serde_json::json!({"amount": 1});
        let with = |outcome, scope, hash: &str| DecisionBody {
            params: Some(edit.clone()),
            ..body(outcome, scope, hash)
        };
        let Ok(DecisionPlan::Apply(d)) =
            plan_decision(&r, "alice", &with(Verdict::Approve, Scope::Once, &h), now)
        else {
            panic!("an edited approval should apply");
        };
        assert_eq!(d.approved_params.as_ref(), Some(&edit));
        assert_eq!(
            d.approved_args_hash.as_deref(),
            Some(crate::protocol::args_hash(&edit).as_str())
        );
        // The hash is of what was shown, never of the edit.
        let edit_hash = crate::protocol::args_hash(&edit);
        let code = |b: DecisionBody| match plan_decision(&r, "alice", &b, now) {
            Err(StoreError::Invalid { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(with(Verdict::Approve, Scope::Once, &edit_hash)),
            "args_hash_mismatch"
        );
        for scope in [Scope::Always, Scope::Conversation] {
            assert_eq!(code(with(Verdict::Approve, scope, &h)), "edited_grant");
        }
        assert_eq!(code(with(Verdict::Reject, Scope::Once, &h)), "invalid_edit");
        // The params filed, sent back: no edit.
        let same = DecisionBody {
            params: Some(r.params.clone()),
            ..body(Verdict::Approve, Scope::Once, &h)
        };
        let Ok(DecisionPlan::Apply(d)) = plan_decision(&r, "alice", &same, now) else {
            panic!("should apply");
        };
        assert_eq!((d.approved_params, d.approved_args_hash), (None, None));
        // A repeat is a replay only with the same edit.
        let decided = ApprovalRequest {
            status: Status::Approved,
            decision: Some(
                match plan_decision(&r, "alice", &with(Verdict::Approve, Scope::Once, &h), now) {
                    Ok(DecisionPlan::Apply(d)) => Box::new(d),
                    other => panic!("{other:?}"),
                },
            ),
            ..r.clone()
        };
        assert_eq!(
            plan_decision(
                &decided,
                "alice",
                &with(Verdict::Approve, Scope::Once, &h),
                now
            )
            .unwrap(),
            DecisionPlan::Replay
        );
        assert!(matches!(
            plan_decision(
                &decided,
                "alice",
                &body(Verdict::Approve, Scope::Once, &h),
                now
            ),
            Err(StoreError::Conflict { .. })
        ));
    }

    #[test]
    fn only_the_filer_or_an_admin_cancels_and_only_while_pending() {
        let who = |name: &str, role| Identity {
            name: name.into(),
            role,
        };
        let mut r = fixtures::request("r1", Status::Pending);
        assert!(matches!(
            cancel(&mut r, &who("agent2", Role::Agent)),
            Err(StoreError::Forbidden(_))
        ));
        assert_eq!(r.status, Status::Pending);
        cancel(&mut r, &who("root", Role::Admin)).unwrap();
        assert_eq!(r.status, Status::Cancelled);
        assert!(matches!(
            cancel(&mut r, &who("agent1", Role::Agent)),
            Err(StoreError::Conflict { .. })
        ));
    }
}
