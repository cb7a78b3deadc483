//! Webhooks (issue 13): telling people who are not looking at the console.
//!
//! The store writes a delivery row with each event a webhook wants, in the event's own
//! transaction (an outbox; the rule of which webhook wants what is
//! `crate::store::rules::Outbox`). After the commit, [`Notifier::wake`] wakes the sender
//! of each webhook concerned, one task per webhook ([`worker`]), which claims the due
//! rows, sends them and records the answers. Rows are durable, so a crash loses none;
//! a sender killed mid-send leaves leases that run out, and the row is sent again.
//!
//! - `config`: `[notify]`, `[[notify.webhooks]]`
//! - `sign`: Standard Webhooks signing and the secret
//! - `standard`, `slack`: the two body formats
//! - `retry`: backoff with jitter within the horizon
//! - `send`: one POST and what its answer means
//! - `worker`: one webhook's sender

pub mod config;
pub mod retry;
pub mod send;
pub mod sign;
pub mod slack;
pub mod standard;
pub mod worker;

pub use config::{Endpoint, Format, NotifyConfig, WebhookConfig};

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::protocol::Event;
use crate::server::metrics::Metrics;
use crate::store::Store;
use crate::store::rules::Outbox;

/// Wakes the senders after a commit: each one whose webhook wants one of the events.
pub struct Notifier {
    outbox: Outbox,
    /// One per route of `outbox`, in its order.
    wakes: Vec<Arc<Notify>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("webhooks", &self.wakes.len())
            .finish()
    }
}

impl Notifier {
    /// The configured webhooks' names.
    pub fn webhooks(&self) -> impl Iterator<Item = &str> {
        self.outbox.routes().iter().map(|r| r.webhook.as_str())
    }

    /// Called with a commit's events: a sender woken while busy claims again when done
    /// (a `Notify` keeps one wake-up), so wakes coalesce into batches.
    pub fn wake(&self, events: &[Event]) {
        for (route, wake) in self.outbox.routes().iter().zip(&self.wakes) {
            if events.iter().any(|ev| route.wants(ev)) {
                wake.notify_one();
            }
        }
    }
}

/// The running senders and what wakes them.
pub struct Senders {
    pub notifier: Arc<Notifier>,
    /// One per webhook; each ends at shutdown.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts a sender per webhook of `cfg` on `store` (which must have been opened with
/// `cfg.outbox()`), until `shutdown`. None when no webhook is configured.
pub fn start(
    cfg: &NotifyConfig,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<Senders>> {
    if cfg.webhooks.is_empty() {
        return Ok(None);
    }
    let outbox = cfg.outbox()?;
    let endpoints = cfg.endpoints()?;
    let client = send::client().context("cannot set up the webhooks' HTTP client")?;
    let backoff = retry::Backoff {
        first: cfg.retry_delay,
        horizon: cfg.retry_horizon,
    };
    metrics.name_webhooks(endpoints.iter().map(|e| e.name.clone()).collect());
    let mut wakes = Vec::new();
    let mut tasks = Vec::new();
    for endpoint in endpoints {
        let wake = Arc::new(Notify::new());
        wakes.push(Arc::clone(&wake));
        let w = worker::Worker {
            store: Arc::clone(&store),
            endpoint,
            client: client.clone(),
            backoff,
            metrics: Arc::clone(&metrics),
            wake,
        };
        tasks.push(tokio::spawn(w.run(shutdown.clone())));
    }
    Ok(Some(Senders {
        notifier: Arc::new(Notifier { outbox, wakes }),
        tasks,
    }))
}
