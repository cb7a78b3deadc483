//! The store's life beyond single operations (issue 11): one store per database file,
//! list pages within a byte budget, the logs' retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::DateTime;
use serde_json::json;

use super::{SqliteStore, Synchronous};
use crate::store::{Compacted, FileOptions, ListQuery, Retention, Store, fixtures};

#[tokio::test]
async fn a_database_file_is_held_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    let first = SqliteStore::open(&path, Synchronous::Full).unwrap();
    let err = format!(
        "{:#}",
        SqliteStore::open(&path, Synchronous::Full).unwrap_err()
    );
    assert!(err.contains("in use by another assent serve"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    // A second name for the same file is the same database.
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(SqliteStore::open(&link, Synchronous::Full).is_err());
    // Dropping the store lets go of the file at once.
    drop(first);
    drop(SqliteStore::open(&path, Synchronous::Full).unwrap());
    // In-memory stores hold no file.
    let _a = SqliteStore::open_in_memory().unwrap();
    let _b = SqliteStore::open_in_memory().unwrap();
}

/// A listing of every status, `newest` first or not, within `max_bytes`.
fn query(newest: bool, max_bytes: usize, params_max_bytes: Option<usize>) -> ListQuery {
    ListQuery {
        status: None,
        limit: 1000,
        cursor: None,
        newest,
        max_bytes,
        params_max_bytes,
    }
}

#[tokio::test]
async fn a_page_ends_before_the_request_that_would_take_it_over_budget() {
    let s = SqliteStore::open_in_memory().unwrap();
    let mut ids = Vec::new();
    // Params of about 10 KiB (read with their row) and of 100 KiB (read apart).
    for kib in [10, 10, 10, 100, 10] {
        let params = json!({"x": "y".repeat(kib * 1024)});
        let new = fixtures::new_request("t", params);
        ids.push(s.file("agent1", new, FileOptions::default()).await.unwrap());
    }
    let ids: Vec<String> = ids.into_iter().map(|w| w.value.request.id).collect();
    for newest in [false, true] {
        let mut q = query(newest, 25 * 1024, None);
        let mut pages = Vec::new();
        loop {
            let page = s.list(q.clone()).await.unwrap().value;
            assert!(page.requests.iter().all(|r| !r.params_truncated));
            pages.push(
                page.requests
                    .iter()
                    .map(|r| r.id.clone())
                    .collect::<Vec<_>>(),
            );
            q.cursor = page.next_cursor;
            if q.cursor.is_none() {
                break;
            }
        }
        let mut want = ids.clone();
        if newest {
            want.reverse();
        }
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(pages.concat(), want);
        // Two small ones fit 25 KiB, a third does not; the large one goes alone.
        let want_sizes = if newest { [1, 1, 2, 1] } else { [2, 1, 1, 1] };
        assert_eq!(sizes, want_sizes, "newest: {newest}");
    }
    // Left out, params cost nothing: 100 KiB hold the four small ones and the large one
    // without its params, where with them they took two pages.
    let whole = s.list(query(false, 100 * 1024, None)).await.unwrap().value;
    assert_eq!(whole.requests.len(), 3);
    let page = s
        .list(query(false, 100 * 1024, Some(20 * 1024)))
        .await
        .unwrap()
        .value;
    assert_eq!(page.requests.len(), 5);
    assert_eq!(page.next_cursor, None);
    let big = &page.requests[3];
    assert!(big.params_truncated && big.params.is_null());
    assert_eq!(
        big.params_size,
        Some(100 * 1024 + r#"{"x":""}"#.len() as u64)
    );
    assert!(!page.requests[0].params_truncated && page.requests[0].params["x"].is_string());
}

const T0: i64 = 1_700_000_000_000;

/// A store on `path` whose clock reads `clock` (Unix ms).
fn store_on(path: &std::path::Path, clock: &Arc<AtomicI64>) -> SqliteStore {
    let clock = Arc::clone(clock);
    SqliteStore::open(path, Synchronous::Full)
        .unwrap()
        .with_clock(move || DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst)).unwrap())
}

fn keep(events: Option<u64>, audit: Option<u64>) -> Retention {
    Retention {
        events: events.map(Duration::from_secs),
        audit: audit.map(Duration::from_secs),
    }
}

#[tokio::test]
async fn compaction_deletes_the_oldest_entries_in_steps_and_the_sequence_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let clock = Arc::new(AtomicI64::new(T0));
    let s = store_on(&path, &clock);
    // Events 1..=4 at T0, T0+1 s, T0+2 s, T0+3 s, each with its audit entry.
    for i in 0..4 {
        clock.store(T0 + i * 1000, Ordering::SeqCst);
        let new = fixtures::new_request("t", json!({"i": i}));
        s.file("agent1", new, FileOptions::default()).await.unwrap();
    }
    clock.store(T0 + 10_000, Ordering::SeqCst);
    // Older than 8.5 s: events 1 and 2, one per step.
    let events = Retention {
        events: Some(Duration::from_millis(8_500)),
        audit: None,
    };
    let step = s.compact(events, 1).await.unwrap();
    assert_eq!((step.events, step.audit, step.more), (1, 0, true));
    let step = s.compact(events, 1).await.unwrap();
    assert_eq!((step.events, step.more), (1, true));
    let step = s.compact(events, 1).await.unwrap();
    assert_eq!((step.events, step.more), (0, false));
    assert_eq!(s.compacted_through().await.unwrap(), 2);
    let seqs = |evs: Vec<crate::protocol::Event>| evs.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.events_after(0, 100).await.unwrap()), [3, 4]);
    // The audit log is kept unless told otherwise.
    assert_eq!(s.audit_after(0, 100).await.unwrap().entries.len(), 4);

    // Everything, and the audit log too: the sequence still says where the log ended,
    // also after a reopen, and goes on from there.
    let step = s.compact(keep(Some(1), Some(1)), 1000).await.unwrap();
    assert_eq!((step.events, step.audit, step.more), (2, 4, false));
    assert!(s.audit_after(0, 100).await.unwrap().entries.is_empty());
    drop(s);
    let s = store_on(&path, &clock);
    assert_eq!(s.current_seq().await.unwrap(), 4);
    assert_eq!(s.compacted_through().await.unwrap(), 4);
    let page = s.list(query(false, usize::MAX, None)).await.unwrap().value;
    assert_eq!((page.requests.len(), page.seq), (4, 4));
    let new = fixtures::new_request("t", json!({}));
    let filed = s.file("agent1", new, FileOptions::default()).await.unwrap();
    assert_eq!(filed.events[0].seq, 5);
    // Nothing due: nothing deleted, nothing more.
    assert_eq!(
        s.compact(keep(Some(60), Some(60)), 1000).await.unwrap(),
        Compacted::default()
    );
    assert_eq!(
        s.compact(keep(None, None), 1000).await.unwrap(),
        Compacted::default()
    );
}
