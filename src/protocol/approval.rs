//! The two-person rule on the wire: a request whose policy rule says `approvals = N`
//! carries how many approvals it needs and the ones given so far. Part of the wire
//! protocol (docs/api.md): extend, never rename.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApprovalRequest, Scope};

/// The most approvals a rule may ask for: more reviewers than any team has on call is a
/// typo, and a request nobody can ever approve.
pub const MAX_APPROVALS: u32 = 10;

/// One reviewer's approval of a request that needs more than one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// The reviewer's token name.
    pub responder: String,
    pub approved_at: DateTime<Utc>,
    /// The scope this reviewer chose. A grant is made only when every approver chose the
    /// same wider scope; otherwise the request is approved `once`.
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// With a wider scope: the grant duration this reviewer asked for (the grant gets the
    /// shortest asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub grant_ttl_seconds: Option<u64>,
    /// With a wider scope: the use limit this reviewer asked for (the grant gets the
    /// smallest asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub grant_max_uses: Option<u64>,
}

pub(super) fn one() -> u32 {
    1
}

pub(super) fn is_one(n: &u32) -> bool {
    *n == 1
}

impl ApprovalRequest {
    /// It needs more than one reviewer's approval.
    pub fn needs_several(&self) -> bool {
        self.approvals_required > 1
    }

    /// Whether `name` has already given one of its approvals.
    pub fn approved_by(&self, name: &str) -> bool {
        self.approvals.iter().any(|a| a.responder == name)
    }

    /// How many more approvals it waits on while pending (0 once it has them all).
    pub fn approvals_missing(&self) -> u32 {
        let given = u32::try_from(self.approvals.len()).unwrap_or(u32::MAX);
        self.approvals_required.saturating_sub(given)
    }

    /// `1/2` for a request that needs several approvals; None for one that needs one.
    pub fn approvals_progress(&self) -> Option<String> {
        self.needs_several()
            .then(|| format!("{}/{}", self.approvals.len(), self.approvals_required))
    }
}
