//! Backend-independent rules of the approval domain: what a valid filing is and what it
//! is born as, when a replayed filing or decision is the same one, what a decision, a
//! cancel or a grant is allowed to do, and what the audit log records of each. Every
//! [`super::Store`] applies these, so two backends cannot disagree on them; a backend
//! only stores rows. One file per concern; the items are used through this module.

mod audit;
mod decision;
mod filing;
mod grant;
mod outbox;
mod page;
mod params;
mod timeout;

pub use audit::{GrantAction, RequestAction, grant_audit, request_audit};
pub use decision::{DecisionPlan, add_approval, apply_decision, cancel, conclude, plan_decision};
pub use filing::Filing;
pub use grant::{GrantScope, check_limits, expire, grant_decision, grant_for, revoke, use_grant};
pub use outbox::{FailingMark, Outbox, Route, health};
pub use page::{INLINE_PARAMS, Page, inline_params, list_start};
pub use params::MAX_PARAMS_DEPTH;
pub use timeout::{end_at_timeout, escalate, escalate_at, next_due};

use chrono::{DateTime, Utc};

use super::StoreError;

/// Longest accepted identifier-like field (tool, agent, ids, idempotency key).
pub const MAX_NAME_LEN: usize = 256;
/// Longest TTL a request may ask for: a year. Longer is almost surely a unit mistake.
pub const MAX_TTL_SECONDS: u64 = 366 * 24 * 3600;
/// Who expiry, escalation and a rejection at the TTL's end are attributed to.
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

/// Refuses a NUL character in a text field. PostgreSQL cannot store one in `text` (its
/// refusal was a 500 there, while SQLite kept it), and no tool, name, id or reason needs
/// one; both stores answer 422 for it, from here. (Params are stored as JSON text, where a
/// NUL is the escape `\u0000`, so they are not concerned.)
fn no_nul(field: &str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(invalid(
            "invalid_request",
            format!("`{field}` must not contain a NUL character"),
        ));
    }
    Ok(())
}

/// An event's subject read back from its stored payload: a grant event stores the grant,
/// every other event the request (one rule for both stores' logs).
pub fn event_subject(
    kind: crate::protocol::EventKind,
    payload: &str,
) -> serde_json::Result<(
    Option<crate::protocol::ApprovalRequest>,
    Option<crate::protocol::Grant>,
)> {
    Ok(if kind.as_str().starts_with("grant.") {
        (None, Some(serde_json::from_str(payload)?))
    } else {
        (Some(serde_json::from_str(payload)?), None)
    })
}

fn invalid(code: &'static str, message: String) -> StoreError {
    StoreError::Invalid { code, message }
}

#[cfg(test)]
mod approvals_tests;
