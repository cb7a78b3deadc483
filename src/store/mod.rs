//! The durable store of requests, decisions, grants, events and the audit log.
//!
//! The HTTP layer talks only to the [`Store`] trait: one async method per domain
//! operation, each of which runs as one transaction in the backend and returns the
//! events it appended ([`Written::events`]) so the server can fan them out to SSE
//! streams and long-poll waiters after the commit. The rules every backend must apply
//! the same way (validation, idempotency, what a request is born as, decision and cancel
//! checks, grant coverage, audit entries) live in [`rules`], so a second backend (the
//! [`sqlite`] one is the first) stores rows and decides nothing.
//!
//! Expiry is part of every operation: a backend expires the requests that are due, in
//! the same transaction and before acting, so an expired request can never be approved
//! however late the background sweep runs.

pub mod delivery;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod postgres;
pub mod rules;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, DeliveryList, Event, Grant, GrantList, Identity,
    NewRequest, RequestList, Risk, Status,
};
use delivery::{AttemptResult, Claimed, DeliveryQuery};

/// The value of an operation and the events it appended to the log, in sequence order.
/// Reads may append events too: a read that finds requests past their expiry expires
/// them first.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    pub value: T,
    pub events: Vec<Event>,
}

impl<T> Written<T> {
    pub fn new(value: T, events: Vec<Event>) -> Self {
        Written { value, events }
    }
}

/// Result of filing: the request, and whether this call created it (false: an
/// idempotent replay found the existing one).
#[derive(Debug, Clone, PartialEq)]
pub struct Filed {
    pub request: ApprovalRequest,
    pub created: bool,
}

/// Per-filing settings that come from the transport and the server config, not the body.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// The `Idempotency-Key` header, scoped to the filing token.
    pub idempotency_key: Option<String>,
    /// TTL for a request that does not carry `ttl_seconds`.
    pub default_ttl: Option<Duration>,
    /// The policy verdict for this call, when a rule matched or the default is not
    /// require_approval. allow/audit/deny decide the request at birth.
    pub policy: Option<crate::protocol::PolicyMatch>,
    /// How long after filing a request still pending escalates (the rule's, else
    /// `[server] escalate_after`); None: never.
    pub escalate_after: Option<Duration>,
    /// What its TTL's end does (the rule's, else `[server] on_timeout`).
    pub on_timeout: crate::protocol::TimeoutAction,
    /// How many different reviewers must approve it (the rule's `approvals`); 0 reads
    /// as 1.
    pub approvals_required: u32,
}

/// `GET /v1/requests` parameters, already validated by the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// None: every status.
    pub status: Option<Status>,
    /// At least 1; the HTTP layer caps it.
    pub limit: usize,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Newest filed first instead of oldest first (`order=newest`).
    pub newest: bool,
    /// The page's byte budget: the page ends before the request that would take it over,
    /// counting each request's params, its reasons and [`LIST_ROW_BYTES`]; the first request is sent
    /// whatever its size, so paging always moves on.
    pub max_bytes: usize,
    /// Requests whose params are longer than this (in bytes of JSON) are listed without
    /// them (`params_truncated`, `params_size`); None: params are always listed.
    pub params_max_bytes: Option<usize>,
}

/// What a listed request costs the page budget beyond its params and its two reasons
/// (the agent's and the reviewer's, which are counted by length): its other fields and
/// the JSON around them, generously (names and ids are at most 256 characters).
pub const LIST_ROW_BYTES: usize = 1024;

/// How long the logs keep their entries; None: forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    pub events: Option<Duration>,
    pub audit: Option<Duration>,
}

/// What one step of compaction deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compacted {
    pub events: u64,
    pub audit: u64,
    /// It stopped at its bound: more may be due.
    pub more: bool,
}

/// What went wrong, in terms the HTTP layer maps to a status code. Every message is
/// meant for a person and says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request is no longer pending (`not_pending`), or this reviewer already
    /// gave one of its approvals (`already_approved`); carries it as it now stands.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        request: Box<ApprovalRequest>,
    },
    /// 422: well-formed but not acceptable (args_hash mismatch, bad scope, bad field).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// 400: a malformed parameter (e.g. a cursor this store did not make).
    #[error("{0}")]
    BadInput(String),
    /// 403: the caller may not do this to this object.
    #[error("{0}")]
    Forbidden(String),
    /// 500: the backend failed (I/O, corruption). Logged; never shown in detail.
    #[error("storage failure: {0}")]
    Backend(String),
    /// 503: the database cannot be reached (PostgreSQL down or restarting); nothing was
    /// changed and the same call may be made again.
    #[error("{0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A key that signs approval tokens, as the store keeps it (`crate::token` makes and
