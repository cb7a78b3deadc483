//! Backend-independent rules of the approval domain: what a valid filing is, when a
//! replayed filing or decision is the same one, and what a decision is allowed to do.
//! Every [`super::Store`] applies these, so two backends cannot disagree on them.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::StoreError;
use crate::protocol::{
    ApprovalRequest, Decision, DecisionBody, Grant, NewRequest, Outcome, PolicyAction, PolicyMatch,
    Scope, Status, Verdict,
};

/// Longest accepted identifier-like field (tool, agent, ids, idempotency key).
pub const MAX_NAME_LEN: usize = 256;
/// Longest TTL a request may ask for: a year. Longer is almost surely a unit mistake.
pub const MAX_TTL_SECONDS: u64 = 366 * 24 * 3600;
/// Who expiry is attributed to in the audit log.
pub const SYSTEM_ACTOR: &str = "system";

/// The current time at the precision the stores keep (milliseconds), so a value
/// returned by a write compares equal to the same value read back later.
pub fn now_millis() -> DateTime<Utc> {
    truncate_millis(Utc::now())
}

pub fn truncate_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// A new server-made, time-sortable id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The decision a policy verdict makes at filing time; None for require_approval.
pub fn policy_decision(p: &PolicyMatch, now: DateTime<Utc>) -> Option<Decision> {
    let (outcome, notify_agent, reason) = match p.action {
        PolicyAction::RequireApproval => return None,
        PolicyAction::Allow | PolicyAction::Audit => (Outcome::Approved, false, p.message.clone()),
        // A denied agent is always told why: it cannot ask a person.
        PolicyAction::Deny => (
            Outcome::Rejected,
            true,
            Some(p.message.clone().unwrap_or_else(|| {
                format!(
                    "Denied by policy rule '{}'.",
                    p.rule.as_deref().unwrap_or("default")
                )
            })),
        ),
    };
    Some(Decision {
        outcome,
        scope: Scope::Once,
        reason,
        notify_agent,
        responder: p.responder(),
        decided_at: now,
        grant_id: None,
    })
}

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

fn invalid(code: &'static str, message: String) -> StoreError {
    StoreError::Invalid { code, message }
}

