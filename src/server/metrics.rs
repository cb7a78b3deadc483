//! `GET /metrics`: what an operator alerts on, in the Prometheus exposition format
//! (OpenMetrics text, as `prometheus-client` writes it; Prometheus scrapes it natively).
//!
//! Counters count what *this instance* committed: they are fed from [`AppState::commit`]
//! (every write's own events), never from events another instance wrote, so summing the
//! instances of a fleet counts each filing once. The pending gauge is read from the store
//! at scrape time, so it is the whole database's (take the max over instances, not the
//! sum). Labels never carry ids, hashes or names of people: only closed sets (status,
//! scope, risk, how a decision was made, the store operation).
//!
//! [`AppState::commit`]: super::state::AppState::commit

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::auth::{Auth, Caller};
use super::error::ApiError;
use super::state::AppState;
use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, DeliveryList, Event, EventKind, Grant, GrantList,
    Identity, NewRequest, Outcome, RequestList, Risk, Via,
};
use crate::store::delivery::{AttemptResult, Claimed, DeliveryQuery};
use crate::store::{
    Compacted, FileOptions, Filed, ListQuery, Retention, Store, StoreResult, StoredKey, Written,
};

/// The content type `prometheus-client`'s text encoder writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FiledLabels {
    /// The status the request was born with: pending, or decided at once by the policy
    /// or a covering grant.
    outcome: &'static str,
    policy_action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: &'static str,
    scope: &'static str,
    /// person, grant or policy.
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViaLabels {
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RiskLabels {
    risk: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    /// The webhook's configured name (an operator's word, not a person's or an id).
    webhook: String,
    /// delivered, retry, failed or gone (410).
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn decision_buckets() -> Histogram {
    // 0.25 s to ~2.3 h: a policy or grant decides at once, a person in seconds to hours.
    Histogram::new(exponential_buckets(0.25, 2.0, 16))
}

fn store_buckets() -> Histogram {
    // 50 µs to ~1.6 s: a group-committed SQLite write is well under a millisecond, a
    // PostgreSQL round trip a few, a stalled disk or database far more.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The server's metrics and the registry that writes them out.
pub struct Metrics {
    registry: Registry,
    filed: Family<FiledLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    time_to_decision: HistogramFamily<ViaLabels>,
    expired: Counter,
    escalated: Counter,
    cancelled: Counter,
    grants_created: Family<ScopeLabels, Counter>,
    grants_revoked: Counter,
    grants_expired: Counter,
    approvals_added: Counter,
    pending: Family<RiskLabels, Gauge>,
    sse_subscribers: Gauge,
    waiters: Gauge,
    store_ops: HistogramFamily<OpLabels>,
    store_errors: Family<OpLabels, Counter>,
    scrape_errors: Counter<u64, AtomicU64>,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_queue: Family<WebhookLabels, Gauge>,
    /// The configured webhooks, whose queue depth is written even when it is 0.
    webhooks: std::sync::OnceLock<Vec<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix("assent"),
            filed: Family::default(),
            decisions: Family::default(),
            time_to_decision: Family::new_with_constructor(decision_buckets),
            expired: Counter::default(),
            escalated: Counter::default(),
            cancelled: Counter::default(),
            grants_created: Family::default(),
            grants_revoked: Counter::default(),
            grants_expired: Counter::default(),
            approvals_added: Counter::default(),
            pending: Family::default(),
            sse_subscribers: Gauge::default(),
            waiters: Gauge::default(),
            store_ops: Family::new_with_constructor(store_buckets),
            store_errors: Family::default(),
            scrape_errors: Counter::default(),
            deliveries: Family::default(),
            delivery_queue: Family::default(),
            webhooks: std::sync::OnceLock::new(),
        };
        m.registered()
    }

    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "requests_filed",
            "Requests filed on this instance, by the status they were born with and the \
             policy action that applied",
            self.filed.clone(),
        );
        r.register(
            "decisions",
            "Requests decided after filing on this instance, by outcome, scope and how \
             (person, grant, timeout)",
            self.decisions.clone(),
        );
        r.register(
            "time_to_decision_seconds",
            "From filing to decision, for requests decided after filing, by how they were \
             decided",
            self.time_to_decision.clone(),
        );
        r.register(
            "requests_expired",
            "Requests that reached their TTL undecided, expired by this instance",
            self.expired.clone(),
        );
        r.register(
            "requests_escalated",
            "Requests still pending at their escalate_at, escalated by this instance (once \
             each, in the whole fleet)",
            self.escalated.clone(),
        );
        r.register(
            "requests_cancelled",
            "Requests taken back by their filer or an admin on this instance",
            self.cancelled.clone(),
        );
        r.register(
            "grants_created",
            "Standing grants made on this instance, by scope",
            self.grants_created.clone(),
        );
        r.register(
            "grants_revoked",
            "Standing grants revoked on this instance",
            self.grants_revoked.clone(),
        );
        r.register(
            "grants_expired",
            "Standing grants that ended by themselves (past their duration, or used up), \
             marked by this instance",
            self.grants_expired.clone(),
        );
        r.register(
            "approvals_added",
            "Approvals of requests that need several, that left them still pending (the \
             completing approval counts as a decision)",
            self.approvals_added.clone(),
        );
        r.register(
            "pending_requests",
            "Requests waiting for a decision now, in the whole database, by risk (none: \
             filed without one)",
            self.pending.clone(),
        );
        r.register(
            "sse_subscribers",
            "Open event streams (GET /v1/events) on this instance",
            self.sse_subscribers.clone(),
        );
        r.register(
            "waiters",
            "Open long polls (GET /v1/requests/{id}/wait) on this instance",
            self.waiters.clone(),
        );
        r.register(
            "store_operation_duration_seconds",
            "Time the store took per operation, errors included",
            self.store_ops.clone(),
        );
        r.register(
            "store_errors",
            "Store operations that failed, by operation",
            self.store_errors.clone(),
        );
        r.register(
            "metrics_scrape_errors",
            "Scrapes that could not read the pending counts from the store",
            self.scrape_errors.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts made by this instance, by webhook and result \
             (delivered, retry, failed, gone: answered 410)",
            self.deliveries.clone(),
        );
        r.register(
            "webhook_queue_depth",
            "Webhook deliveries waiting to be sent, in the whole database, by webhook",
            self.delivery_queue.clone(),
        );
        self
    }

    /// Names the configured webhooks (once, at start), so that each queue's depth is
    /// written, 0 included.
    pub fn name_webhooks(&self, names: Vec<String>) {
        let _ = self.webhooks.set(names);
    }

    /// Counts one delivery attempt to `webhook` that came to `result`.
    pub fn delivery_attempted(&self, webhook: &str, result: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                webhook: webhook.to_owned(),
                result,
            })
            .inc();
    }

    async fn read_queue_depth(&self, st: &AppState) {
        let configured = self.webhooks.get().map(Vec::as_slice).unwrap_or_default();
        match st.store.delivery_depth().await {
            Ok(depth) => {
                for name in configured.iter().chain(depth.iter().map(|(n, _)| n)) {
                    let n: u64 = depth
                        .iter()
                        .filter(|(w, _)| w == name)
                        .map(|(_, n)| n)
                        .sum();
                    self.delivery_queue
                        .get_or_create(&WebhookLabels {
                            webhook: name.clone(),
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot count the pending deliveries");
                self.scrape_errors.inc();
            }
        }
    }

    /// Counts what a committed write did, from its events.
    pub fn observe(&self, events: &[Event]) {
        for ev in events {
            match (ev.kind, &ev.request, &ev.grant) {
                (EventKind::RequestCreated, Some(r), _) => self.filed(r),
                (EventKind::RequestDecided, Some(r), _) => self.decided(r),
                (EventKind::RequestExpired, _, _) => {
                    self.expired.inc();
                }
                (EventKind::RequestCancelled, _, _) => {
                    self.cancelled.inc();
                }
                (EventKind::RequestEscalated, _, _) => {
                    self.escalated.inc();
                }
                (EventKind::GrantCreated, _, Some(g)) => {
                    self.grants_created
                        .get_or_create(&ScopeLabels {
                            scope: g.scope.as_str(),
                        })
                        .inc();
                }
                (EventKind::GrantRevoked, _, _) => {
                    self.grants_revoked.inc();
                }
                (EventKind::GrantExpired, _, _) => {
                    self.grants_expired.inc();
                }
                (EventKind::RequestApprovalAdded, _, _) => {
                    self.approvals_added.inc();
                }
                _ => {}
            }
        }
    }

    fn filed(&self, r: &ApprovalRequest) {
        let action = r
            .policy
            .as_ref()
            .map_or("require_approval", |p| p.action.as_str());
        self.filed
            .get_or_create(&FiledLabels {
                outcome: r.status.as_str(),
                policy_action: action,
            })
            .inc();
    }

    fn decided(&self, r: &ApprovalRequest) {
        let Some(d) = &r.decision else { return };
        let via = via_label(&d.via);
        self.decisions
            .get_or_create(&DecisionLabels {
                outcome: match d.outcome {
                    Outcome::Approved => "approved",
                    Outcome::Rejected => "rejected",
                },
                scope: d.scope.as_str(),
                via,
            })
            .inc();
        self.time_to_decision
            .get_or_create(&ViaLabels { via })
            .observe(seconds_between(r.created_at, d.decided_at));
    }

    fn time_store(&self, operation: &'static str, started: Instant, ok: bool) {
        let labels = OpLabels { operation };
        self.store_ops
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        if !ok {
            self.store_errors.get_or_create(&labels).inc();
        }
    }

    /// The text a scrape answers, after reading the gauges that are sampled, not counted.
    async fn render(&self, st: &AppState) -> Result<String, std::fmt::Error> {
        self.sse_subscribers
            .set(i64::try_from(st.hub.receiver_count()).unwrap_or(i64::MAX));
        self.waiters
            .set(i64::try_from(st.waiters.len()).unwrap_or(i64::MAX));
        match st.store.pending_counts().await {
            Ok(counts) => {
                // Every risk is written, zeros included, so an alert on a level that
                // drained to nothing sees 0 rather than a series that vanished.
                for risk in Risk::ALL.map(Some).into_iter().chain([None]) {
                    let n = counts
                        .iter()
                        .filter(|(r, _)| *r == risk)
                        .map(|(_, n)| *n)
                        .sum::<u64>();
                    self.pending
                        .get_or_create(&RiskLabels {
                            risk: risk.map_or("none", Risk::as_str),
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot count the pending requests");
                self.scrape_errors.inc();
            }
        }
        self.read_queue_depth(st).await;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn via_label(via: &Via) -> &'static str {
    match via {
        Via::Person => "person",
        Via::Grant { .. } => "grant",
        Via::Policy { .. } => "policy",
        Via::Timeout => "timeout",
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).to_std().map_or(0.0, |d| d.as_secs_f64())
}

/// Who may scrape: the holder of `[server] metrics_token`, or an admin's token.
#[derive(Clone, Default)]
pub struct ScrapeToken {
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for ScrapeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeToken")
            .field("set", &self.digest.is_some())
            .finish()
    }
}

impl ScrapeToken {
    pub fn new(token: Option<&str>) -> ScrapeToken {
        ScrapeToken {
            digest: token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest
            .is_some_and(|want| bool::from(want.ct_eq(&digest)))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

fn authorize(auth: &Auth, scrape: &ScrapeToken, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthorized(
            "no bearer token: /metrics takes `Authorization: Bearer TOKEN` with [server] \
             metrics_token or an admin's token (or scrape [server] metrics_listen)",
        ));
    };
    if scrape.matches(token) {
        return Ok(());
    }
    match auth.identify(token) {
        Some(id) => Caller(id.clone()).require_admin("reading /metrics"),
        None => Err(ApiError::unauthorized(
            "the bearer token is neither [server] metrics_token nor a token of this server",
        )),
    }
}

/// `GET /metrics` on the API's address: metrics_token or admin.
#[utoipa::path(get, path = "/metrics", tag = "server",
    description = "Prometheus metrics (OpenMetrics text): `[server] metrics_token` or an \
                   admin's token. docs/api.md lists the metrics.",
    responses(
        (status = 200, description = "The metrics",
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, description = "`unauthorized`: no token, or one the server does not know",
            body = crate::protocol::ErrorResponse),
        (status = 403, description = "`forbidden`: an agent's or reviewer's token",
            body = crate::protocol::ErrorResponse),
    ))]
pub async fn scrape(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&st.auth, &st.scrape_token, &headers)?;
    answer(&st).await
}

/// Everything on `[server] metrics_listen`: `GET /metrics` with no token (the address is
/// the boundary), and 404 for any other path or method, so nothing else is served there.
pub async fn scrape_open(
    State(st): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    if method != axum::http::Method::GET || uri.path() != "/metrics" {
        return Err(ApiError::not_found(format!(
            "{method} {}: this address serves only GET /metrics",
            crate::sanitize::line(uri.path())
        )));
    }
    answer(&st).await
}

async fn answer(st: &AppState) -> Result<Response, ApiError> {
    match st.metrics.render(st).await {
        Ok(text) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response()),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot write the metrics",
        )),
    }
}

