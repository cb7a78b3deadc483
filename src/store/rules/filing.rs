//! Filing: what a valid filing is, when a replayed one is the same call, and what a new
//! request is born as (pending, or decided at once by the policy or a covering grant).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::decision::status_of;
use super::grant::grant_decision;
use super::params;
use super::timeout::escalate_at;
use super::{MAX_NAME_LEN, MAX_TTL_SECONDS, invalid, new_id, no_nul, truncate_millis};
use crate::protocol::{
    ApprovalRequest, Decision, Grant, NewRequest, Outcome, PolicyAction, PolicyMatch, Scope,
    TimeoutAction, Via,
};
use crate::store::{FileOptions, StoreError};

/// The member of a filing body that [`Filing::check_sent_params`] checks.
const PARAMS: &str = "params";

/// A filing that passed [`Filing::check`]: what a store looks a replay up by, and what
/// it records.
#[derive(Debug, Clone)]
pub struct Filing {
    /// The name of the filing token.
    pub filer: String,
    pub new: NewRequest,
    /// Of `new.params`, computed once.
    pub args_hash: String,
    pub opts: FileOptions,
}

impl Filing {
    /// Checks the fields of `new` and the idempotency key, and hashes the arguments.
    pub fn check(filer: &str, new: NewRequest, opts: FileOptions) -> Result<Filing, StoreError> {
        validate_new(&new)?;
        if let Some(k) = &opts.idempotency_key {
            validate_idempotency_key(k)?;
        }
        Ok(Filing {
            filer: filer.to_owned(),
            args_hash: crate::protocol::args_hash(&new.params),
            new,
            opts,
        })
    }

    /// Checks the params of the filing body `body` as it was sent, which the parsed
    /// [`NewRequest`] can no longer show: their depth, repeated keys, and numbers that
    /// would not survive to the value a reviewer is shown. For a body serde_json accepted.
    pub fn check_sent_params(body: &[u8]) -> Result<(), StoreError> {
        params::check_member(body, PARAMS).map_err(|f| invalid(f.code(), f.message()))
    }

    /// As [`Filing::check_sent_params`], for a body that carries the params under another
    /// name (`tool_input` in a Claude Code hook input).
    pub fn check_sent_params_in(body: &[u8], member: &str) -> Result<(), StoreError> {
        params::check_member(body, member).map_err(|f| invalid(f.code(), f.message()))
    }

    /// Params given as JSON text on their own (a reviewer's edit, from the console's
    /// editor or `assent approve --params-file`), read and checked as a filing's params
    /// are: valid JSON, then depth, repeated keys and inexact numbers, on the text itself.
    pub fn params_from_text(text: &[u8]) -> Result<serde_json::Value, StoreError> {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
            // serde_json stops short of a too-deep value with a message naming no field.
            let mut body = b"{\"params\":".to_vec();
            body.extend_from_slice(text);
            body.push(b'}');
            match params::check_member(&body, PARAMS) {
                Err(f @ params::Fault::TooDeep { .. }) => invalid(f.code(), f.message()),
                _ => invalid(
                    "malformed_json",
                    format!("the params are not valid JSON: {e}"),
                ),
            }
        })?;
        let mut body = b"{\"params\":".to_vec();
        body.extend_from_slice(text);
        body.push(b'}');
        Self::check_sent_params(&body)?;
        Ok(value)
    }

    /// For a filing body serde_json refused: the refusal of its params when they nest past
    /// [`params::MAX_PARAMS_DEPTH`] (serde_json's own limit is deeper, and its message
    /// names no field); None when the parser's verdict is the one to give.
    pub fn too_deep_params(body: &[u8]) -> Option<StoreError> {
        match params::check_member(body, PARAMS) {
            Err(f @ params::Fault::TooDeep { .. }) => Some(invalid(f.code(), f.message())),
            _ => None,
        }
    }

    /// Accepts `existing`, found by this filing's tool_call_id or idempotency key, as its
    /// replay only when it is the same call.
    pub fn check_replay(&self, existing: &ApprovalRequest) -> Result<(), StoreError> {
        check_replay(existing, &self.new, &self.args_hash)
    }

    /// The decision the request is born with. A policy verdict other than
    /// require_approval decides first, so a deny rule wins over an "always" grant; only
    /// then is `covering_grant` asked for the oldest active grant that covers the call.
    pub fn birth_decision(
        &self,
        now: DateTime<Utc>,
        covering_grant: impl FnOnce() -> Result<Option<Grant>, StoreError>,
    ) -> Result<Option<Decision>, StoreError> {
        if let Some(d) = self
            .opts
            .policy
            .as_ref()
            .and_then(|p| policy_decision(p, now))
        {
            return Ok(Some(d));
        }
        Ok(covering_grant()?.map(|g| grant_decision(&g, now)))
    }

    /// The new request, filed at `now` with `decision` (from [`Filing::birth_decision`]).
    pub fn into_request(self, decision: Option<Decision>, now: DateTime<Utc>) -> ApprovalRequest {
        let Filing {
            filer,
            new,
            args_hash,
            opts,
        } = self;
        let expires_at = expiry_for(&new, opts.default_ttl, now);
        // Escalation and the TTL's end concern a request a person is to decide.
        let pending = decision.is_none();
        ApprovalRequest {
            id: new_id(),
            status: status_of(decision.as_ref()),
            escalate_at: escalate_at(now, opts.escalate_after.filter(|_| pending), expires_at),
            escalated_at: None,
            on_timeout: if pending {
                opts.on_timeout
            } else {
                TimeoutAction::Expire
            },
            // So does the two-person rule: a request born decided needs no approvals.
            approvals_required: if pending {
                opts.approvals_required.max(1)
            } else {
                1
            },
            approvals: Vec::new(),
            expires_at,
            tool: new.tool,
            params: new.params,
            args_hash,
            reason: new.reason,
            agent: new.agent,
            conversation_id: new.conversation_id,
            run_id: new.run_id,
            tool_call_id: new.tool_call_id,
            risk: new.risk,
            filed_by: filer,
            created_at: now,
            decision: decision.map(Box::new),
            policy: opts.policy,
            params_truncated: false,
            params_size: None,
        }
    }
}