fn check_name(field: &str, value: &str, required: bool) -> Result<(), StoreError> {
    if required && value.trim().is_empty() {
        return Err(invalid(
            "invalid_request",
            format!("`{field}` must not be empty"),
        ));
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(invalid(
            "invalid_request",
            format!("`{field}` is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

/// Largest integer every JSON reader keeps exactly (I-JSON, RFC 7493; RFC 8785 hashes
/// numbers as IEEE doubles).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0; // 2^53

/// Finds a number in `v` that would not survive the trip exactly: an integer beyond
/// ±2^53 (a JSON parser turns it into a rounded double). A reviewer would then approve,
/// and args_hash would bind, a value other than the one the agent sent.
fn inexact_number(v: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Number(n) => {
            let too_big = if let Some(i) = n.as_i64() {
                i.unsigned_abs() as f64 > MAX_SAFE_INTEGER
            } else if let Some(u) = n.as_u64() {
                u as f64 > MAX_SAFE_INTEGER
            } else {
                n.as_f64()
                    .is_some_and(|f| f.abs() > MAX_SAFE_INTEGER && f.fract() == 0.0)
            };
            too_big.then(|| format!("{path} = {n}"))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = inexact_number(x, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let found = inexact_number(x, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Checks a filing's fields; the body's shape was already checked by deserialisation.
pub fn validate_new(new: &NewRequest) -> Result<(), StoreError> {
    if let Some(at) = inexact_number(&new.params, &mut "params".to_owned()) {
        return Err(invalid(
            "inexact_number",
            format!(
                "{at}: integers beyond ±2^53 cannot be kept exactly, so a reviewer would see \
                 (and approve) a rounded value; send such numbers as strings"
            ),
        ));
    }
    check_name("tool", &new.tool, true)?;
    check_name("agent", &new.agent, true)?;
    for (field, value) in [
        ("conversation_id", &new.conversation_id),
        ("run_id", &new.run_id),
        ("tool_call_id", &new.tool_call_id),
    ] {
        if let Some(v) = value {
            check_name(field, v, true)?;
        }
    }
    if let Some(ttl) = new.ttl_seconds {
        if ttl == 0 {
            return Err(invalid(
                "invalid_request",
                "`ttl_seconds` must be at least 1 (omit it for no expiry)".into(),
            ));
        }
        if ttl > MAX_TTL_SECONDS {
            return Err(invalid(
                "invalid_request",
                format!("`ttl_seconds` must be at most {MAX_TTL_SECONDS} (366 days)"),
            ));
        }
    }
    Ok(())
}

/// Checks an `Idempotency-Key` value.
pub fn validate_idempotency_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_NAME_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::BadInput(format!(
            "the Idempotency-Key header must be 1 to {MAX_NAME_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// When a request filed at `now` expires: its own TTL, else the server default, else never.
pub fn expiry_for(
    new: &NewRequest,
    default_ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let ttl = match new.ttl_seconds {
        Some(s) => Duration::from_secs(s),
        None => default_ttl?,
    };
    let delta = TimeDelta::from_std(ttl).ok()?;
    now.checked_add_signed(delta).map(truncate_millis)
}

/// A replayed filing must be the same call: the same tool, arguments and conversation.
/// Returning an approved request for different arguments would let a retry run
/// something nobody saw.
pub fn check_replay(
    existing: &ApprovalRequest,
    new: &NewRequest,
    args_hash: &str,
) -> Result<(), StoreError> {
    let same = existing.tool == new.tool
        && existing.agent == new.agent
        && existing.args_hash == args_hash
        && existing.conversation_id == new.conversation_id
        && (new.tool_call_id.is_none() || existing.tool_call_id == new.tool_call_id);
    if same {
        Ok(())
    } else {
        Err(invalid(
            "idempotency_mismatch",
            format!(
                "request {} was already filed with this tool_call_id or Idempotency-Key but a \
                 different tool, agent, conversation or params; use a new key for a new call",
                existing.id
            ),
        ))
    }
}

/// What a decision on a request should do.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionPlan {
    /// The same responder already made this decision: answer 200 with the request as is.
    Replay,
    /// Record this decision (and, for a wider scope, create a grant).
    Apply(Decision),
}

fn describe_final(req: &ApprovalRequest) -> String {
    match (&req.status, &req.decision) {
        (Status::Approved | Status::Rejected, Some(d)) => {
            let via = d
                .grant_id
                .as_ref()
                .map(|g| format!(" (grant {g})"))
                .unwrap_or_default();
            format!(
                "request {} was already {} by {} at {}{via}",
                req.id,
                req.status,
                d.responder,
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
pub fn not_pending(req: &ApprovalRequest) -> StoreError {
    StoreError::Conflict {
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
    if req.status.is_final() {
        let same = req.decision.as_ref().is_some_and(|d| {
            d.responder == responder
                && d.outcome == outcome
                && d.scope == body.scope
                && body.args_hash == req.args_hash
                && req.status.as_str() == outcome.as_str()
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
    Ok(DecisionPlan::Apply(Decision {
        outcome,
        scope: body.scope,
        reason: body.reason.clone(),
        notify_agent: body.notify_agent,
        responder: responder.to_owned(),
        decided_at: now,
        grant_id: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req() -> ApprovalRequest {
        ApprovalRequest {
            id: "r1".into(),
            status: Status::Pending,
            tool: "t".into(),
            params: json!({}),
            args_hash: crate::protocol::args_hash(&json!({})),
            reason: None,
            agent: "a".into(),
            conversation_id: None,
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "agent1".into(),
            created_at: now_millis(),
            expires_at: None,
            decision: None,
            policy: None,
        }
    }

    fn body(outcome: Verdict, scope: Scope, hash: &str) -> DecisionBody {
        DecisionBody {
            outcome,
            scope,
            reason: None,
            notify_agent: false,
            args_hash: hash.into(),
        }
    }

    #[test]
    fn decision_checks() {
        let r = req();
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
            decision: Some(d),
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
    fn ttl_rules() {
        let mut n = NewRequest {
            tool: "t".into(),
            params: json!(null),
            reason: None,
            agent: "a".into(),
            conversation_id: None,
            run_id: None,
            tool_call_id: None,
            risk: None,
            ttl_seconds: Some(0),
        };
        assert!(validate_new(&n).is_err());
        n.ttl_seconds = Some(MAX_TTL_SECONDS + 1);
        assert!(validate_new(&n).is_err());
        n.ttl_seconds = Some(10);
        assert!(validate_new(&n).is_ok());
        let now = now_millis();
        assert_eq!(
            expiry_for(&n, Some(Duration::from_secs(99)), now),
            Some(now + TimeDelta::seconds(10))
        );
        n.ttl_seconds = None;
        assert_eq!(expiry_for(&n, None, now), None);
        assert_eq!(
            expiry_for(&n, Some(Duration::from_secs(99)), now),
            Some(now + TimeDelta::seconds(99))
        );
        n.tool = " ".into();
        assert!(validate_new(&n).is_err());
    }

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
}