/// uses them). Ed25519: `public_key` is the 32-byte public key, `private_key` the 32-byte
/// seed, or None for a key read from `[server] signing_key_file`, which only the file
/// holds (its public half is kept so the JWKS can go on publishing it after a change).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The RFC 7638 thumbprint of the public key: the JWKS `kid`, the tokens' `kid`.
    pub kid: String,
    /// When the key came into use (the next key's `created_at` is when it left it).
    pub created_at: DateTime<Utc>,
    pub public_key: Vec<u8>,
    pub private_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The seed never reaches a log.
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("private_key", &self.private_key.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// The domain operations of the approval backend. Implementations must make each call
/// atomic and durable before it returns, append exactly the events they return, and
/// change nothing when they return an error (an expiry seen by a failed call is left to
/// the next call, which then reports its event).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Files a request as `filer` (the token name). Idempotent by (filer, agent,
    /// tool_call_id) and by (filer, idempotency key): a replay returns the existing
    /// request with `created: false`. A request covered by an active grant is born
    /// approved.
    async fn file(
        &self,
        filer: &str,
        new: NewRequest,
        opts: FileOptions,
    ) -> StoreResult<Written<Filed>>;

    /// Decides a pending request as `responder`. Approvals with scope `conversation` or
    /// `always` create a grant and approve the pending requests it covers.
    async fn decide(
        &self,
        id: &str,
        responder: &str,
        body: DecisionBody,
    ) -> StoreResult<Written<ApprovalRequest>>;

    /// Cancels a pending request; only its filer or an admin may.
    async fn cancel(&self, id: &str, actor: &Identity) -> StoreResult<Written<ApprovalRequest>>;

    /// The sweep: ends every pending request whose TTL has run out (expired, or rejected
    /// by the system when its `on_timeout` is `reject`) and escalates every one still
    /// pending past its `escalate_at`, each once (`escalated_at` is set only where it is
    /// null, in the transaction that appends the `request.escalated` event, however many
    /// sweeps run at once); returns when the next expiry or escalation is due.
    async fn expire_due(&self) -> StoreResult<Written<Option<DateTime<Utc>>>>;

    async fn get(&self, id: &str) -> StoreResult<Written<ApprovalRequest>>;

    /// Requests oldest first, with the event sequence number of the same snapshot.
    async fn list(&self, query: ListQuery) -> StoreResult<Written<RequestList>>;

    /// Up to `limit` events with `seq > after`, in order.
    async fn events_after(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>>;

    /// The active grants, with the event sequence number of the same snapshot.
    async fn grants(&self) -> StoreResult<GrantList>;

    /// Revokes a grant. Revoking a revoked grant returns it unchanged, with no event.
    async fn revoke_grant(&self, id: &str, actor: &str) -> StoreResult<Written<Grant>>;

    async fn audit_after(&self, after: u64, limit: usize) -> StoreResult<AuditPage>;

    /// The sequence number of the last event (0 when the log is empty).
    async fn current_seq(&self) -> StoreResult<u64>;

    /// The id the database was given when it was created, never changed after: a client
    /// that sees another one is talking to another database (one put in the place of the
    /// one it saw), whose sequence numbers do not continue the old ones. A copy of the
    /// database file keeps the id.
    fn database_id(&self) -> &str;

    /// One bounded step of retention: deletes the oldest events older than
    /// `keep.events` and the oldest audit entries older than `keep.audit`, at most
    /// `batch` of each, in one transaction (so a crash keeps every entry or deletes a
    /// prefix, and other operations wait one step at most). Call again while
    /// [`Compacted::more`]. Events are deleted only from the start of the log; the
    /// newest one deleted becomes [`Store::compacted_through`].
    async fn compact(&self, keep: Retention, batch: usize) -> StoreResult<Compacted>;

    /// The newest event sequence number compaction deleted (0: none): a stream can be
    /// replayed only from this point on, and a resume point before it is refused.
    async fn compacted_through(&self) -> StoreResult<u64>;

    /// How many requests are pending now, by risk (None: filed without one); requests
    /// past their expiry are not counted, swept or not. For the metrics gauge: a read
    /// that writes nothing.
    async fn pending_counts(&self) -> StoreResult<Vec<(Option<Risk>, u64)>>;

    /// Every approval-token signing key, ordered by `created_at` (then by when it was
    /// added), oldest first: the last one is the key in use.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;

    /// Records `key` as the newest signing key, durably, before it returns. A `kid`
    /// stored already is not added twice: its `created_at` becomes `key.created_at`
    /// (a key file put back in place is in use again from then); its other columns stay.
    async fn add_signing_key(&self, key: StoredKey) -> StoreResult<()>;

    // The webhook outbox (issue 13). Its rows are written by the appends themselves, for
    // the webhooks the store's `rules::Outbox` names, in the event's transaction.

    /// Claims up to `limit` deliveries of `webhook` that are due now (pending, their next
    /// attempt reached, no other sender's lease on them), oldest first, leasing them for
    /// `lease`: another sender (another instance) claims them only once it ran out.
    async fn claim_deliveries(
        &self,
        webhook: &str,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Claimed>;

    /// Records attempts at deliveries of `webhook`: each row's status, attempt count, last
    /// answer and next attempt, its lease let go; a 410 marks the webhook failing, a 2xx
    /// clears the mark. Durable before it returns.
    async fn record_attempts(&self, webhook: &str, results: Vec<AttemptResult>) -> StoreResult<()>;

    /// A page of deliveries by id, and the health of every webhook the store knows of
    /// (rows or a failing mark).
    async fn deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryList>;

    /// Pending deliveries, by webhook: the depth of each queue (a read that writes nothing).
    async fn delivery_depth(&self) -> StoreResult<Vec<(String, u64)>>;
}
