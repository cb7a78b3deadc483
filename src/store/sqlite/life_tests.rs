//! The store's life beyond single operations (issue 11): one store per database file,
//! list pages within a byte budget.

use serde_json::json;

use super::{SqliteStore, Synchronous};
use crate::store::{FileOptions, ListQuery, Store, fixtures};

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
