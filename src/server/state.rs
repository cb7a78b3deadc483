//! What every handler shares: the store, the identities, the event fan-out and the
//! long-poll waiters.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use tokio::sync::{broadcast, watch};

use super::auth::Auth;
use super::extract::BodyLimit;
use super::metrics::{Metrics, ScrapeToken};
use super::wait::Waiters;
use crate::config::ServerConfig;
use crate::protocol::Event;
use crate::store::{Retention, Store, Written};

/// Capacity of the live event channel. A subscriber that falls further behind than this
/// re-reads the durable log instead of losing events, so it bounds the memory a slow
/// client can pin (events carry whole requests), not correctness.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub default_ttl: Option<Duration>,
    pub max_wait: Duration,
    pub keepalive: Duration,
    pub store: StoreLimits,
}

/// How much a list page may carry and how long the logs keep their entries.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// `[server] list_page_bytes`.
    pub list_page_bytes: usize,
    /// `[server] event_retention` and `audit_retention`.
    pub retention: Retention,
}

impl StoreLimits {
    pub fn from_config(cfg: &ServerConfig) -> StoreLimits {
        StoreLimits {
            list_page_bytes: cfg.list_page_bytes.max(1),
            retention: Retention {
                events: cfg.event_retention,
                audit: cfg.audit_retention,
            },
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    /// Live events, sent after their transaction committed.
    pub hub: broadcast::Sender<Arc<Event>>,
    pub waiters: Arc<Waiters>,
    pub limits: Arc<Limits>,
    /// The filing policy in force; swapped whole on reload.
    pub policy: Arc<super::policy::PolicyHolder>,
    /// Approval tokens: the signing keys, and what goes on an approved request.
    pub tokens: Arc<super::token::Tokens>,
    /// Turns true when the server shuts down: streams and long polls end early.
    pub shutdown: watch::Receiver<bool>,
    /// What `/metrics` reports; fed by [`AppState::commit`].
    pub metrics: Arc<Metrics>,
    /// `[server] metrics_token`, the scraper's own token.
    pub scrape_token: ScrapeToken,
}

impl AppState {
    /// Fans committed events out to SSE subscribers and answers the waiters of every
    /// request that reached a final state. Only that request's waiters are woken.
    pub fn publish(&self, events: Vec<Event>) {
        for ev in events {
            if let Some(r) = &ev.request
                && r.status.is_final()
            {
                self.waiters.notify(r);
            }
            // No subscribers is fine: the log is durable and streams replay from it.
            let _ = self.hub.send(Arc::new(ev));
        }
    }

    /// Publishes the events of a store call and returns its value.
    pub fn commit<T>(&self, w: Written<T>) -> T {
        // Counted here, not in publish: these are this instance's own writes.
        self.metrics.observe(&w.events);
        self.publish(w.events);
        w.value
    }
}

// The parts the extractors take from the state; they know nothing else of it.
impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(st: &AppState) -> Self {
        Arc::clone(&st.auth)
    }
}

impl FromRef<AppState> for BodyLimit {
    fn from_ref(st: &AppState) -> Self {
        BodyLimit(st.limits.max_body_bytes)
    }
}