/// A [`Store`] that times every operation of the one it wraps.
pub struct Metered {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Metered {
        Metered { inner, metrics }
    }

    async fn time<T>(
        &self,
        operation: &'static str,
        f: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let out = f.await;
        self.metrics.time_store(operation, started, out.is_ok());
        out
    }
}

#[async_trait]
impl Store for Metered {
    async fn file(
        &self,
        filer: &str,
        new: NewRequest,
        opts: FileOptions,
    ) -> StoreResult<Written<Filed>> {
        self.time("file", self.inner.file(filer, new, opts)).await
    }

    async fn decide(
        &self,
        id: &str,
        responder: &str,
        body: DecisionBody,
    ) -> StoreResult<Written<ApprovalRequest>> {
        self.time("decide", self.inner.decide(id, responder, body))
            .await
    }

    async fn cancel(&self, id: &str, actor: &Identity) -> StoreResult<Written<ApprovalRequest>> {
        self.time("cancel", self.inner.cancel(id, actor)).await
    }

    async fn expire_due(&self) -> StoreResult<Written<Option<DateTime<Utc>>>> {
        self.time("expire_due", self.inner.expire_due()).await
    }

    async fn get(&self, id: &str) -> StoreResult<Written<ApprovalRequest>> {
        self.time("get", self.inner.get(id)).await
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Written<RequestList>> {
        self.time("list", self.inner.list(query)).await
    }

    async fn events_after(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.time("events_after", self.inner.events_after(after, limit))
            .await
    }

    async fn grants(&self) -> StoreResult<GrantList> {
        self.time("grants", self.inner.grants()).await
    }

    async fn revoke_grant(&self, id: &str, actor: &str) -> StoreResult<Written<Grant>> {
        self.time("revoke_grant", self.inner.revoke_grant(id, actor))
            .await
    }

    async fn audit_after(&self, after: u64, limit: usize) -> StoreResult<AuditPage> {
        self.time("audit_after", self.inner.audit_after(after, limit))
            .await
    }

    async fn current_seq(&self) -> StoreResult<u64> {
        self.time("current_seq", self.inner.current_seq()).await
    }

    fn database_id(&self) -> &str {
        self.inner.database_id()
    }

    async fn compact(&self, keep: Retention, batch: usize) -> StoreResult<Compacted> {
        self.time("compact", self.inner.compact(keep, batch)).await
    }

    async fn compacted_through(&self) -> StoreResult<u64> {
        self.time("compacted_through", self.inner.compacted_through())
            .await
    }

    async fn pending_counts(&self) -> StoreResult<Vec<(Option<Risk>, u64)>> {
        self.time("pending_counts", self.inner.pending_counts())
            .await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.time("signing_keys", self.inner.signing_keys()).await
    }

    async fn add_signing_key(&self, key: StoredKey) -> StoreResult<()> {
        self.time("add_signing_key", self.inner.add_signing_key(key))
            .await
    }

    async fn claim_deliveries(
        &self,
        webhook: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> StoreResult<Claimed> {
        self.time(
            "claim_deliveries",
            self.inner.claim_deliveries(webhook, limit, lease),
        )
        .await
    }

    async fn record_attempts(&self, webhook: &str, results: Vec<AttemptResult>) -> StoreResult<()> {
        self.time(
            "record_attempts",
            self.inner.record_attempts(webhook, results),
        )
        .await
    }

    async fn deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryList> {
        self.time("deliveries", self.inner.deliveries(query)).await
    }

    async fn delivery_depth(&self) -> StoreResult<Vec<(String, u64)>> {
        self.time("delivery_depth", self.inner.delivery_depth())
            .await
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
