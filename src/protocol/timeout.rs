//! What happens to a request nobody decides: its TTL's end (`on_timeout`) and its
//! escalation (`escalate_at`, `escalated_at`). Part of the wire protocol (docs/api.md):
//! extend, never rename.

use serde::{Deserialize, Serialize};

use super::ApprovalRequest;

/// What the end of a pending request's TTL does (`on_timeout` in a policy rule, in
/// `[server]`, and on the request).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// The request expires: no decision, the agent is told nobody answered.
    #[default]
    Expire,
    /// The request is rejected by `system` with the reason [`TIMEOUT_REASON`], told to
    /// the agent, so that it stops rather than waits on.
    Reject,
}

/// The reason of a rejection at the TTL's end.
pub const TIMEOUT_REASON: &str = "approval_timeout";

impl TimeoutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutAction::Expire => "expire",
            TimeoutAction::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<TimeoutAction> {
        match s {
            "expire" => Some(TimeoutAction::Expire),
            "reject" => Some(TimeoutAction::Reject),
            _ => None,
        }
    }

    /// For `skip_serializing_if`: `expire` is what a request without the field does.
    pub fn is_expire(&self) -> bool {
        *self == TimeoutAction::Expire
    }
}

impl std::fmt::Display for TimeoutAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApprovalRequest {
    /// Still pending after its `escalate_at`, and the server said so.
    pub fn is_escalated(&self) -> bool {
        self.escalated_at.is_some() && !self.status.is_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_documented_ones() {
        for a in [TimeoutAction::Expire, TimeoutAction::Reject] {
            assert_eq!(
                serde_json::to_string(&a).ok(),
                Some(format!("\"{}\"", a.as_str()))
            );
            assert_eq!(TimeoutAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(TimeoutAction::parse("Reject"), None);
    }
}
