//! The background upkeep of the store: expiring requests when their TTL runs out, so
//! their events are published and their waiters answered even when nobody touches them,
//! and compacting the logs past their retention. Correctness does not depend on it
//! (every store operation expires what is due first, and a log longer than its retention
//! is only longer); timeliness does.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::time::Instant;

use super::state::AppState;
use crate::store::Retention;

/// Longest sleep between sweeps, so a request filed while the sweeper sleeps is expired
/// at most this late.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Log entries one compaction step deletes at most: one step is one transaction of the
/// store's writer, which every other operation waits behind.
const COMPACT_BATCH: usize = 1000;

pub async fn run(st: AppState, mut shutdown: watch::Receiver<bool>) {
    let retention = st.limits.store.retention;
    let compact_every = compaction_interval(retention);
    // The first compaction runs at start, for a log that grew while the server was down.
    let mut next_compaction = Instant::now();
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
        if let Some(every) = compact_every
            && Instant::now() >= next_compaction
        {
            compact(&st, retention, &shutdown).await;
            next_compaction = Instant::now() + every;
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// How often to compact: a tenth of the shortest retention, between 1 s and 10 min, so
/// an entry is kept at most about 10 % longer than asked. None: nothing to compact.
fn compaction_interval(keep: Retention) -> Option<Duration> {
    let shortest = match (keep.events, keep.audit) {
        (Some(a), Some(b)) => a.min(b),
        (Some(d), None) | (None, Some(d)) => d,
        (None, None) => return None,
    };
    Some((shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(600)))
}

/// Compacts the logs step by step until nothing more is due, letting the operations
/// queued meanwhile run between steps.
async fn compact(st: &AppState, keep: Retention, shutdown: &watch::Receiver<bool>) {
    let (mut events, mut audit) = (0u64, 0u64);
    loop {
        match st.store.compact(keep, COMPACT_BATCH).await {
            Ok(step) => {
                events += step.events;
                audit += step.audit;
                if !step.more || *shutdown.borrow() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "log compaction failed; retrying later");
                break;
            }
        }
    }
    if events > 0 || audit > 0 {
        tracing::info!(events, audit, "compacted the logs past their retention");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_runs_at_a_tenth_of_the_shortest_retention_within_bounds() {
        let s = Duration::from_secs;
        let keep = |events, audit| Retention { events, audit };
        assert_eq!(compaction_interval(keep(None, None)), None);
        assert_eq!(compaction_interval(keep(Some(s(2)), None)), Some(s(1)));
        assert_eq!(
            compaction_interval(keep(Some(s(100)), Some(s(50)))),
            Some(s(5))
        );
        let month = s(30 * 24 * 3600);
        assert_eq!(compaction_interval(keep(Some(month), None)), Some(s(600)));
    }
}
