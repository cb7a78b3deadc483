//! Grants: what a grant covers, the decision it makes on what it covers, how an
//! approval creates one, how it ends (revoked, past its duration, used up).

use chrono::{DateTime, Utc};

use super::{invalid, new_id};
use crate::protocol::{
    ApprovalRequest, Decision, DecisionBody, Grant, MAX_GRANT_TTL_SECONDS, Outcome, Scope, Verdict,
    Via,
};
use crate::store::StoreError;

/// What a grant is bound to: the filing token, the agent, the tool and, for a
/// conversation grant, the conversation. The one statement of grant coverage, used by
/// every store (which grant approves a filing, which pending requests a new grant
/// approves) and by the console's "also approves N pending".
#[derive(Debug, Clone, Copy)]
pub struct GrantScope<'a> {
    pub scope: Scope,
    pub filed_by: &'a str,
    pub agent: &'a str,
    pub tool: &'a str,
    pub conversation_id: Option<&'a str>,
    /// How many reviewers made it: it covers only requests that need no more approvals
    /// than that (one person's grant never stands in for the two-person rule).
    pub approvers: u32,
}

impl<'a> GrantScope<'a> {
    /// The reach at `now` of a grant whose requests were filed by `filed_by`; `None` for a
    /// grant revoked, past its duration or used up, which covers nothing.
    pub fn of_grant(g: &'a Grant, filed_by: &'a str, now: DateTime<Utc>) -> Option<Self> {
        g.in_force(now).then_some(Self {
            scope: g.scope,
            filed_by,
            agent: &g.agent,
            tool: &g.tool,
            conversation_id: g.conversation_id.as_deref(),
            approvers: g.approvers_count(),
        })
    }

    /// The reach of the grant that approving `req` with `scope` would create (by as many
    /// approvers as it needs, all choosing `scope`).
    pub fn of_approval(req: &'a ApprovalRequest, scope: Scope) -> Self {
        Self {
            scope,
            filed_by: &req.filed_by,
            agent: &req.agent,
            tool: &req.tool,
            conversation_id: req.conversation_id.as_deref(),
            approvers: req.approvals_required.max(1),
        }
    }

    /// Does it cover a call of `tool` by `agent` in `conversation_id`, filed by `filed_by`,
    /// that needs `approvals_required` approvals?
    pub fn covers_call(
        &self,
        filed_by: &str,
        agent: &str,
        tool: &str,
        conversation_id: Option<&str>,
        approvals_required: u32,
    ) -> bool {
        self.filed_by == filed_by
            && self.approvers >= approvals_required
            && self.agent == agent
            && self.tool == tool
            && match self.scope {
                Scope::Always => true,
                // A call without a conversation is never part of one.
                Scope::Conversation => {
                    conversation_id.is_some() && self.conversation_id == conversation_id
                }
                Scope::Once => false,
            }
    }

    /// Does it cover `req` (its call, whatever its status)?
    pub fn covers(&self, req: &ApprovalRequest) -> bool {
        self.covers_call(
            &req.filed_by,
            &req.agent,
            &req.tool,
            req.conversation_id.as_deref(),
            req.approvals_required,
        )
    }
}

/// The decision a grant makes on a request it covers: at filing, or when the grant is
/// made while the request is pending. It says so (`via`): the responder is the grant's
/// creator, who never saw this request.
pub fn grant_decision(g: &Grant, now: DateTime<Utc>) -> Decision {
    Decision {
        approval_token: None,
        approved_params: None,
        approved_args_hash: None,
        outcome: Outcome::Approved,
        scope: g.scope,
        reason: None,
        notify_agent: false,
        responder: g.created_by.clone(),
        decided_at: now,
        grant_id: Some(g.id.clone()),
        via: Via::Grant {
            grant_id: g.id.clone(),
            // Every reviewer who made it: a two-person grant is never one person's.
            granted_by: if g.approvers.is_empty() {
                g.created_by.clone()
            } else {
                g.approvers.join(", ")
            },
            scope: g.scope,
        },
    }
}

