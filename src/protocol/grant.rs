//! A standing approval, and when it ends: revoked, past its duration, or used up.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Scope;

/// The longest duration a grant may be given (`grant_ttl_seconds`): about ten years,
/// so its end is always a representable time.
pub const MAX_GRANT_TTL_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// A standing approval created by a `conversation` or `always` decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    /// `conversation` or `always`.
    pub scope: Scope,
    pub agent: String,
    pub tool: String,
    /// Set for conversation grants only.
    #[serde(default)]
    #[schema(required)]
    pub conversation_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The request whose decision created this grant.
    #[serde(default)]
    #[schema(required)]
    pub source_request_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(required)]
    pub revoked_by: Option<String>,
    /// When the grant stops approving (it was made with `grant_ttl_seconds`); absent:
    /// until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expires_at: Option<DateTime<Utc>>,
    /// How many calls the grant approves at most (it was made with `grant_max_uses`);
    /// absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub max_uses: Option<u64>,
    /// How many calls it has approved (the approval that made it not counted); absent: 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uses: u64,
    /// When the server marked it ended by itself (`grant.expired`): its duration ran out
    /// or it made its last allowed approval. A grant past `expires_at` approves nothing,
    /// marked yet or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expired_at: Option<DateTime<Utc>>,
    /// When its request needed several approvals: every reviewer who approved it (each
    /// chose this scope; `created_by` is the last). It covers only requests that need no
    /// more approvals than that. Absent: `created_by` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Grant {
    /// Not revoked (it may have ended by itself: see [`Grant::in_force`]).
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// It has made every approval it may.
    pub fn used_up(&self) -> bool {
        self.max_uses.is_some_and(|m| self.uses >= m)
    }

    /// It ended by itself by `now`: marked so, past its duration, or used up.
    pub fn has_ended(&self, now: DateTime<Utc>) -> bool {
        self.expired_at.is_some() || self.expires_at.is_some_and(|t| t <= now) || self.used_up()
    }

    /// How many reviewers made it.
    pub fn approvers_count(&self) -> u32 {
        u32::try_from(self.approvers.len())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// It approves what it covers at `now`: neither revoked nor ended.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.is_active() && !self.has_ended(now)
    }
}
