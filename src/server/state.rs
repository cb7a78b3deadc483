//! What every handler shares: the store, the identities, the event fan-out and the
//! long-poll waiters.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::FromRef;
use tokio::sync::{Notify, broadcast, watch};

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
    /// `[server] escalate_after` and `on_timeout`: for requests no rule sets them for.
    pub escalate_after: Option<Duration>,
    pub on_timeout: crate::protocol::TimeoutAction,
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
    /// With a store other instances write to (PostgreSQL): the last seq published here,
    /// which this instance's writes and its log tail (`tail.rs`) both advance.
    pub published: Option<Arc<Published>>,
    /// With webhooks configured: wakes their senders after a commit wrote deliveries.
    pub notifier: Option<Arc<crate::notify::Notifier>>,
}

/// How far the events of a shared log have been published on this instance. Events are
/// published in seq order, each once: a write's own events go out at once when they
/// follow the last one published, and otherwise (another instance's events come
/// between) the tail is woken to read the log from the last one published.
#[derive(Debug)]
pub struct Published {
    last: Mutex<u64>,
    /// Wakes the tail when a write's events could not be published in order.
    pub behind: Notify,
}

impl Published {
    /// Starting after `seq`, the log's last seq when the instance starts.
    pub fn after(seq: u64) -> Published {
        Published {
            last: Mutex::new(seq),
            behind: Notify::new(),
        }
    }

    pub fn last(&self) -> u64 {
        *self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        // A u64 cannot be left half-written by a panic.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AppState {
    /// Fans committed events out to SSE subscribers and answers the waiters of every
    /// request that reached a final state. Only that request's waiters are woken.
    pub fn publish(&self, events: Vec<Event>) {
        let Some(published) = &self.published else {
            events.into_iter().for_each(|ev| self.send(ev));
            return;
        };
        let mut last = published.lock();
        for ev in events {
            if ev.seq <= *last {
                continue;
            }
            // Compaction may have deleted what lies between: the tail, which reads the
            // log, may jump; a write's own events wait for it.
            if ev.seq != *last + 1 {
                drop(last);
                published.behind.notify_one();
                return;
            }
            *last = ev.seq;
            self.send(ev);
        }
    }

    /// Publishes events read from the shared log after `published.last()`, in order.
    pub fn publish_read(&self, events: Vec<Event>) {
        let Some(published) = &self.published else {
            return;
        };
        let mut last = published.lock();
        for ev in events {
            if ev.seq > *last {
                *last = ev.seq;
                self.send(ev);
            }
        }
    }

    fn send(&self, ev: Event) {
        if let Some(r) = &ev.request
            && r.status.is_final()
        {
            self.waiters.notify(r);
        }
        // No subscribers is fine: the log is durable and streams replay from it.
        let _ = self.hub.send(Arc::new(ev));
    }

    /// Publishes the events of a store call and returns its value.
    pub fn commit<T>(&self, w: Written<T>) -> T {
        // Counted here, not in publish: these are this instance's own writes.
        self.metrics.observe(&w.events);
        if let Some(n) = &self.notifier {
            n.wake(&w.events);
        }
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
