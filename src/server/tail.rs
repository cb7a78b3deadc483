//! The log tail of an instance sharing its database (PostgreSQL) with others: it LISTENs
//! for the commits that appended events, reads the log after the last event published
//! here and publishes what it finds to this instance's streams and waiters. Writes made
//! here publish their own events at once (`state.rs`); the tail brings in the others',
//! in order, so an event is published once whichever instance wrote it.
//!
//! While PostgreSQL is unreachable it retries, every [`RETRY`]; once back it reads what
//! was committed meanwhile, so nothing is skipped.

use std::time::Duration;

use tokio::sync::watch;

use super::state::AppState;
use crate::store::postgres::PgStore;

/// Events read per query.
const PAGE: usize = 500;
/// Between attempts to reach PostgreSQL.
const RETRY: Duration = Duration::from_millis(500);
/// A read of the log even without a notification: a safety net, cheap at this rate.
const EVERY: Duration = Duration::from_secs(1);

pub async fn run(st: AppState, pg: PgStore, mut shutdown: watch::Receiver<bool>) {
    let Some(published) = st.published.clone() else {
        return;
    };
    loop {
        let changes = tokio::select! {
            c = pg.listen() => c,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let mut changes = match changes {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "log tail: cannot listen; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        };
        let mut tick = tokio::time::interval(EVERY);
        loop {
            // Listening first, then reading: a commit after the read is notified.
            if let Err(e) = catch_up(&st).await {
                tracing::debug!(error = %e, "log tail: cannot read the log; reconnecting");
                tokio::time::sleep(RETRY).await;
                break;
            }
            tokio::select! {
                n = changes.next() => if n.is_none() { break },
                _ = published.behind.notified() => {}
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// Reads and publishes the log after the last event published here.
async fn catch_up(st: &AppState) -> crate::store::StoreResult<()> {
    let Some(published) = &st.published else {
        return Ok(());
    };
    for _ in 0..1000 {
        let events = st.store.events_after(published.last(), PAGE).await?;
        let full = events.len() == PAGE;
        st.publish_read(events);
        if !full {
            break;
        }
    }
    Ok(())
}
