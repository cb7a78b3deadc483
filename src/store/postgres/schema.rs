//! The schema as versioned migrations (`migrations/NNNN_*.sql`), applied in order at
//! start and recorded in `schema_version`, under a transaction-level advisory lock so
//! that instances starting at once migrate once (the others wait, then find it done).

use anyhow::{Context, bail};
use deadpool_postgres::Client;

/// Each migration with its number, the `NNNN` of its file. A change to the schema is a
/// new file with a higher number, never an edit of a shipped one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_keys_and_chain.sql")),
    (3, include_str!("migrations/0003_deliveries.sql")),
    (4, include_str!("migrations/0004_escalation.sql")),
    (5, include_str!("migrations/0005_grant_limits.sql")),
    (6, include_str!("migrations/0006_edited_approvals.sql")),
    (7, include_str!("migrations/0007_approvals.sql")),
];

/// The schema this build writes: the number of its last migration.
pub const SCHEMA_VERSION: i64 = match MIGRATIONS.last() {
    Some((n, _)) => *n,
    None => 0,
};

/// The advisory lock key of migrations ("assent" in ASCII, in a bigint).
const MIGRATION_LOCK: i64 = 0x6173_7365_6e74;

/// Brings the database to [`SCHEMA_VERSION`] in one transaction and returns its id;
/// refuses a database of another program or of a newer assent.
pub(super) async fn migrate(client: &mut Client) -> anyhow::Result<String> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    let has_version: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !has_version {
        let tables: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await?
            .try_get(0)?;
        if tables > 0 {
            bail!(
                "this PostgreSQL database holds other tables and no assent schema: it is not \
                 an assent database; create one for assent (CREATE DATABASE assent) and pass \
                 its URL"
            );
        }
        tx.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
            .await?;
    }
    let version: Option<i64> = tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .await?
        .try_get(0)?;
    let applied = match version {
        None => 0,
        Some(v) if v > SCHEMA_VERSION => bail!(
            "the database has schema version {v}, newer than this assent understands \
             ({SCHEMA_VERSION}): upgrade assent, or pass another database URL"
        ),
        Some(v) if v >= 1 => v,
        Some(v) => bail!("the database has unknown schema version {v}; pass another database URL"),
    };
    if applied < SCHEMA_VERSION {
        for (_, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > applied) {
            tx.batch_execute(sql).await?;
        }
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .await?;
    }
    // Made here, once, in the transaction that creates the schema.
    tx.execute(
        "INSERT INTO meta (one, database_id) SELECT 1, $1 WHERE NOT EXISTS (SELECT 1 FROM meta)",
        &[&uuid::Uuid::now_v7().to_string()],
    )
    .await?;
    let id: String = tx
        .query_one("SELECT database_id FROM meta", &[])
        .await?
        .try_get(0)?;
    tx.commit().await?;
    Ok(id)
}

#[test]
fn migrations_are_numbered_in_ascending_order() {
    assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(MIGRATIONS[0].0, 1);
}
