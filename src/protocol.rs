//! The wire protocol: plain data shared by the server, the console, the CLI and the gate.
//!
//! Everything here is serialised exactly as documented in docs/api.md; renaming a field or
//! a variant breaks agents and scripts in the field, so extend, never rename.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod approval;
pub mod audit_chain;
mod delivery;
mod event_kind;
mod grant;
mod timeout;
mod via;

pub use approval::{Approval, MAX_APPROVALS};
pub use delivery::{Delivery, DeliveryList, DeliveryStatus, WebhookHealth, event_id};
pub use event_kind::EventKind;
pub use grant::{Grant, MAX_GRANT_TTL_SECONDS};

/// Where a request is in its life. Only `Pending` can change, and only once.
///
/// The command line takes the wire names (`clap::ValueEnum`, named as serde names them).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::Expired,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        <Status as clap::ValueEnum>::from_str(s, false).ok()
    }

    pub fn is_final(self) -> bool {
        self != Status::Pending
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declared risk of a call. Ordered, so sorting by risk is `Ord`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Risk> {
        <Risk as clap::ValueEnum>::from_str(s, false).ok()
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a decision did to the request (past tense, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
        }
    }
}

/// How far an approval reaches. `Conversation` and `Always` create standing grants.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Once,
    Conversation,
    Always,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Conversation => "conversation",
            Scope::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        <Scope as clap::ValueEnum>::from_str(s, false).ok()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verb a reviewer sends (imperative, as in the decision body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn outcome(self) -> Outcome {
        match self {
            Verdict::Approve => Outcome::Approved,
            Verdict::Reject => Outcome::Rejected,
        }
    }
}

/// The recorded decision on a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub outcome: Outcome,
    pub scope: Scope,
    #[serde(default)]
    #[schema(required)]
    pub reason: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub notify_agent: bool,
    pub responder: String,
    pub decided_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(required)]
    pub grant_id: Option<String>,
    /// How the decision was made: by a person, by a standing grant, or by the policy.
    /// `responder` alone cannot say (a grant's approvals carry its creator's name);
    /// servers before this field sent none, which reads as `person`.
    #[serde(default)]
    #[schema(required)]
    pub via: Via,
    /// On an approval, while it is valid: a JWT the tool can verify offline against the
    /// server's JWKS (docs/api.md, "Approval tokens"); only the filing agent and reviewers
    /// see it. Absent on rejections, once expired, and from servers before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_token: Option<String>,
    /// On an approval of edited arguments: the params the reviewer approved in place of
    /// those filed, which is what the tool runs (the request keeps its own `params` and
    /// `args_hash`, what the reviewer was shown). Absent on every other decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub approved_params: Option<Value>,
    /// With `approved_params`: their args_hash, which the approval token carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub approved_args_hash: Option<String>,
}

pub use timeout::{TIMEOUT_REASON, TimeoutAction};
pub use via::{SHORT_ID_LEN, TIMEOUT_WORDS, Via, short_id};

