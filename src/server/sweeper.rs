//! The expiry sweeper: expires requests when their TTL runs out, so their events are
//! published and their waiters answered even when nobody touches them. Correctness does
//! not depend on it (every store operation expires what is due first); timeliness does.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::state::AppState;

/// Longest sleep between sweeps, so a request filed while the sweeper sleeps is expired
/// at most this late.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub async fn run(st: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        let sleep = match st.store.expire_due().await {
            Ok(w) => {
                let next = st.commit(w);
                match next {
                    Some(t) => (t - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .clamp(Duration::from_millis(5), MAX_SLEEP),
                    None => MAX_SLEEP,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep failed; retrying");
                MAX_SLEEP
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
