//! Long polls on one request (`GET /v1/requests/{id}/wait`) that cost no polling.
//!
//! Each waited-on request has one `watch` channel in a registry, created by its first
//! waiter and removed with its last. A waiter registers *before* it reads the request,
//! so a decision committed between the read and the wait still wakes it; publishing a
//! final state touches only that request's channel, never every waiter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::state::AppState;
use crate::protocol::ApprovalRequest;

/// Used when a client gives no `timeout_s`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

type Slot = watch::Sender<Option<Arc<ApprovalRequest>>>;

#[derive(Debug, Default)]
pub struct Waiters {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map holds no invariant a panic could break half-way.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts listening for `id` reaching a final state.
    pub fn register(self: &Arc<Self>, id: &str) -> Registration {
        let mut slots = self.lock();
        let rx = match slots.get(id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(None);
                slots.insert(id.to_owned(), tx);
                rx
            }
        };
        Registration {
            waiters: Arc::clone(self),
            id: id.to_owned(),
            rx: Some(rx),
        }
    }

    /// How many long polls are waiting, over every request.
    pub fn len(&self) -> usize {
        self.lock()
            .values()
            .map(watch::Sender::receiver_count)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether anyone waits on `id` now.
    pub fn is_waited(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Answers the waiters of `req`, which has just reached a final state.
    pub fn notify(&self, req: &ApprovalRequest) {
        let slots = self.lock();
        if let Some(tx) = slots.get(&req.id) {
            tx.send_replace(Some(Arc::new(req.clone())));
        }
    }
}

/// One waiter's subscription; dropping it unregisters.
pub struct Registration {
    waiters: Arc<Waiters>,
    id: String,
    rx: Option<watch::Receiver<Option<Arc<ApprovalRequest>>>>,
}

impl Registration {
    /// Resolves with the request once it was announced final.
    pub async fn finished(&mut self) -> Arc<ApprovalRequest> {
        if let Some(rx) = self.rx.as_mut() {
            loop {
                if let Some(r) = rx.borrow_and_update().clone() {
                    return r;
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        // The sender lives as long as this registration; never reached in practice.
        std::future::pending().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut slots = self.waiters.lock();
        drop(self.rx.take());
        if slots
            .get(&self.id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            slots.remove(&self.id);
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait (default 30, at most `[server] max_wait_seconds`); 0 answers at once.
    pub timeout_s: Option<u64>,
}

/// `GET /v1/requests/{id}/wait?timeout_s=N` (agent that filed it, or admin).
#[utoipa::path(get, path = "/v1/requests/{id}/wait", tag = "requests",
    params(("id" = String, Path, description = "The request's id"), WaitQuery),
    responses(
        (status = 200, description = "The request once final, or still pending at the timeout",
            body = ApprovalRequest),
        (status = 400, description = "`bad_query`", body = crate::protocol::ErrorResponse),
        (status = 403, description = "`forbidden`: not an agent or admin token, or another agent's request",
            body = crate::protocol::ErrorResponse),
        (status = 404, description = "`not_found`: no such request", body = crate::protocol::ErrorResponse),
    ))]
pub async fn wait(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<ApprovalRequest>, ApiError> {
    caller.require_agent()?;
    let timeout = q
        .timeout_s
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(st.limits.max_wait);
    // max_wait is at most a day (see start), so this cannot overflow.
    let deadline = Instant::now() + timeout;
    until_final(&st, &id, deadline, |req| caller.require_can_read(req))
        .await
        .map(|req| Json(st.tokens.attached(req)))
}

/// Request `id` once it is final, or as it stands at `deadline` or when the server shuts
/// down; `may_read` refuses a caller who may not see it (checked on the first read).
/// Registers before it reads, so a decision committed in between still wakes it.
pub async fn until_final(
    st: &AppState,
    id: &str,
    deadline: Instant,
    may_read: impl FnOnce(&ApprovalRequest) -> Result<(), ApiError>,
) -> Result<ApprovalRequest, ApiError> {
    let mut reg = st.waiters.register(id);
    let mut req = st.commit(st.store.get(id).await?);
    may_read(&req)?;
    let mut shutdown = st.shutdown.clone();
    loop {
        if req.status.is_final() || Instant::now() >= deadline || *shutdown.borrow() {
            return Ok(req);
        }
        // Also wake when the TTL runs out, so expiry is answered on time even between
        // sweeps: the read expires the request and publishes the event.
        let wake = match req.expires_at {
            Some(t) => {
                let left = (t - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                deadline.min(
                    Instant::now() + left.max(Duration::from_millis(5)) + Duration::from_millis(5),
                )
            }
            None => deadline,
        };
        tokio::select! {
            r = reg.finished() => return Ok((*r).clone()),
            _ = tokio::time::sleep_until(wake) => {
                req = st.commit(st.store.get(id).await?);
            }
            _ = shutdown.changed() => return Ok(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;
    use crate::store::fixtures::request;

    /// Whether `reg` already holds an answer: it resolves at once, or not at all.
    async fn answered(reg: &mut Registration) -> Option<Status> {
        tokio::time::timeout(Duration::from_millis(20), reg.finished())
            .await
            .ok()
            .map(|r| r.status)
    }

    #[tokio::test]
    async fn a_notification_before_the_wait_is_not_lost_and_slots_are_freed() {
        let w = Arc::new(Waiters::default());
        let mut a = w.register("r1");
        let mut b = w.register("r1");
        let mut other = w.register("r2");
        w.notify(&request("r1", Status::Approved));
        // Both were registered before the notification: both see it, however late they await.
        assert_eq!(a.finished().await.status, Status::Approved);
        assert_eq!(b.finished().await.id, "r1");
        assert_eq!(answered(&mut other).await, None);
        // While one waiter remains, its slot (and the answer in it) stays.
        drop(a);
        assert_eq!(
            answered(&mut w.register("r1")).await,
            Some(Status::Approved)
        );
        // With the last one gone the slot is freed: a new waiter starts afresh.
        drop(b);
        assert_eq!(answered(&mut w.register("r1")).await, None);
        drop(other);
        // Notifying a request nobody waits on keeps nothing for a later waiter.
        w.notify(&request("r3", Status::Rejected));
        assert_eq!(answered(&mut w.register("r3")).await, None);
    }

    #[tokio::test]
    async fn an_unrelated_notification_does_not_wake() {
        let w = Arc::new(Waiters::default());
        let mut a = w.register("r1");
        w.notify(&request("r2", Status::Approved));
        let woke = tokio::time::timeout(Duration::from_millis(50), a.finished()).await;
        assert!(woke.is_err());
    }
}
