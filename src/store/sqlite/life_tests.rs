//! The store's life beyond single operations (issue 11): one store per database file.

use super::{SqliteStore, Synchronous};

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