/// A durable approval request, as every endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRequest {
    pub id: String,
    pub status: Status,
    pub tool: String,
    #[serde(default)]
    #[schema(required)]
    pub params: Value,
    pub args_hash: String,
    #[serde(default)]
    #[schema(required)]
    pub reason: Option<String>,
    pub agent: String,
    #[serde(default)]
    #[schema(required)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub run_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub risk: Option<Risk>,
    #[serde(default)]
    #[schema(required)]
    pub filed_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(required)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Boxed: a queue of pending requests (the console's, 100,000 long) would otherwise
    /// hold the room of a decision in each, a third of the request, for nothing.
    #[serde(default)]
    #[schema(required, value_type = Option<Decision>)]
    pub decision: Option<Box<Decision>>,
    /// The policy rule that matched when the request was filed; null when no rule
    /// matched and the default was require_approval.
    #[serde(default)]
    #[schema(required)]
    pub policy: Option<PolicyMatch>,
    /// In a list asked with `params_max_bytes`: the params are longer than that and left
    /// out (`params` is null); `GET /v1/requests/{id}` has them. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub params_truncated: bool,
    /// With `params_truncated`: the length of the params left out, in bytes of JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub params_size: Option<u64>,
    /// When a still pending request escalates (its rule's or the server's
    /// `escalate_after` past `created_at`); absent: it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub escalate_at: Option<DateTime<Utc>>,
    /// When it escalated (its one `request.escalated` event); absent: it has not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub escalated_at: Option<DateTime<Utc>>,
    /// What its TTL's end does: `expire` (absent) or `reject` (by `system`, reason
    /// `approval_timeout`).
    #[serde(default, skip_serializing_if = "TimeoutAction::is_expire")]
    pub on_timeout: TimeoutAction,
    /// How many different reviewers must approve it (its policy rule's `approvals`);
    /// absent: 1. The token that filed it never counts.
    #[serde(default = "approval::one", skip_serializing_if = "approval::is_one")]
    pub approvals_required: u32,
    /// With `approvals_required` above 1: the approvals given so far, oldest first (the
    /// last one, on an approved request, is the decision's). Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
}

impl ApprovalRequest {
    /// True when the request is pending but its TTL has run out at `now`: it must be
    /// treated as expired even before the server has said so.
    pub fn is_past_expiry(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Pending && self.expires_at.is_some_and(|e| e <= now)
    }

    /// The params an approval lets run: the reviewer's edit, if any, else those filed.
    pub fn params_to_run(&self) -> &Value {
        self.decision
            .as_ref()
            .and_then(|d| d.approved_params.as_ref())
            .unwrap_or(&self.params)
    }

    /// The args_hash of [`ApprovalRequest::params_to_run`], as recorded.
    pub fn args_hash_to_run(&self) -> &str {
        self.decision
            .as_ref()
            .and_then(|d| d.approved_args_hash.as_deref())
            .unwrap_or(&self.args_hash)
    }
}

/// Body of `POST /v1/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub tool: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// Body of `POST /v1/requests/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub outcome: Verdict,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub notify_agent: bool,
    pub args_hash: String,
    /// With scope `conversation`/`always`: the grant ends this many seconds after it is
    /// made (1 to [`MAX_GRANT_TTL_SECONDS`]); absent: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_ttl_seconds: Option<u64>,
    /// With scope `conversation`/`always`: the grant approves at most this many calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_max_uses: Option<u64>,
    /// On an approval with scope `once`: the edited params to approve instead of those
    /// filed (`args_hash` stays the hash of those shown). Checked as a filing's params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub params: Option<Value>,
}

/// Response of `GET /v1/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestList {
    pub requests: Vec<ApprovalRequest>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default)]
    #[schema(required)]
    pub next_cursor: Option<String>,
    /// The event sequence number current when the list was read: stream from here
    /// (`Last-Event-ID: seq`) and nothing is missed or doubled.
    pub seq: u64,
    /// The id of the database the list was read from, made once when it was created: a
    /// new one means another database, whose `seq`s do not continue the old one's. Absent
    /// from servers before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database_id: Option<String>,
}

/// Response of `GET /v1/grants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantList {
    pub grants: Vec<Grant>,
    pub seq: u64,
    /// As [`RequestList::database_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database_id: Option<String>,
}

/// One entry of the durable event log; the SSE `data:` of `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request: Option<ApprovalRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub grant: Option<Grant>,
    /// On `GET /v1/events`: the id of the database the event is from (as
    /// [`RequestList::database_id`]). Not part of the stored event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database_id: Option<String>,
}

