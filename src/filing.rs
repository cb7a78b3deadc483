//! The agent side of a request's life, shared by `assent gate` and the Claude Code hook:
//! file it exactly once, then wait for its decision through network trouble and server
//! restarts.
//!
//! Exactly once: every attempt of one filing carries the same `Idempotency-Key`, so a
//! retry after a lost answer finds the request the first attempt made instead of filing a
//! second one. Through trouble: the wait is a chain of long polls; a failed poll is retried
//! with backoff (backon) for as long as the caller is willing to wait, because the request
//! is durable on the server and a restart does not lose it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::time::Instant;

use crate::client::{Client, ClientError, Filed};
use crate::protocol::{ApprovalRequest, NewRequest};

/// Seconds one long poll asks the server to hold the connection. Short enough that a
/// silently dead connection is noticed within a minute, long enough to cost nothing.
pub const POLL_SECONDS: u64 = 60;

/// A fresh idempotency key: time-ordered, so keys in server logs sort with the requests.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Backoff for filing: a few quick retries (about 4 s in all), then the caller gives up.
/// Filing is on the agent's critical path; an agent should hear "unreachable" promptly.
pub fn quick_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(4)
}

/// Backoff between failed long polls: grows to 5 s and never gives up by itself (the
/// caller's deadline or Ctrl-C ends the wait). Jitter spreads a fleet of waiters that all
/// lost the same server.
fn waiting_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}

/// Files `new` under `key`, retrying network errors and server errors a few times with the
/// same key. `on_retry` hears about each retry (error, delay before the next attempt).
pub async fn file(
    client: &Client,
    new: &NewRequest,
    key: &str,
    mut on_retry: impl FnMut(&ClientError, Duration),
) -> Result<Filed, ClientError> {
    (|| async { client.file(new, Some(key)).await })
        .retry(quick_backoff())
        .when(ClientError::is_transient)
        .notify(|e, d| on_retry(e, d))
        .await
}

/// What happened while waiting, for the caller to tell its user.
#[derive(Debug)]
pub enum WaitNote<'a> {
    /// A poll failed; the next try is in `retry_in`.
    Trouble {
        error: &'a ClientError,
        retry_in: Duration,
    },
    /// A poll succeeded after trouble: the backend is back.
    Recovered,
}

/// Why a wait ended without a final decision.
#[derive(Debug)]
pub enum WaitError {
    /// `deadline` passed with the request still pending (as last seen, if it was seen).
    Deadline(Option<Box<ApprovalRequest>>),
    /// A failure that retrying will not cure: the token was refused, the request is gone.
    Fatal(ClientError),
}

/// Long-polls request `id` until it is final, riding through transient errors, until
/// `deadline` (None: no deadline).
pub async fn wait_final(
    client: &Client,
    id: &str,
    deadline: Option<Instant>,
    mut note: impl FnMut(WaitNote<'_>),
) -> Result<ApprovalRequest, WaitError> {
    let mut last: Option<ApprovalRequest> = None;
    let polling = async {
        let mut backoff = waiting_backoff().build();
        let mut troubled = false;
        loop {
            // Never ask the server to hold the poll past our own deadline.
            let secs = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Rounded up: a poll that ends just after the deadline is cut by
                    // timeout_at below, never left hanging.
                    left.as_secs_f64().ceil().clamp(1.0, POLL_SECONDS as f64) as u64
                }
                None => POLL_SECONDS,
            };
            match client.wait(id, secs).await {
                Ok(r) => {
                    if troubled {
                        troubled = false;
                        note(WaitNote::Recovered);
                    }
                    backoff = waiting_backoff().build();
                    if r.status.is_final() {
                        return Ok(r);
                    }
                    last = Some(r);
                }
                Err(e) if e.is_transient() => {
                    troubled = true;
                    let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                    note(WaitNote::Trouble {
                        error: &e,
                        retry_in: delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let result = match deadline {
        Some(d) => tokio::time::timeout_at(d, polling).await.ok(),
        None => Some(polling.await),
    };
    match result {
        Some(r) => r.map_err(WaitError::Fatal),
        None => Err(WaitError::Deadline(last.map(Box::new))),
    }
}

/// Best-effort cancel of a request the caller gave up on, bounded in time so that giving up
/// never hangs. Returns the request as it now stands when the backend answered.
pub async fn cancel_quietly(client: &Client, id: &str, within: Duration) -> CancelOutcome {
    let attempt = (|| async { client.cancel(id).await })
        .retry(quick_backoff())
        .when(ClientError::is_transient);
    match tokio::time::timeout(within, attempt).await {
        Ok(Ok(r)) => CancelOutcome::Cancelled(Box::new(r)),
        Ok(Err(ClientError::Api {
            status: 409,
            request: Some(r),
            ..
        })) => CancelOutcome::AlreadyFinal(r),
        Ok(Err(e)) => CancelOutcome::Failed(e.to_string()),
        Err(_) => CancelOutcome::Failed(format!("no answer within {}s", within.as_secs())),
    }
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<ApprovalRequest>),
    /// It was decided, expired or cancelled before the cancel arrived.
    AlreadyFinal(Box<ApprovalRequest>),
    Failed(String),
}

/// A current-thread runtime for the short-lived agent-side commands.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