/// Whether the grant limits of `body` (`grant_ttl_seconds`, `grant_max_uses`) are
/// acceptable: only on an approval that makes a grant, a duration of 1 s to
/// [`MAX_GRANT_TTL_SECONDS`], at least one use.
pub fn check_limits(body: &DecisionBody) -> Result<(), StoreError> {
    if body.grant_ttl_seconds.is_none() && body.grant_max_uses.is_none() {
        return Ok(());
    }
    if body.outcome != Verdict::Approve || body.scope == Scope::Once {
        return Err(invalid(
            "invalid_grant_limit",
            "grant_ttl_seconds and grant_max_uses apply to the grant an approval with scope \
             \"conversation\" or \"always\" makes; leave them out otherwise"
                .into(),
        ));
    }
    if let Some(ttl) = body.grant_ttl_seconds
        && !(1..=MAX_GRANT_TTL_SECONDS).contains(&ttl)
    {
        return Err(invalid(
            "invalid_grant_limit",
            format!(
                "grant_ttl_seconds {ttl} is out of range: give 1 to {MAX_GRANT_TTL_SECONDS} \
                 seconds, or leave it out for a grant that lasts until revoked"
            ),
        ));
    }
    if body.grant_max_uses == Some(0) {
        return Err(invalid(
            "invalid_grant_limit",
            "grant_max_uses must be at least 1, or left out for no limit".into(),
        ));
    }
    Ok(())
}

/// The grant that deciding `req` with `d` (sent as `body`) creates: none for scope
/// `once`; else one bound to the request's agent and tool (and, for `conversation`, its
/// conversation), with the body's limits, which `d` then names.
pub fn grant_for(req: &ApprovalRequest, d: &mut Decision, body: &DecisionBody) -> Option<Grant> {
    if d.scope == Scope::Once {
        return None;
    }
    // A grant several approvers made (each chose this scope) lasts only as long, and
    // approves only as many calls, as the most cautious of them asked.
    let several = req.needs_several();
    let tightest = |own: Option<u64>, each: fn(&crate::protocol::Approval) -> Option<u64>| {
        if several {
            req.approvals.iter().filter_map(each).min()
        } else {
            own
        }
    };
    let ttl = tightest(body.grant_ttl_seconds, |a| a.grant_ttl_seconds);
    let max_uses = tightest(body.grant_max_uses, |a| a.grant_max_uses);
    let approvers = if several {
        req.approvals.iter().map(|a| a.responder.clone()).collect()
    } else {
        Vec::new()
    };
    // check_limits bounded the duration, so the addition cannot overflow.
    let expires_at = ttl.and_then(|s| i64::try_from(s).ok()).and_then(|s| {
        d.decided_at
            .checked_add_signed(chrono::TimeDelta::seconds(s))
    });
    let g = Grant {
        id: new_id(),
        scope: d.scope,
        agent: req.agent.clone(),
        tool: req.tool.clone(),
        conversation_id: if d.scope == Scope::Conversation {
            req.conversation_id.clone()
        } else {
            None
        },
        created_by: d.responder.clone(),
        created_at: d.decided_at,
        source_request_id: Some(req.id.clone()),
        revoked_at: None,
        revoked_by: None,
        expires_at,
        max_uses,
        uses: 0,
        expired_at: None,
        approvers,
    };
    d.grant_id = Some(g.id.clone());
    Some(g)
}

/// Counts one approval `g` made at `now`; true when that was its last allowed one, which
/// ends it (marked now, its `grant.expired` due).
pub fn use_grant(g: &mut Grant, now: DateTime<Utc>) -> bool {
    g.uses = g.uses.saturating_add(1);
    if g.used_up() && g.expired_at.is_none() {
        g.expired_at = Some(now);
        return true;
    }
    false
}

/// Marks `g` ended at `now` when its duration has run out and it is not marked yet nor
/// revoked; true when it did (its `grant.expired` due: once per grant).
pub fn expire(g: &mut Grant, now: DateTime<Utc>) -> bool {
    if g.expired_at.is_some() || !g.is_active() || g.expires_at.is_none_or(|t| t > now) {
        return false;
    }
    g.expired_at = Some(now);
    true
}

