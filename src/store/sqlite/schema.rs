//! The schema as versioned migrations (`migrations/NNNN_*.sql`), applied in order when a
//! database is opened and recorded in its `schema_version` table.

use anyhow::bail;
use rusqlite::{Connection, TransactionBehavior};

/// Each migration with its number, the `NNNN` of its file: it brings a database to
/// version `NNNN`. A change to the schema is a new file with a higher number, never an
/// edit of a shipped one. They are applied in this order, which must be ascending.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_policy.sql")),
    (3, include_str!("migrations/0003_database_id.sql")),
    (4, include_str!("migrations/0004_event_horizon.sql")),
    (5, include_str!("migrations/0005_decided_via.sql")),
    (6, include_str!("migrations/0006_signing_keys.sql")),
    (7, include_str!("migrations/0007_audit_chain.sql")),
    (8, include_str!("migrations/0008_deliveries.sql")),
    (9, include_str!("migrations/0009_escalation.sql")),
    (10, include_str!("migrations/0010_grant_limits.sql")),
    (11, include_str!("migrations/0011_edited_approvals.sql")),
    (12, include_str!("migrations/0012_approvals.sql")),
];

/// The schema this build writes: the number of its last migration.
pub const SCHEMA_VERSION: i64 = match MIGRATIONS.last() {
    Some((n, _)) => *n,
    None => 0,
};

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
        for (_, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > applied) {
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
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
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

    #[test]
    fn migrations_are_numbered_in_ascending_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }

    /// A version 2 database: its decisions get the `via` they were made by, on the
    /// request, its `decided` audit entry and its events, and nothing else changes.
    #[tokio::test]
    async fn decisions_made_before_version_4_are_told_apart() {
        use crate::protocol::{ApprovalRequest, PolicyAction, Scope, Via};
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        // Params a JSON rewrite could spoil: every event payload must keep its values.
        let params = json!({"n": 1.5, "big": 9_007_199_254_740_992_u64, "f": 1e300,
                            "s": "\u{e9}\u{202e}\u{1b}\"q\\", "a": [0.1, -2, null]});
        let params_text = serde_json::to_string(&params).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            conn.execute_batch(MIGRATIONS[1].1).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (2);",
            )
            .unwrap();
            /// id, outcome, scope, responder, grant_id, policy
            type Row = (
                &'static str,
                Option<&'static str>,
                Option<&'static str>,
                Option<&'static str>,
                Option<&'static str>,
                Option<&'static str>,
            );
            let rows: [Row; 6] = [
                (
                    "once",
                    Some("approved"),
                    Some("once"),
                    Some("alice"),
                    None,
                    None,
                ),
                (
                    "maker",
                    Some("approved"),
                    Some("conversation"),
                    Some("alice"),
                    Some("g1"),
                    None,
                ),
                (
                    "covered",
                    Some("approved"),
                    Some("conversation"),
                    Some("alice"),
                    Some("g1"),
                    None,
                ),
                (
                    "allowed",
                    Some("approved"),
                    Some("once"),
                    Some("policy:reads"),
                    None,
                    Some(r#"{"rule":"reads","action":"allow","message":null}"#),
                ),
                (
                    "denied",
                    Some("rejected"),
                    Some("once"),
                    Some("policy:default"),
                    None,
                    Some(r#"{"rule":null,"action":"deny","message":null}"#),
                ),
                (
                    "waiting",
                    None,
                    None,
                    None,
                    None,
                    Some(r#"{"rule":"held","action":"require_approval","message":null}"#),
                ),
            ];
            for (id, outcome, scope, responder, grant, policy) in rows {
                let status = outcome.unwrap_or("pending");
                conn.execute(
                    "INSERT INTO requests (id, status, tool, params, args_hash, agent, filed_by,
                         created_at, outcome, scope, responder, decided_at, grant_id, policy)
                     VALUES (?1, ?2, 't', ?3, 'sha256:00', 'a', 'agent1', 0, ?4, ?5, ?6,
                         CASE WHEN ?4 IS NULL THEN NULL ELSE 1 END, ?7, ?8)",
                    rusqlite::params![
                        id,
                        status,
                        params_text,
                        outcome,
                        scope,
                        responder,
                        grant,
                        policy
                    ],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO audit (at, actor, action, request_id) VALUES (0, 'x', ?1, ?2)",
                    rusqlite::params![
                        if outcome.is_some() {
                            "decided"
                        } else {
                            "filed"
                        },
                        id
                    ],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by,
                     created_by, created_at, source_request_id)
                 VALUES ('g1', 'conversation', 'a', 't', 'c1', 'agent1', 'alice', 0, 'maker')",
                [],
            )
            .unwrap();
            // The events as version 2 wrote them: requests without `decision.via`.
            let read: Vec<(String, String)> = {
                let mut st = conn
                    .prepare("SELECT id, status FROM requests ORDER BY n")
                    .unwrap();
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            };
            for (id, status) in read {
                let mut v = json!({
                    "id": id, "status": status, "tool": "t", "params": params,
                    "args_hash": "sha256:00", "agent": "a", "filed_by": "agent1",
                    "created_at": "1970-01-01T00:00:00Z", "decision": null
                });
                if status != "pending" {
                    v["decision"] = json!({"outcome": status, "scope": "once",
                        "responder": "alice", "decided_at": "1970-01-01T00:00:00.001Z",
                        "grant_id": null});
                }
                conn.execute(
                    "INSERT INTO events (kind, at, request_id, payload) VALUES (?1, 0, ?2, ?3)",
                    rusqlite::params![
                        if status == "pending" {
                            "request.created"
                        } else {
                            "request.decided"
                        },
                        id,
                        v.to_string()
                    ],
                )
                .unwrap();
            }
        }
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        let via = |r: &ApprovalRequest| r.decision.as_ref().map(|d| d.via.clone());
        let grant = Via::Grant {
            grant_id: "g1".into(),
            granted_by: "alice".into(),
            scope: Scope::Conversation,
        };
        let expected = [
            ("once", Some(Via::Person)),
            ("maker", Some(Via::Person)),
            ("covered", Some(grant)),
            (
                "allowed",
                Some(Via::Policy {
                    rule: Some("reads".into()),
                    action: PolicyAction::Allow,
                }),
            ),
            (
                "denied",
                Some(Via::Policy {
                    rule: None,
                    action: PolicyAction::Deny,
                }),
            ),
            ("waiting", None),
        ];
        for (id, want) in &expected {
            let r = s.get(id).await.unwrap().value;
            assert_eq!(&via(&r), want, "{id}");
            assert_eq!(r.params, params, "{id}");
        }
        let audit = s.audit_after(0, 100).await.unwrap().entries;
        for (id, want) in &expected {
            let e = audit
                .iter()
                .find(|e| e.request_id.as_deref() == Some(*id))
                .unwrap();
            assert_eq!(&e.via, want, "{id}");
        }
        let events = s.events_after(0, 100).await.unwrap();
        assert_eq!(events.len(), expected.len());
        for (ev, (id, want)) in events.iter().zip(&expected) {
            let r = ev.request.as_ref().unwrap();
            assert_eq!(r.id, *id);
            assert_eq!(&via(r), want, "{id}");
            assert_eq!(r.params, params, "the payload keeps its params: {id}");
        }
    }
}
