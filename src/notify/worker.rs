//! The sender of one webhook: a task of its own, so that a receiver that hangs holds up
//! only its own queue. It claims the deliveries that are due (leased, so another
//! instance's sender leaves them alone), sends them at once, records each answer, and
//! sleeps until it is woken by a commit that wrote a delivery for it, its next retry is
//! due, or [`IDLE`] has passed (for rows other instances wrote).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};

use super::config::{Endpoint, Format};
use super::retry::{Backoff, jitter};
use super::send::{self, Answer, REQUEST_TIMEOUT};
use super::{sign, slack, standard};
use crate::protocol::event_id;
use crate::server::metrics::Metrics;
use crate::store::Store;
use crate::store::delivery::{Attempt, AttemptResult, DueDelivery, lease_for};

/// Deliveries claimed and sent at once, at most.
const BATCH: usize = 16;
/// The longest sleep with nothing due.
const IDLE: Duration = Duration::from_secs(5);
/// After the store failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub endpoint: Endpoint,
    pub client: reqwest::Client,
    pub backoff: Backoff,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<Notify>,
}

impl Worker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.endpoint.name.clone();
        let lease = lease_for(REQUEST_TIMEOUT);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let claimed = tokio::select! {
                c = self.store.claim_deliveries(&name, BATCH, lease) => c,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let claimed = match claimed {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(webhook = %name, error = %e, "cannot claim deliveries; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(STORE_RETRY) => continue,
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            };
            if claimed.due.is_empty() {
                let sleep = claimed
                    .next_due
                    .map_or(IDLE, |t| {
                        (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
                    })
                    .clamp(Duration::from_millis(5), IDLE);
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                continue;
            }
            // Sent at once: the batch takes as long as its slowest answer (at most the
            // request timeout), not the sum of them. Stopping drops them unanswered; their
            // leases run out and they are sent again (at least once).
            let sends = futures::future::join_all(claimed.due.iter().map(|d| self.attempt(d)));
            let results = tokio::select! {
                r = sends => r,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            self.record(results).await;
        }
    }

    /// Records what the attempts came to, retrying the store a few times; if it stays
    /// down the leases run out and the deliveries are sent again.
    async fn record(&self, results: Vec<AttemptResult>) {
        for result in &results {
            let label = match result.attempt {
                Attempt::Delivered { .. } => "delivered",
                Attempt::Retry { .. } => "retry",
                Attempt::Failed { .. } => "failed",
                Attempt::Gone { .. } => "gone",
            };
            self.metrics.delivery_attempted(&self.endpoint.name, label);
        }
        for _ in 0..3 {
            match self
                .store
                .record_attempts(&self.endpoint.name, results.clone())
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(webhook = %self.endpoint.name, error = %e, "cannot record delivery attempts; retrying");
                    tokio::time::sleep(STORE_RETRY).await;
                }
            }
        }
    }

    /// One attempt at `d`, and what it came to.
    async fn attempt(&self, d: &DueDelivery) -> AttemptResult {
        let attempt = match self.send(d).await {
            Ok(Answer::Delivered(status)) => Attempt::Delivered { status },
            Ok(Answer::Gone) => {
                tracing::warn!(webhook = %self.endpoint.name, "the receiver answered 410 Gone: marked failing");
                Attempt::Gone {
                    error: "answered 410 Gone: not retried; the webhook is marked failing".into(),
                }
            }
            Ok(Answer::Failed { status, error }) => {
                let now = Utc::now();
                match self
                    .backoff
                    .next(d.attempts.saturating_add(1), d.created_at, now, jitter())
                {
                    Some(at) => Attempt::Retry { at, status, error },
                    None => Attempt::Failed {
                        status,
                        error: format!("{error} (the retry horizon has passed)"),
                    },
                }
            }
            Err(error) => Attempt::Failed {
                status: None,
                error,
            },
        };
        AttemptResult {
            id: d.id,
            at: Utc::now(),
            attempt,
        }
    }

    /// Builds and POSTs the body of `d`; Err: it cannot be built (nothing to send, ever).
    async fn send(&self, d: &DueDelivery) -> Result<Answer, String> {
        let Some(ev) = &d.event else {
            return Err("its event was compacted from the log before it could be sent".into());
        };
        let database_id = self.store.database_id();
        let body = match self.endpoint.format {
            Format::Standard => standard::body(ev, database_id),
            Format::Slack => serde_json::to_vec(&slack::body(ev, Utc::now())),
        }
        .map_err(|e| format!("cannot write the body: {e}"))?;
        let mut headers = Vec::new();
        if let Some(secret) = &self.endpoint.secret {
            let id = event_id(database_id, ev.seq);
            let timestamp = Utc::now().timestamp();
            let signature = secret
                .sign(&id, timestamp, &body)
                .map_err(|e| format!("{e:#}"))?;
            headers.push((sign::ID, id));
            headers.push((sign::TIMESTAMP, timestamp.to_string()));
            headers.push((sign::SIGNATURE, signature));
        }
        Ok(send::post(&self.client, &self.endpoint.url, &headers, body).await)
    }
}