/// The decision a policy verdict makes at filing time; None for require_approval.
fn policy_decision(p: &PolicyMatch, now: DateTime<Utc>) -> Option<Decision> {
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
        approval_token: None,
        approved_params: None,
        approved_args_hash: None,
        outcome,
        scope: Scope::Once,
        reason,
        notify_agent,
        responder: p.responder(),
        decided_at: now,
        grant_id: None,
        via: Via::Policy {
            rule: p.rule.clone(),
            action: p.action,
        },
    })
}

fn check_name(field: &str, value: &str, required: bool) -> Result<(), StoreError> {
    no_nul(field, value)?;
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

/// Checks a filing's fields; the body's shape was already checked by deserialisation.
fn validate_new(new: &NewRequest) -> Result<(), StoreError> {
    check_name("tool", &new.tool, true)?;
    check_name("agent", &new.agent, true)?;
    if let Some(reason) = &new.reason {
        no_nul("reason", reason)?;
    }
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
fn validate_idempotency_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_NAME_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::BadInput(format!(
            "the Idempotency-Key header must be 1 to {MAX_NAME_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// When a request filed at `now` expires: its own TTL, else the server default, else never.
fn expiry_for(
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
fn check_replay(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures;
    use crate::store::rules::now_millis;
    use serde_json::json;

    #[test]
    fn ttl_rules() {
        let mut n = NewRequest {
            ttl_seconds: Some(0),
            ..fixtures::new_request("t", json!(null))
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
    fn a_policy_verdict_decides_before_any_grant() {
        let now = now_millis();
        let grant = Grant {
            id: "g".into(),
            scope: Scope::Always,
            agent: "a".into(),
            tool: "t".into(),
            conversation_id: None,
            created_by: "alice".into(),
            created_at: now,
            source_request_id: None,
            revoked_at: None,
            revoked_by: None,
            expires_at: None,
            max_uses: None,
            uses: 0,
            expired_at: None,
            approvers: Vec::new(),
        };
        let filing = |action| {
            let policy = PolicyMatch {
                rule: Some("r".into()),
                action,
                message: None,
                error: None,
            };
            let opts = FileOptions {
                policy: Some(policy),
                ..FileOptions::default()
            };
            Filing::check("agent1", fixtures::new_request("t", json!({})), opts)
        };
        let denied = filing(PolicyAction::Deny)
            .unwrap()
            .birth_decision(now, || panic!("a grant was looked up"))
            .unwrap()
            .unwrap();
        assert_eq!(denied.outcome, Outcome::Rejected);
        assert_eq!(denied.responder, "policy:r");
        assert_eq!(
            denied.via,
            Via::Policy {
                rule: Some("r".into()),
                action: PolicyAction::Deny
            }
        );
        let by_grant = filing(PolicyAction::RequireApproval)
            .unwrap()
            .birth_decision(now, || Ok(Some(grant.clone())))
            .unwrap()
            .unwrap();
        assert_eq!(by_grant.grant_id.as_deref(), Some("g"));
        assert_eq!(
            by_grant.via,
            Via::Grant {
                grant_id: "g".into(),
                granted_by: "alice".into(),
                scope: Scope::Always
            }
        );
        let born = filing(PolicyAction::RequireApproval)
            .unwrap()
            .into_request(Some(by_grant), now);
        assert_eq!(born.status, crate::protocol::Status::Approved);
        assert_eq!(born.filed_by, "agent1");
    }

    #[test]
    fn edited_params_as_text_are_checked_as_a_filing_s() {
        let ok = Filing::params_from_text(br#"{"a": [1, 2.5, "x"]}"#).unwrap();
        assert_eq!(ok, serde_json::json!({"a": [1, 2.5, "x"]}));
        let code = |t: &[u8]| match Filing::params_from_text(t) {
            Err(StoreError::Invalid { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(b"{\"a\": 1,"), "malformed_json");
        assert_eq!(code(br#"{"a": 1, "a": 2}"#), "duplicate_key");
        assert_eq!(code(br#"{"n": 12345678901234567890}"#), "inexact_number");
        let deep = "[".repeat(70) + &"]".repeat(70);
        assert_eq!(code(deep.as_bytes()), "params_too_deep");
        let deeper = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(code(deeper.as_bytes()), "params_too_deep");
    }
}