/// Revokes `g` for `actor` at `now`; false when it was already revoked, which leaves it
/// as it was.
pub fn revoke(g: &mut Grant, actor: &str, now: DateTime<Utc>) -> bool {
    if g.revoked_at.is_some() {
        return false;
    }
    g.revoked_at = Some(now);
    g.revoked_by = Some(actor.to_owned());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_coverage() {
        let g = Grant {
            id: "g".into(),
            scope: Scope::Conversation,
            agent: "a".into(),
            tool: "t".into(),
            conversation_id: Some("c1".into()),
            created_by: "alice".into(),
            created_at: Utc::now(),
            source_request_id: None,
            revoked_at: None,
            revoked_by: None,
            expires_at: None,
            max_uses: None,
            uses: 0,
            expired_at: None,
            approvers: Vec::new(),
        };
        fn covers(g: &Grant, agent: &str, conv: Option<&str>) -> bool {
            GrantScope::of_grant(g, "tok", Utc::now())
                .is_some_and(|r| r.covers_call("tok", agent, "t", conv, 1))
        }
        assert!(covers(&g, "a", Some("c1")));
        assert!(!covers(&g, "a", Some("c2")));
        assert!(!covers(&g, "a", None));
        assert!(!covers(&g, "b", Some("c1")));
        assert!(
            GrantScope::of_grant(&g, "tok", Utc::now()).is_some_and(|r| !r.covers_call(
                "other-token",
                "a",
                "t",
                Some("c1"),
                1
            ))
        );
        let always = Grant {
            scope: Scope::Always,
            conversation_id: None,
            ..g.clone()
        };
        assert!(covers(&always, "a", None));
        assert!(covers(&always, "a", Some("zz")));
        let revoked = Grant {
            revoked_at: Some(Utc::now()),
            ..always
        };
        assert!(!covers(&revoked, "a", None));
    }

    #[test]
    fn a_wider_approval_creates_a_grant_it_names() {
        let mut req = crate::store::fixtures::request("r1", crate::protocol::Status::Pending);
        req.conversation_id = Some("c1".into());
        let decision = |scope| Decision {
            approval_token: None,
            approved_params: None,
            approved_args_hash: None,
            outcome: Outcome::Approved,
            scope,
            reason: None,
            notify_agent: false,
            responder: "alice".into(),
            decided_at: Utc::now(),
            grant_id: None,
            via: Via::Person,
        };
        let body = |scope| DecisionBody {
            outcome: Verdict::Approve,
            scope,
            reason: None,
            notify_agent: false,
            args_hash: req.args_hash.clone(),
            grant_ttl_seconds: None,
            grant_max_uses: None,
            params: None,
        };
        let mut once = decision(Scope::Once);
        assert!(grant_for(&req, &mut once, &body(Scope::Once)).is_none());
        assert_eq!(once.grant_id, None);
        let mut conv = decision(Scope::Conversation);
        let g = grant_for(&req, &mut conv, &body(Scope::Conversation)).unwrap();
        assert_eq!(conv.grant_id.as_deref(), Some(g.id.as_str()));
        assert_eq!(g.conversation_id.as_deref(), Some("c1"));
        assert_eq!(g.source_request_id.as_deref(), Some("r1"));
        assert_eq!(g.created_by, "alice");
        assert!(GrantScope::of_grant(&g, "agent1", Utc::now()).is_some_and(|s| s.covers(&req)));
        // The approval that made the grant is the person's; what the grant approves is
        // the grant's, though it carries the same responder.
        assert_eq!(conv.via, Via::Person);
        let by_grant = grant_decision(&g, Utc::now());
        assert_eq!(by_grant.responder, "alice");
        assert_eq!(
            by_grant.via,
            Via::Grant {
                grant_id: g.id.clone(),
                granted_by: "alice".into(),
                scope: Scope::Conversation
            }
        );
        let mut always = decision(Scope::Always);
        assert_eq!(
            grant_for(&req, &mut always, &body(Scope::Always))
                .unwrap()
                .conversation_id,
            None
        );
    }

    fn limited(ttl: Option<u64>, max_uses: Option<u64>) -> (Grant, DateTime<Utc>) {
        let req = crate::store::fixtures::request("r1", crate::protocol::Status::Pending);
        let now = super::super::now_millis();
        let mut d = Decision {
            approval_token: None,
            approved_params: None,
            approved_args_hash: None,
            outcome: Outcome::Approved,
            scope: Scope::Always,
            reason: None,
            notify_agent: false,
            responder: "alice".into(),
            decided_at: now,
            grant_id: None,
            via: Via::Person,
        };
        let body = DecisionBody {
            outcome: Verdict::Approve,
            scope: Scope::Always,
            reason: None,
            notify_agent: false,
            args_hash: req.args_hash.clone(),
            grant_ttl_seconds: ttl,
            grant_max_uses: max_uses,
            params: None,
        };
        check_limits(&body).unwrap();
        (grant_for(&req, &mut d, &body).unwrap(), now)
    }

    #[test]
    fn a_grant_past_its_duration_covers_nothing_and_is_marked_once() {
        let (mut g, now) = limited(Some(3600), None);
        assert_eq!(g.expires_at, Some(now + chrono::TimeDelta::hours(1)));
        let later = |s| now + chrono::TimeDelta::seconds(s);
        assert!(GrantScope::of_grant(&g, "agent1", later(3599)).is_some());
        // Ended at its end, marked or not: the mark is only for the event.
        assert!(GrantScope::of_grant(&g, "agent1", later(3600)).is_none());
        assert!(!expire(&mut g, later(3599)));
        assert!(expire(&mut g, later(3600)));
        assert!(!expire(&mut g, later(3700)), "marked once");
        assert_eq!(g.expired_at, Some(later(3600)));
    }

    #[test]
    fn a_used_up_grant_covers_nothing_and_its_last_use_ends_it() {
        let (mut g, now) = limited(None, Some(2));
        assert!(!use_grant(&mut g, now));
        assert!(GrantScope::of_grant(&g, "agent1", now).is_some());
        assert!(use_grant(&mut g, now), "the last use ends it");
        assert_eq!((g.uses, g.expired_at), (2, Some(now)));
        assert!(GrantScope::of_grant(&g, "agent1", now).is_none());
        assert!(!expire(&mut g, now), "already marked");
    }

    #[test]
    fn limits_apply_only_to_a_grant_and_within_bounds() {
        let base = DecisionBody {
            outcome: Verdict::Approve,
            scope: Scope::Always,
            reason: None,
            notify_agent: false,
            args_hash: String::new(),
            grant_ttl_seconds: None,
            grant_max_uses: None,
            params: None,
        };
        let code = |b: DecisionBody| match check_limits(&b) {
            Err(StoreError::Invalid { code, .. }) => Some(code),
            _ => None,
        };
        assert_eq!(code(base.clone()), None);
        let with = |ttl, uses, scope, outcome| DecisionBody {
            grant_ttl_seconds: ttl,
            grant_max_uses: uses,
            scope,
            outcome,
            ..base.clone()
        };
        let bad = Some("invalid_grant_limit");
        assert_eq!(
            code(with(Some(60), None, Scope::Once, Verdict::Approve)),
            bad
        );
        assert_eq!(code(with(None, Some(1), Scope::Once, Verdict::Reject)), bad);
        assert_eq!(
            code(with(Some(0), None, Scope::Always, Verdict::Approve)),
            bad
        );
        let too_long = Some(MAX_GRANT_TTL_SECONDS + 1);
        assert_eq!(
            code(with(too_long, None, Scope::Always, Verdict::Approve)),
            bad
        );
        assert_eq!(
            code(with(None, Some(0), Scope::Always, Verdict::Approve)),
            bad
        );
        let fine = with(
            Some(MAX_GRANT_TTL_SECONDS),
            Some(1),
            Scope::Conversation,
            Verdict::Approve,
        );
        assert_eq!(code(fine), None);
    }
}
