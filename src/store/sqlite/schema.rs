//! The schema as versioned migrations (`migrations/NNNN_*.sql`), applied in order when a
//! database is opened and recorded in its `schema_version` table.

use anyhow::bail;
use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` (counting from 0) brings a database from version `i` to `i + 1`; a
/// change to the schema is a new file at the end, never an edit of a shipped one.
const MIGRATIONS: [&str; 4] = [
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_policy.sql"),
    include_str!("migrations/0003_database_id.sql"),
    include_str!("migrations/0004_event_horizon.sql"),
];

/// The schema this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`] in one transaction and returns its id;
/// refuses a database of another program or of a newer assent.
pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<String> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_version_table: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !has_version_table {
        let tables: i64 = tx.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            bail!(
                "this SQLite file holds other tables and no assent schema: it is not an assent \
                 database; pass another --db"
            );
        }
        tx.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")?;
    }
    let version: Option<i64> =
        tx.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
    let applied = match version {
        None => 0,
        Some(v) if v > SCHEMA_VERSION => bail!(
            "the database has schema version {v}, newer than this assent understands \
             ({SCHEMA_VERSION}): upgrade assent, or pass another --db"
        ),
        Some(v) if v >= 1 => v,
        Some(v) => bail!("the database has unknown schema version {v}; pass another --db"),
    };
    if applied < SCHEMA_VERSION {
        for sql in MIGRATIONS.iter().skip(usize::try_from(applied)?) {
            tx.execute_batch(sql)?;
        }
        // One row, the version reached: what every assent so far reads and writes.
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )?;
    }
    // Made here, once, in the transaction that creates the database or brings it to
    // version 3; every later open reads it back.
    tx.execute(
        "INSERT INTO meta (one, database_id) SELECT 1, ?1 WHERE NOT EXISTS (SELECT 1 FROM meta)",
        [uuid::Uuid::now_v7().to_string()],
    )?;
    let id: String = tx.query_row("SELECT database_id FROM meta", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::super::{SqliteStore, Synchronous};
    use super::*;
    use crate::store::Store;

    /// Why opening `path` is refused.
    fn refusal(path: &std::path::Path) -> String {
        format!(
            "{:#}",
            SqliteStore::open(path, Synchronous::Full).unwrap_err()
        )
    }

    #[tokio::test]
    async fn foreign_and_newer_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER);")
            .unwrap();
        let err = refusal(&foreign);
        assert!(err.contains("not an assent database"), "{err}");

        let newer = dir.path().join("newer.db");
        drop(SqliteStore::open(&newer, Synchronous::Full).unwrap());
        Connection::open(&newer)
            .unwrap()
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        let err = refusal(&newer);
        assert!(err.contains("newer than this assent"), "{err}");

        let text = dir.path().join("text.db");
        std::fs::write(&text, "this is not sqlite, just some text padding it out").unwrap();
        refusal(&text); // panics if it opens
    }

    #[tokio::test]
    async fn a_version_1_database_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (1);
                 INSERT INTO requests (id, status, tool, params, args_hash, agent, filed_by,
                     created_at) VALUES ('r1', 'pending', 't', '{}', 'sha256:00', 'a', 'agent1', 0);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        let r = s.get("r1").await.unwrap().value;
        assert_eq!(r.policy, None);
        // The migration gave the old database its id, once.
        let id = s.database_id().to_owned();
        uuid::Uuid::parse_str(&id).unwrap();
        drop(s);
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        assert_eq!(s.database_id(), id);
        drop(s);
        let versions: Vec<i64> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT version FROM schema_version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(versions, [SCHEMA_VERSION]);
    }
}