/// One state change in the audit log (`GET /v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The token name that caused the change, or `system` for expiry and escalation.
    pub actor: String,
    /// filed | decided | expired | escalated | cancelled | grant_created | grant_revoked | grant_expired
    pub action: String,
    #[serde(default)]
    #[schema(required)]
    pub request_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub tool: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub agent: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub outcome: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub scope: Option<Scope>,
    #[serde(default)]
    #[schema(required)]
    pub reason: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub args_hash: Option<String>,
    /// On a `decided` entry of an approval of edited params: their args_hash (beside
    /// `args_hash`, the hash of those filed and shown). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub approved_args_hash: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub grant_id: Option<String>,
    /// On `filed` entries: the policy verdict the call got; null otherwise.
    #[serde(default)]
    #[schema(required)]
    pub policy: Option<PolicyMatch>,
    /// On `decided` entries: how the decision was made (as `decision.via`), so the
    /// approvals a grant made read apart from the approval that made the grant; null
    /// otherwise.
    #[serde(default)]
    #[schema(required)]
    pub via: Option<Via>,
    /// The hash chain ([`audit_chain`]): the `hash` of the entry before this one
    /// ([`audit_chain::GENESIS`] for the first). Absent on entries written before the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// SHA-256 of this entry's canonical JSON without `hash`, as `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// Response of `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default)]
    #[schema(required)]
    pub next_after: Option<u64>,
}

/// Roles a token can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Reviewer,
    Admin,
}

impl Role {
    pub fn can_act_as_agent(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }

    pub fn can_review(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

/// Response of `GET /v1/whoami`: who the presented token is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

/// Every error response: `{"error":{"code":"…","message":"…"}}`. A 409 on a decision or
/// cancel also carries the request as it now stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request: Option<ApprovalRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// What a policy rule does with a call (see `crate::policy`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// Born approved; the responder is `policy:<rule>`.
    Allow,
    /// Born rejected, with the rule's message as reason and notify_agent set.
    Deny,
    /// Pending: a human decides.
    #[default]
    RequireApproval,
    /// Born approved, and marked for review after the fact.
    Audit,
}

impl PolicyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Allow => "allow",
            PolicyAction::Deny => "deny",
            PolicyAction::RequireApproval => "require_approval",
            PolicyAction::Audit => "audit",
        }
    }
}

impl std::fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which policy rule decided a filing, as recorded on the request and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyMatch {
    /// The rule's name; null when the policy's default applied.
    #[serde(default)]
    #[schema(required)]
    pub rule: Option<String>,
    pub action: PolicyAction,
    #[serde(default)]
    #[schema(required)]
    pub message: Option<String>,
    /// Why the call failed closed, when its rule's condition could not be evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

impl PolicyMatch {
    /// The responder recorded on a decision the policy made.
    pub fn responder(&self) -> String {
        format!("policy:{}", self.rule.as_deref().unwrap_or("default"))
    }

    /// `audit` lets a call through but marks it for review after the fact.
    pub fn needs_review(&self) -> bool {
        self.action == PolicyAction::Audit
    }

    /// One line for people: `rule → action: message` (untrusted only in the sense that
    /// an operator wrote it; sanitise before a terminal like everything else).
    pub fn describe(&self) -> String {
        let rule = self.rule.as_deref().unwrap_or("default");
        match &self.message {
            Some(m) if !m.is_empty() => format!("{rule} → {}: {m}", self.action),
            _ => format!("{rule} → {}", self.action),
        }
    }
}

/// `sha256:` + lowercase hex of the RFC 8785 canonical JSON of `params`.
///
/// Binds a decision to the exact arguments the reviewer saw: any change in a value, however
/// small, changes the hash, while key order and whitespace do not.
pub fn args_hash(params: &Value) -> String {
    // Serialising a serde_json::Value cannot fail (its map keys are strings); an empty
    // canonical form would still hash deterministically, so no panic path is needed.
    let canonical = serde_json_canonicalizer::to_vec(params).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    format!("sha256:{}", hex::encode(digest))
}

#[cfg(test)]
mod tests;
