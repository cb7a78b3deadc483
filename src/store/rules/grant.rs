//! Grants: what a grant covers, the decision it makes on what it covers, how an
//! approval creates one, and its revocation.

use chrono::{DateTime, Utc};

use super::new_id;
use crate::protocol::{ApprovalRequest, Decision, Grant, Outcome, Scope, Via};

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
}

impl<'a> GrantScope<'a> {
    /// The reach of an active grant whose requests were filed by `filed_by`; `None` for a
    /// revoked grant, which covers nothing.
    pub fn of_grant(g: &'a Grant, filed_by: &'a str) -> Option<Self> {
        g.is_active().then_some(Self {
            scope: g.scope,
            filed_by,
            agent: &g.agent,
            tool: &g.tool,
            conversation_id: g.conversation_id.as_deref(),
        })
    }

    /// The reach of the grant that approving `req` with `scope` would create.
    pub fn of_approval(req: &'a ApprovalRequest, scope: Scope) -> Self {
        Self {
            scope,
            filed_by: &req.filed_by,
            agent: &req.agent,
            tool: &req.tool,
            conversation_id: req.conversation_id.as_deref(),
        }
    }

    /// Does it cover a call of `tool` by `agent` in `conversation_id`, filed by `filed_by`?
    pub fn covers_call(
        &self,
        filed_by: &str,
        agent: &str,
        tool: &str,
        conversation_id: Option<&str>,
    ) -> bool {
        self.filed_by == filed_by
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
        )
    }
}

/// The decision a grant makes on a request it covers: at filing, or when the grant is
/// made while the request is pending. It says so (`via`): the responder is the grant's
/// creator, who never saw this request.
pub fn grant_decision(g: &Grant, now: DateTime<Utc>) -> Decision {
    Decision {
        approval_token: None,
        outcome: Outcome::Approved,
        scope: g.scope,
        reason: None,
        notify_agent: false,
        responder: g.created_by.clone(),
        decided_at: now,
        grant_id: Some(g.id.clone()),
        via: Via::Grant {
            grant_id: g.id.clone(),
            granted_by: g.created_by.clone(),
            scope: g.scope,
        },
    }
}

/// The grant that deciding `req` with `d` creates: none for scope `once`; else one bound
/// to the request's agent and tool (and, for `conversation`, its conversation), which
/// `d` then names.
pub fn grant_for(req: &ApprovalRequest, d: &mut Decision) -> Option<Grant> {
    if d.scope == Scope::Once {
        return None;
    }
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
    };
    d.grant_id = Some(g.id.clone());
    Some(g)
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
        };
        fn covers(g: &Grant, agent: &str, conv: Option<&str>) -> bool {
            GrantScope::of_grant(g, "tok").is_some_and(|r| r.covers_call("tok", agent, "t", conv))
        }
        assert!(covers(&g, "a", Some("c1")));
        assert!(!covers(&g, "a", Some("c2")));
        assert!(!covers(&g, "a", None));
        assert!(!covers(&g, "b", Some("c1")));
        assert!(
            GrantScope::of_grant(&g, "tok").is_some_and(|r| !r.covers_call(
                "other-token",
                "a",
                "t",
                Some("c1")
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
            outcome: Outcome::Approved,
            scope,
            reason: None,
            notify_agent: false,
            responder: "alice".into(),
            decided_at: Utc::now(),
            grant_id: None,
            via: Via::Person,
        };
        let mut once = decision(Scope::Once);
        assert!(grant_for(&req, &mut once).is_none());
        assert_eq!(once.grant_id, None);
        let mut conv = decision(Scope::Conversation);
        let g = grant_for(&req, &mut conv).unwrap();
        assert_eq!(conv.grant_id.as_deref(), Some(g.id.as_str()));
        assert_eq!(g.conversation_id.as_deref(), Some("c1"));
        assert_eq!(g.source_request_id.as_deref(), Some("r1"));
        assert_eq!(g.created_by, "alice");
        assert!(GrantScope::of_grant(&g, "agent1").is_some_and(|s| s.covers(&req)));
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
        assert_eq!(grant_for(&req, &mut always).unwrap().conversation_id, None);
    }
}
