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

use super::api::ensure_can_read;
use super::auth::Caller;
use super::error::{ApiError, ApiPath, ApiQuery};
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

    /// Answers the waiters of `req`, which has just reached a final state.
    pub fn notify(&self, req: &ApprovalRequest) {
        let slots = self.lock();
        if let Some(tx) = slots.get(&req.id) {
            tx.send_replace(Some(Arc::new(req.clone())));
        }
    }

    /// How many requests have at least one waiter.
    pub fn watched(&self) -> usize {
        self.lock().len()
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    pub timeout_s: Option<u64>,
}

/// `GET /v1/requests/{id}/wait?timeout_s=N` (agent that filed it, or admin).
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
    let mut reg = st.waiters.register(&id);
    let mut req = st.commit(st.store.get(&id).await?);
    ensure_can_read(&caller, &req)?;
    let mut shutdown = st.shutdown.clone();
    loop {
        if req.status.is_final() || Instant::now() >= deadline || *shutdown.borrow() {
            return Ok(Json(req));
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
            r = reg.finished() => return Ok(Json((*r).clone())),
            _ = tokio::time::sleep_until(wake) => {
                req = st.commit(st.store.get(&id).await?);
            }
            _ = shutdown.changed() => return Ok(Json(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;

    fn req(id: &str, status: Status) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            status,
            tool: "t".into(),
            params: serde_json::Value::Null,
            args_hash: String::new(),
            reason: None,
            agent: "a".into(),
            conversation_id: None,
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "x".into(),
            created_at: Utc::now(),
            expires_at: None,
            decision: None,
            policy: None,
        }
    }

    #[tokio::test]
    async fn a_notification_before_the_wait_is_not_lost_and_slots_are_freed() {
        let w = Arc::new(Waiters::default());
        let mut a = w.register("r1");
        let mut b = w.register("r1");
        let other = w.register("r2");
        assert_eq!(w.watched(), 2);
        w.notify(&req("r1", Status::Approved));
        // Both were registered before the notification: both see it, however late they await.
        assert_eq!(a.finished().await.status, Status::Approved);
        assert_eq!(b.finished().await.id, "r1");
        drop(a);
        assert_eq!(w.watched(), 2);
        drop(b);
        assert_eq!(w.watched(), 1);
        drop(other);
        assert_eq!(w.watched(), 0);
        // Notifying a request nobody waits on creates nothing.
        w.notify(&req("r3", Status::Rejected));
        assert_eq!(w.watched(), 0);
    }

    #[tokio::test]
    async fn an_unrelated_notification_does_not_wake() {
        let w = Arc::new(Waiters::default());
        let mut a = w.register("r1");
        w.notify(&req("r2", Status::Approved));
        let woke = tokio::time::timeout(Duration::from_millis(50), a.finished()).await;
        assert!(woke.is_err());
    }
}
