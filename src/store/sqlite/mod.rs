//! The SQLite [`Store`]: one connection in WAL mode owned by one writer thread; every
//! operation is a savepoint ("expire, check, write, append events") inside a transaction
//! that is committed before the operation returns.
//!
//! One connection is enough here: SQLite serialises writers anyway, and running the
//! operations one after the other on one thread is what makes each atomic with no retry
//! logic. The writer takes every operation queued while it was busy into one transaction
//! (group commit): each is its own savepoint, so a failed one changes nothing and the
//! others go on, and one fsync covers them all. Nobody gets an answer before the commit.
//! Times are stored as Unix milliseconds so expiry is an indexed integer comparison.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::rules::{self, DecisionPlan, GrantScope, SYSTEM_ACTOR};
use super::{FileOptions, Filed, ListQuery, Store, StoreError, StoreResult, Written};
use crate::protocol::{
    ApprovalRequest, AuditEntry, AuditPage, Decision, DecisionBody, Event, EventKind, Grant,
    GrantList, Identity, NewRequest, Outcome, RequestList, Risk, Role, Scope, Status,
};

/// The schema this build writes. Bump it with a migration in [`migrate`].
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA_V1: &str = r#"
CREATE TABLE requests (
    n               INTEGER PRIMARY KEY,       -- insertion order: "oldest first" and the list cursor
    id              TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    tool            TEXT NOT NULL,
    params          TEXT NOT NULL,             -- JSON
    args_hash       TEXT NOT NULL,
    reason          TEXT,
    agent           TEXT NOT NULL,
    conversation_id TEXT,
    run_id          TEXT,
    tool_call_id    TEXT,
    risk            TEXT,
    filed_by        TEXT NOT NULL,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,          -- Unix ms
    expires_at      INTEGER,
    outcome         TEXT,                      -- decision columns: all NULL while undecided
    scope           TEXT,
    decision_reason TEXT,
    notify_agent    INTEGER,
    responder       TEXT,
    decided_at      INTEGER,
    grant_id        TEXT
);
CREATE INDEX requests_by_status ON requests(status, n);
CREATE INDEX requests_pending_expiry ON requests(expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX requests_pending_match ON requests(filed_by, agent, tool)
    WHERE status = 'pending';
CREATE UNIQUE INDEX requests_tool_call ON requests(filed_by, agent, tool_call_id)
    WHERE tool_call_id IS NOT NULL;
CREATE UNIQUE INDEX requests_idempotency ON requests(filed_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE grants (
    n                 INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    scope             TEXT NOT NULL,
    agent             TEXT NOT NULL,
    tool              TEXT NOT NULL,
    conversation_id   TEXT,
    filed_by          TEXT NOT NULL,           -- the token whose requests the grant covers
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    source_request_id TEXT,
    revoked_at        INTEGER,
    revoked_by        TEXT
);
CREATE INDEX grants_active ON grants(filed_by, agent, tool) WHERE revoked_at IS NULL;

-- AUTOINCREMENT: a sequence number is never reused, even after the newest rows are
-- deleted, so a client's Last-Event-ID always means the same event.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    request_id TEXT,
    grant_id   TEXT,
    payload    TEXT NOT NULL                   -- JSON of the request or grant after the change
);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    request_id TEXT,
    tool       TEXT,
    agent      TEXT,
    outcome    TEXT,
    scope      TEXT,
    reason     TEXT,
    args_hash  TEXT,
    grant_id   TEXT
);
"#;

/// Version 2: the policy verdict of each filing (JSON of `PolicyMatch`), on the request
/// and on its `filed` audit entry.
const SCHEMA_V2: &str = r#"
ALTER TABLE requests ADD COLUMN policy TEXT;
ALTER TABLE audit ADD COLUMN policy TEXT;
"#;

const REQ_COLS: &str = "id, status, tool, params, args_hash, reason, agent, conversation_id, \
    run_id, tool_call_id, risk, filed_by, created_at, expires_at, outcome, scope, \
    decision_reason, notify_agent, responder, decided_at, grant_id, n, policy";

const GRANT_COLS: &str = "id, scope, agent, tool, conversation_id, created_by, created_at, \
    source_request_id, revoked_at, revoked_by";

const AUDIT_COLS: &str = "seq, at, actor, action, request_id, tool, agent, outcome, scope, reason, args_hash, grant_id, \
     policy";

/// SQLite's `synchronous` setting (see config.example.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged write survives power loss.
    Full,
    /// Survives a crash or kill -9 of the server; may lose the last commits on power loss.
    Normal,
}

impl Synchronous {
    pub fn parse(s: &str) -> Option<Synchronous> {
        match s {
            "full" => Some(Synchronous::Full),
            "normal" => Some(Synchronous::Normal),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What an operation hands back to the writer: its answer, to send once the transaction
/// it ran in is committed (or to replace by the commit's error).
type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// An operation queued for the writer thread.
type Job = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;

/// Operations committed together at most: bounds how long the first one waits.
const MAX_GROUP: usize = 64;

#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    clock: Clock,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored JSON: {e}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path, sync: Synchronous) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            bail!(
                "cannot open the database file {}: the directory {} does not exist; create \
                 it, or pass another --db",
                path.display(),
                dir.display()
            );
        }
        let conn = Connection::open(path).with_context(|| {
            format!(
                "cannot open the database file {} (is the directory writable?)",
                path.display()
            )
        })?;
        Self::init(conn, sync, true).with_context(|| {
            format!(
                "cannot use {} as the assent database (pass another --db)",
                path.display()
            )
        })
    }

    /// A throwaway store that keeps nothing after the process ends.
    pub fn open_in_memory() -> anyhow::Result<SqliteStore> {
        let conn = Connection::open_in_memory().context("cannot open an in-memory database")?;
        Self::init(conn, Synchronous::Normal, false)
    }

    fn init(mut conn: Connection, sync: Synchronous, file: bool) -> anyhow::Result<SqliteStore> {
        conn.busy_timeout(Duration::from_secs(5))?;
        if file {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                bail!(
                    "SQLite refused WAL mode (journal_mode is {mode}); put the database on a \
                     local file system"
                );
            }
        }
        conn.pragma_update(None, "synchronous", sync.pragma())?;
        migrate(&mut conn)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        // The thread ends when the last handle on the store is dropped.
        std::thread::Builder::new()
            .name("assent-sqlite".to_owned())
            .spawn(move || writer(conn, queue))
            .context("cannot start the database thread")?;
        Ok(SqliteStore {
            jobs,
            clock: Arc::new(Utc::now),
        })
    }

    /// Replaces the clock (tests drive expiry with it).
    #[cfg(test)]
    fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Runs `f` on the connection, on the writer thread, and answers once its transaction
    /// is committed. `now` is read when the operation runs, so operations see time
    /// advance in the order they commit.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let clock = Arc::clone(&self.clock);
        let job: Job = Box::new(move |conn| {
            let now = rules::truncate_millis(clock());
            // A panic unwinds through the operation's savepoint, which rolls it back; the
            // writer and the other operations go on.
            let result = catch_unwind(AssertUnwindSafe(|| f(conn, now))).unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "a store operation failed unexpectedly".to_owned(),
                ))
            });
            Box::new(move |committed: StoreResult<()>| {
                let _ = answer.send(committed.and(result));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the database thread has stopped".to_owned()))?;
        answered
            .await
            .map_err(|_| StoreError::Backend("the database thread has stopped".to_owned()))?
    }
}

/// The writer thread: runs queued operations in groups, one transaction per group.
fn writer(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
            // Each operation's savepoint is then a transaction of its own.
            for job in group {
                job(&mut conn)(Ok(()));
            }
            continue;
        }
        let replies: Vec<Reply> = group.into_iter().map(|job| job(&mut conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
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
    match version {
        None | Some(1) => {
            if version.is_none() {
                tx.execute_batch(SCHEMA_V1)?;
            }
            tx.execute_batch(SCHEMA_V2)?;
            tx.execute("DELETE FROM schema_version", [])?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(v) if v > SCHEMA_VERSION => bail!(
            "the database has schema version {v}, newer than this assent understands \
             ({SCHEMA_VERSION}): upgrade assent, or pass another --db"
        ),
        Some(v) => bail!("the database has unknown schema version {v}; pass another --db"),
    }
    tx.commit()?;
    Ok(())
}

// ---- row conversion ------------------------------------------------------------------

fn conversion(idx: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        format!("unknown {what} '{value}' in the database").into(),
    )
}

fn time_col(row: &Row, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, "time out of range".into())
    })
}

fn opt_time_col(row: &Row, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time_col(row, idx).map(Some),
    }
}

fn parse_col<T>(
    row: &Row,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| conversion(idx, what, &s))
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    match s {
        "approved" => Some(Outcome::Approved),
        "rejected" => Some(Outcome::Rejected),
        _ => None,
    }
}

/// A request row and its insertion number (the list cursor).
fn request_row(row: &Row) -> rusqlite::Result<(i64, ApprovalRequest)> {
    let params: String = row.get(3)?;
    let params = serde_json::from_str(&params)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(e)))?;
    let risk = match row.get::<_, Option<String>>(10)? {
        None => None,
        Some(s) => Some(Risk::parse(&s).ok_or_else(|| conversion(10, "risk", &s))?),
    };
    let decision = match row.get::<_, Option<String>>(14)? {
        None => None,
        Some(_) => Some(Decision {
            outcome: parse_col(row, 14, "outcome", parse_outcome)?,
            scope: parse_col(row, 15, "scope", Scope::parse)?,
            reason: row.get(16)?,
            notify_agent: row.get::<_, Option<bool>>(17)?.unwrap_or(false),
            responder: row.get::<_, Option<String>>(18)?.unwrap_or_default(),
            decided_at: time_col(row, 19)?,
            grant_id: row.get(20)?,
        }),
    };
    let req = ApprovalRequest {
        id: row.get(0)?,
        status: parse_col(row, 1, "status", Status::parse)?,
        tool: row.get(2)?,
        params,
        args_hash: row.get(4)?,
        reason: row.get(5)?,
        agent: row.get(6)?,
        conversation_id: row.get(7)?,
        run_id: row.get(8)?,
        tool_call_id: row.get(9)?,
        risk,
        filed_by: row.get(11)?,
        created_at: time_col(row, 12)?,
        expires_at: opt_time_col(row, 13)?,
        decision,
        policy: json_col(row, 22)?,
    };
    Ok((row.get(21)?, req))
}

fn grant_row(row: &Row) -> rusqlite::Result<Grant> {
    Ok(Grant {
        id: row.get(0)?,
        scope: parse_col(row, 1, "scope", Scope::parse)?,
        agent: row.get(2)?,
        tool: row.get(3)?,
        conversation_id: row.get(4)?,
        created_by: row.get(5)?,
        created_at: time_col(row, 6)?,
        source_request_id: row.get(7)?,
        revoked_at: opt_time_col(row, 8)?,
        revoked_by: row.get(9)?,
    })
}

/// An optional JSON column.
fn json_col<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))),
    }
}

fn audit_row(row: &Row) -> rusqlite::Result<AuditEntry> {
    let scope = match row.get::<_, Option<String>>(8)? {
        None => None,
        Some(s) => Some(Scope::parse(&s).ok_or_else(|| conversion(8, "scope", &s))?),
    };
    Ok(AuditEntry {
        seq: row.get::<_, i64>(0)?.max(0) as u64,
        at: time_col(row, 1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        request_id: row.get(4)?,
        tool: row.get(5)?,
        agent: row.get(6)?,
        outcome: row.get(7)?,
        scope,
        reason: row.get(9)?,
        args_hash: row.get(10)?,
        grant_id: row.get(11)?,
        policy: json_col(row, 12)?,
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn limit_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---- transaction helpers ------------------------------------------------------------

fn load_request(tx: &Connection, id: &str) -> StoreResult<Option<ApprovalRequest>> {
    let mut st = tx.prepare_cached(&format!("SELECT {REQ_COLS} FROM requests WHERE id = ?1"))?;
    Ok(st.query_row([id], request_row).optional()?.map(|(_, r)| r))
}

fn require_request(tx: &Connection, id: &str) -> StoreResult<ApprovalRequest> {
    load_request(tx, id)?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "no request with id {id}; GET /v1/requests lists the known ones"
        ))
    })
}

fn load_grant(tx: &Connection, id: &str) -> StoreResult<Option<Grant>> {
    let mut st = tx.prepare_cached(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?1"))?;
    Ok(st.query_row([id], grant_row).optional()?)
}

fn current_seq_tx(tx: &Connection) -> StoreResult<u64> {
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
        .query_row([], |r| r.get(0))?;
    Ok(seq.max(0) as u64)
}

fn append_event(
    tx: &Connection,
    kind: EventKind,
    at: DateTime<Utc>,
    request: Option<&ApprovalRequest>,
    grant: Option<&Grant>,
    out: &mut Vec<Event>,
) -> StoreResult<()> {
    let payload = match (request, grant) {
        (Some(r), _) => serde_json::to_string(r)?,
        (None, Some(g)) => serde_json::to_string(g)?,
        (None, None) => "null".to_owned(),
    };
    tx.prepare_cached(
        "INSERT INTO events (kind, at, request_id, grant_id, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        kind.as_str(),
        at.timestamp_millis(),
        request.map(|r| r.id.as_str()),
        grant.map(|g| g.id.as_str()),
        payload
    ])?;
    out.push(Event {
        seq: tx.last_insert_rowid().max(0) as u64,
        kind,
        at,
        request: request.cloned(),
        grant: grant.cloned(),
    });
    Ok(())
}

fn append_audit(tx: &Connection, e: &AuditEntry) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, request_id, tool, agent, outcome, scope, reason, \
         args_hash, grant_id, policy) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.at.timestamp_millis(),
        e.actor,
        e.action,
        e.request_id,
        e.tool,
        e.agent,
        e.outcome,
        e.scope.map(Scope::as_str),
        e.reason,
        e.args_hash,
        e.grant_id,
        e.policy.as_ref().map(serde_json::to_string).transpose()?,
    ])?;
    Ok(())
}

/// An audit entry about `req`; decision fields are filled for `decided`.
fn request_audit(
    req: &ApprovalRequest,
    action: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> AuditEntry {
    let d = req.decision.as_ref().filter(|_| action == "decided");
    AuditEntry {
        seq: 0,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        request_id: Some(req.id.clone()),
        tool: Some(req.tool.clone()),
        agent: Some(req.agent.clone()),
        outcome: d.map(|d| d.outcome.as_str().to_owned()),
        scope: d.map(|d| d.scope),
        reason: match d {
            Some(d) => d.reason.clone(),
            None if action == "filed" => req.reason.clone(),
            None => None,
        },
        args_hash: Some(req.args_hash.clone()),
        grant_id: d.and_then(|d| d.grant_id.clone()),
        policy: req.policy.clone().filter(|_| action == "filed"),
    }
}

fn grant_audit(g: &Grant, action: &str, actor: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        request_id: g.source_request_id.clone(),
        tool: Some(g.tool.clone()),
        agent: Some(g.agent.clone()),
        outcome: None,
        scope: Some(g.scope),
        reason: None,
        args_hash: None,
        grant_id: Some(g.id.clone()),
        policy: None,
    }
}

/// Expires every pending request due at `now`, appending its events.
fn expire_due_tx(tx: &Connection, now: DateTime<Utc>, out: &mut Vec<Event>) -> StoreResult<()> {
    // INDEXED BY: left to itself the planner takes the (status, n) index and walks every
    // pending request on every operation (seen at 100,000 pending: filing slowed to a
    // few hundred a second). The partial expiry index holds only what can be due.
    let due: Vec<(i64, ApprovalRequest)> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {REQ_COLS} FROM requests INDEXED BY requests_pending_expiry \
             WHERE status = 'pending' AND expires_at IS NOT NULL \
             AND expires_at <= ?1 ORDER BY expires_at, n"
        ))?;
        st.query_map([now.timestamp_millis()], request_row)?
            .collect::<rusqlite::Result<_>>()?
    };
    for (n, mut req) in due {
        tx.prepare_cached("UPDATE requests SET status = 'expired' WHERE n = ?1")?
            .execute([n])?;
        req.status = Status::Expired;
        append_audit(tx, &request_audit(&req, "expired", SYSTEM_ACTOR, now))?;
        append_event(tx, EventKind::RequestExpired, now, Some(&req), None, out)?;
    }
    Ok(())
}

fn next_expiry_tx(tx: &Connection) -> StoreResult<Option<DateTime<Utc>>> {
    let ms: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(expires_at) FROM requests INDEXED BY requests_pending_expiry \
             WHERE status = 'pending' AND expires_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(ms.and_then(DateTime::from_timestamp_millis))
}

fn write_decision(tx: &Connection, req: &ApprovalRequest) -> StoreResult<()> {
    let d = req.decision.as_ref();
    tx.prepare_cached(
        "UPDATE requests SET status = ?2, outcome = ?3, scope = ?4, decision_reason = ?5, \
         notify_agent = ?6, responder = ?7, decided_at = ?8, grant_id = ?9 WHERE id = ?1",
    )?
    .execute(params![
        req.id,
        req.status.as_str(),
        d.map(|d| d.outcome.as_str()),
        d.map(|d| d.scope.as_str()),
        d.and_then(|d| d.reason.as_deref()),
        d.map(|d| d.notify_agent),
        d.map(|d| d.responder.as_str()),
        d.map(|d| d.decided_at.timestamp_millis()),
        d.and_then(|d| d.grant_id.as_deref()),
    ])?;
    Ok(())
}

/// The oldest active grant covering a call by `filer`/`agent` of `tool` in `conversation_id`.
fn matching_grant(
    tx: &Connection,
    filer: &str,
    agent: &str,
    tool: &str,
    conversation_id: Option<&str>,
) -> StoreResult<Option<Grant>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {GRANT_COLS} FROM grants WHERE filed_by = ?1 AND agent = ?2 AND tool = ?3 \
         AND revoked_at IS NULL \
         AND (scope = 'always' OR (scope = 'conversation' AND conversation_id = ?4)) \
         ORDER BY n LIMIT 1"
    ))?;
    Ok(st
        .query_row(params![filer, agent, tool, conversation_id], grant_row)
        .optional()?)
}

/// The decision a grant makes on a request it covers.
fn grant_decision(g: &Grant, now: DateTime<Utc>) -> Decision {
    Decision {
        outcome: Outcome::Approved,
        scope: g.scope,
        reason: None,
        notify_agent: false,
        responder: g.created_by.clone(),
        decided_at: now,
        grant_id: Some(g.id.clone()),
    }
}

/// Approves every pending request that the new grant `g` (for requests of `filer`) covers.
fn approve_covered(
    tx: &Connection,
    g: &Grant,
    filer: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Event>,
) -> StoreResult<()> {
    let covered: Vec<(i64, ApprovalRequest)> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {REQ_COLS} FROM requests WHERE status = 'pending' AND filed_by = ?1 \
             AND agent = ?2 AND tool = ?3 ORDER BY n"
        ))?;
        st.query_map(params![filer, g.agent, g.tool], request_row)?
            .collect::<rusqlite::Result<_>>()?
    };
    let Some(reach) = GrantScope::of_grant(g, filer) else {
        return Ok(());
    };
    for (_, mut req) in covered {
        if !reach.covers(&req) {
            continue;
        }
        req.status = Status::Approved;
        req.decision = Some(grant_decision(g, now));
        write_decision(tx, &req)?;
        append_audit(tx, &request_audit(&req, "decided", &g.created_by, now))?;
        append_event(tx, EventKind::RequestDecided, now, Some(&req), None, out)?;
    }
    Ok(())
}

fn find_replay(
    tx: &Connection,
    filer: &str,
    new: &NewRequest,
    key: Option<&str>,
) -> StoreResult<Option<ApprovalRequest>> {
    if let Some(tcid) = &new.tool_call_id {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {REQ_COLS} FROM requests WHERE filed_by = ?1 AND agent = ?2 AND tool_call_id = ?3"
        ))?;
        if let Some((_, r)) = st
            .query_row(params![filer, new.agent, tcid], request_row)
            .optional()?
        {
            return Ok(Some(r));
        }
    }
    if let Some(key) = key {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {REQ_COLS} FROM requests WHERE filed_by = ?1 AND idempotency_key = ?2"
        ))?;
        if let Some((_, r)) = st.query_row(params![filer, key], request_row).optional()? {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

fn file_tx(
    conn: &mut Connection,
    now: DateTime<Utc>,
    filer: &str,
    new: NewRequest,
    opts: FileOptions,
) -> StoreResult<Written<Filed>> {
    rules::validate_new(&new)?;
    if let Some(k) = &opts.idempotency_key {
        rules::validate_idempotency_key(k)?;
    }
    let args_hash = crate::protocol::args_hash(&new.params);
    let tx = conn.savepoint()?;
    let mut events = Vec::new();
    expire_due_tx(&tx, now, &mut events)?;

    if let Some(existing) = find_replay(&tx, filer, &new, opts.idempotency_key.as_deref())? {
        rules::check_replay(&existing, &new, &args_hash)?;
        tx.commit()?;
        return Ok(Written::new(
            Filed {
                request: existing,
                created: false,
            },
            events,
        ));
    }

    // A policy verdict other than require_approval decides at birth, before any grant:
    // a deny rule must win over an "always" grant.
    let by_policy = opts
        .policy
        .as_ref()
        .and_then(|p| rules::policy_decision(p, now));
    let grant = match by_policy {
        Some(_) => None,
        None => matching_grant(
            &tx,
            filer,
            &new.agent,
            &new.tool,
            new.conversation_id.as_deref(),
        )?,
    };
    let decision = by_policy.or_else(|| grant.as_ref().map(|g| grant_decision(g, now)));
    let req = ApprovalRequest {
        id: rules::new_id(),
        status: match decision.as_ref().map(|d| d.outcome) {
            None => Status::Pending,
            Some(Outcome::Approved) => Status::Approved,
            Some(Outcome::Rejected) => Status::Rejected,
        },
        tool: new.tool.clone(),
        args_hash,
        reason: new.reason.clone(),
        agent: new.agent.clone(),
        conversation_id: new.conversation_id.clone(),
        run_id: new.run_id.clone(),
        tool_call_id: new.tool_call_id.clone(),
        risk: new.risk,
        filed_by: filer.to_owned(),
        created_at: now,
        expires_at: rules::expiry_for(&new, opts.default_ttl, now),
        decision,
        params: new.params,
        policy: opts.policy,
    };
    let params_json = serde_json::to_string(&req.params)?;
    tx.prepare_cached(
        "INSERT INTO requests (id, status, tool, params, args_hash, reason, agent, \
         conversation_id, run_id, tool_call_id, risk, filed_by, idempotency_key, created_at, \
         expires_at, policy) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        req.id,
        Status::Pending.as_str(),
        req.tool,
        params_json,
        req.args_hash,
        req.reason,
        req.agent,
        req.conversation_id,
        req.run_id,
        req.tool_call_id,
        req.risk.map(Risk::as_str),
        req.filed_by,
        opts.idempotency_key,
        req.created_at.timestamp_millis(),
        req.expires_at.map(|t| t.timestamp_millis()),
        req.policy.as_ref().map(serde_json::to_string).transpose()?,
    ])?;
    append_audit(&tx, &request_audit(&req, "filed", filer, now))?;
    if let Some(d) = &req.decision {
        write_decision(&tx, &req)?;
        append_audit(&tx, &request_audit(&req, "decided", &d.responder, now))?;
    }
    // One event for the new request, as born: pending, or already decided by the
    // policy or a grant.
    append_event(
        &tx,
        EventKind::RequestCreated,
        now,
        Some(&req),
        None,
        &mut events,
    )?;
    tx.commit()?;
    Ok(Written::new(
        Filed {
            request: req,
            created: true,
        },
        events,
    ))
}

fn decide_tx(
    conn: &mut Connection,
    now: DateTime<Utc>,
    id: &str,
    responder: &str,
    body: DecisionBody,
) -> StoreResult<Written<ApprovalRequest>> {
    let tx = conn.savepoint()?;
    let mut events = Vec::new();
    expire_due_tx(&tx, now, &mut events)?;
    let mut req = require_request(&tx, id)?;
    // On an error the transaction rolls back: a failed call changes nothing, and an
    // expiry it saw is done (and published) by the next operation or the sweeper.
    let mut decision = match rules::plan_decision(&req, responder, &body, now)? {
        DecisionPlan::Apply(d) => d,
        DecisionPlan::Replay => {
            tx.commit()?;
            return Ok(Written::new(req, events));
        }
    };
    let grant = match decision.scope {
        Scope::Once => None,
        scope => {
            let g = Grant {
                id: rules::new_id(),
                scope,
                agent: req.agent.clone(),
                tool: req.tool.clone(),
                conversation_id: if scope == Scope::Conversation {
                    req.conversation_id.clone()
                } else {
                    None
                },
                created_by: responder.to_owned(),
                created_at: now,
                source_request_id: Some(req.id.clone()),
                revoked_at: None,
                revoked_by: None,
            };
            tx.prepare_cached(
                "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by, \
                 created_by, created_at, source_request_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                g.id,
                g.scope.as_str(),
                g.agent,
                g.tool,
                g.conversation_id,
                req.filed_by,
                g.created_by,
                g.created_at.timestamp_millis(),
                g.source_request_id,
            ])?;
            decision.grant_id = Some(g.id.clone());
            Some(g)
        }
    };
    req.status = match decision.outcome {
        Outcome::Approved => Status::Approved,
        Outcome::Rejected => Status::Rejected,
    };
    req.decision = Some(decision);
    write_decision(&tx, &req)?;
    append_audit(&tx, &request_audit(&req, "decided", responder, now))?;
    append_event(
        &tx,
        EventKind::RequestDecided,
        now,
        Some(&req),
        None,
        &mut events,
    )?;
    if let Some(g) = &grant {
        append_audit(&tx, &grant_audit(g, "grant_created", responder, now))?;
        append_event(
            &tx,
            EventKind::GrantCreated,
            now,
            None,
            Some(g),
            &mut events,
        )?;
        approve_covered(&tx, g, &req.filed_by, now, &mut events)?;
    }
    tx.commit()?;
    Ok(Written::new(req, events))
}

fn cancel_tx(
    conn: &mut Connection,
    now: DateTime<Utc>,
    id: &str,
    actor: &Identity,
) -> StoreResult<Written<ApprovalRequest>> {
    let tx = conn.savepoint()?;
    let mut events = Vec::new();
    expire_due_tx(&tx, now, &mut events)?;
    let mut req = require_request(&tx, id)?;
    if actor.role != Role::Admin && req.filed_by != actor.name {
        return Err(StoreError::Forbidden(format!(
            "request {id} was filed by another token; only the agent that filed it, or an \
             admin, may cancel it"
        )));
    }
    if req.status.is_final() {
        return Err(rules::not_pending(&req));
    }
    req.status = Status::Cancelled;
    tx.prepare_cached("UPDATE requests SET status = 'cancelled' WHERE id = ?1")?
        .execute([id])?;
    append_audit(&tx, &request_audit(&req, "cancelled", &actor.name, now))?;
    append_event(
        &tx,
        EventKind::RequestCancelled,
        now,
        Some(&req),
        None,
        &mut events,
    )?;
    tx.commit()?;
    Ok(Written::new(req, events))
}

#[async_trait]
impl Store for SqliteStore {
    async fn file(
        &self,
        filer: &str,
        new: NewRequest,
        opts: FileOptions,
    ) -> StoreResult<Written<Filed>> {
        let filer = filer.to_owned();
        self.run(move |conn, now| file_tx(conn, now, &filer, new, opts))
            .await
    }

    async fn decide(
        &self,
        id: &str,
        responder: &str,
        body: DecisionBody,
    ) -> StoreResult<Written<ApprovalRequest>> {
        let (id, responder) = (id.to_owned(), responder.to_owned());
        self.run(move |conn, now| decide_tx(conn, now, &id, &responder, body))
            .await
    }

    async fn cancel(&self, id: &str, actor: &Identity) -> StoreResult<Written<ApprovalRequest>> {
        let (id, actor) = (id.to_owned(), actor.clone());
        self.run(move |conn, now| cancel_tx(conn, now, &id, &actor))
            .await
    }

    async fn expire_due(&self) -> StoreResult<Written<Option<DateTime<Utc>>>> {
        self.run(|conn, now| {
            let tx = conn.savepoint()?;
            let mut events = Vec::new();
            expire_due_tx(&tx, now, &mut events)?;
            let next = next_expiry_tx(&tx)?;
            tx.commit()?;
            Ok(Written::new(next, events))
        })
        .await
    }

    async fn get(&self, id: &str) -> StoreResult<Written<ApprovalRequest>> {
        let id = id.to_owned();
        self.run(move |conn, now| {
            let tx = conn.savepoint()?;
            let mut events = Vec::new();
            expire_due_tx(&tx, now, &mut events)?;
            let req = require_request(&tx, &id)?;
            tx.commit()?;
            Ok(Written::new(req, events))
        })
        .await
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Written<RequestList>> {
        // The cursor is the insertion number of the last row sent: the next page starts
        // after it (oldest first) or before it (newest first).
        let after: i64 = match &query.cursor {
            None if query.newest => i64::MAX,
            None => 0,
            Some(c) => c.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
                StoreError::BadInput(format!(
                    "cursor '{c}' was not made by this server: pass the next_cursor of a \
                     previous page, or omit it"
                ))
            })?,
        };
        self.run(move |conn, now| {
            let tx = conn.savepoint()?;
            let mut events = Vec::new();
            expire_due_tx(&tx, now, &mut events)?;
            let fetch = limit_i64(query.limit.saturating_add(1));
            let (cmp, dir) = if query.newest {
                ("<", "DESC")
            } else {
                (">", "ASC")
            };
            let mut rows: Vec<(i64, ApprovalRequest)> = match query.status {
                Some(status) => {
                    let mut st = tx.prepare_cached(&format!(
                        "SELECT {REQ_COLS} FROM requests WHERE status = ?1 AND n {cmp} ?2 \
                         ORDER BY n {dir} LIMIT ?3"
                    ))?;
                    st.query_map(params![status.as_str(), after, fetch], request_row)?
                        .collect::<rusqlite::Result<_>>()?
                }
                None => {
                    let mut st = tx.prepare_cached(&format!(
                        "SELECT {REQ_COLS} FROM requests WHERE n {cmp} ?1 ORDER BY n {dir} \
                         LIMIT ?2"
                    ))?;
                    st.query_map(params![after, fetch], request_row)?
                        .collect::<rusqlite::Result<_>>()?
                }
            };
            let next_cursor = if rows.len() > query.limit {
                rows.truncate(query.limit);
                rows.last().map(|(n, _)| n.to_string())
            } else {
                None
            };
            let seq = current_seq_tx(&tx)?;
            tx.commit()?;
            let list = RequestList {
                requests: rows.into_iter().map(|(_, r)| r).collect(),
                next_cursor,
                seq,
            };
            Ok(Written::new(list, events))
        })
        .await
    }

    async fn events_after(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.run(move |conn, _| {
            let mut st = conn.prepare_cached(
                "SELECT seq, kind, at, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![to_i64(after), limit_i64(limit)], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        time_col(row, 2)?,
                        row.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (seq, kind, at, payload) in rows {
                let kind = EventKind::parse(&kind).ok_or_else(|| {
                    StoreError::Backend(format!("unknown event kind '{kind}' at seq {seq}"))
                })?;
                let (request, grant) = if kind.as_str().starts_with("grant.") {
                    (None, Some(serde_json::from_str(&payload)?))
                } else {
                    (Some(serde_json::from_str(&payload)?), None)
                };
                out.push(Event {
                    seq: seq.max(0) as u64,
                    kind,
                    at,
                    request,
                    grant,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn grants(&self) -> StoreResult<GrantList> {
        self.run(|conn, _| {
            let tx = conn.savepoint()?;
            let grants = {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {GRANT_COLS} FROM grants WHERE revoked_at IS NULL ORDER BY n"
                ))?;
                st.query_map([], grant_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            let seq = current_seq_tx(&tx)?;
            tx.commit()?;
            Ok(GrantList { grants, seq })
        })
        .await
    }

    async fn revoke_grant(&self, id: &str, actor: &str) -> StoreResult<Written<Grant>> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.run(move |conn, now| {
            let tx = conn.savepoint()?;
            let mut g = load_grant(&tx, &id)?.ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no grant with id {id}; GET /v1/grants lists the active ones"
                ))
            })?;
            let mut events = Vec::new();
            if g.revoked_at.is_none() {
                g.revoked_at = Some(now);
                g.revoked_by = Some(actor.clone());
                tx.prepare_cached(
                    "UPDATE grants SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1",
                )?
                .execute(params![id, now.timestamp_millis(), actor])?;
                append_audit(&tx, &grant_audit(&g, "grant_revoked", &actor, now))?;
                append_event(
                    &tx,
                    EventKind::GrantRevoked,
                    now,
                    None,
                    Some(&g),
                    &mut events,
                )?;
            }
            tx.commit()?;
            Ok(Written::new(g, events))
        })
        .await
    }

    async fn audit_after(&self, after: u64, limit: usize) -> StoreResult<AuditPage> {
        self.run(move |conn, _| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {AUDIT_COLS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let mut entries = st
                .query_map(
                    params![to_i64(after), limit_i64(limit.saturating_add(1))],
                    audit_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next_after = if entries.len() > limit {
                entries.truncate(limit);
                entries.last().map(|e| e.seq)
            } else {
                None
            };
            Ok(AuditPage {
                entries,
                next_after,
            })
        })
        .await
    }

    async fn current_seq(&self) -> StoreResult<u64> {
        self.run(|conn, _| {
            let tx = conn.savepoint()?;
            let seq = current_seq_tx(&tx)?;
            tx.commit()?;
            Ok(seq)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A store whose clock the test moves by hand.
    fn store_at(start_ms: i64) -> (SqliteStore, Arc<AtomicI64>) {
        let t = Arc::new(AtomicI64::new(start_ms));
        let clock = Arc::clone(&t);
        let s = SqliteStore::open_in_memory().unwrap().with_clock(move || {
            DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst)).unwrap()
        });
        (s, t)
    }

    fn new(tool: &str, ttl: Option<u64>) -> NewRequest {
        NewRequest {
            tool: tool.into(),
            params: json!({"n": 1}),
            reason: None,
            agent: "bot".into(),
            conversation_id: Some("c1".into()),
            run_id: None,
            tool_call_id: None,
            risk: Some(Risk::High),
            ttl_seconds: ttl,
        }
    }

    fn approve(req: &ApprovalRequest, scope: Scope) -> DecisionBody {
        DecisionBody {
            outcome: crate::protocol::Verdict::Approve,
            scope,
            reason: Some("ok".into()),
            notify_agent: true,
            args_hash: req.args_hash.clone(),
        }
    }

    const T0: i64 = 1_700_000_000_000;

    #[tokio::test]
    async fn expiry_holds_on_every_operation_without_a_sweep() {
        let (s, clock) = store_at(T0);
        let r = s
            .file("agent1", new("t", Some(10)), FileOptions::default())
            .await
            .unwrap()
            .value
            .request;
        assert_eq!(r.expires_at.unwrap().timestamp_millis(), T0 + 10_000);
        clock.store(T0 + 9_999, Ordering::SeqCst);
        assert_eq!(s.get(&r.id).await.unwrap().value.status, Status::Pending);
        clock.store(T0 + 10_000, Ordering::SeqCst);
        // A decision arriving after the TTL meets an expired request, never approves it.
        let err = s.decide(&r.id, "alice", approve(&r, Scope::Once)).await;
        let Err(StoreError::Conflict { request, .. }) = err else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(request.status, Status::Expired);
        // The failed call changed nothing; the next operation expires the request and
        // reports the event (once), so the server can publish it.
        assert_eq!(s.events_after(0, 100).await.unwrap().len(), 1);
        let got = s.get(&r.id).await.unwrap();
        assert_eq!(got.value.status, Status::Expired);
        assert_eq!(got.events.len(), 1);
        assert_eq!(got.events[0].kind, EventKind::RequestExpired);
        assert_eq!(s.get(&r.id).await.unwrap().events, vec![]);
        let evs = s.events_after(0, 100).await.unwrap();
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::RequestCreated, EventKind::RequestExpired]
        );
        let audit = s.audit_after(0, 10).await.unwrap().entries;
        assert_eq!(audit.last().unwrap().action, "expired");
        assert_eq!(audit.last().unwrap().actor, SYSTEM_ACTOR);
    }

    #[tokio::test]
    async fn a_read_expires_and_reports_the_event() {
        let (s, clock) = store_at(T0);
        let r = s
            .file("agent1", new("t", Some(1)), FileOptions::default())
            .await
            .unwrap()
            .value
            .request;
        let sweep = s.expire_due().await.unwrap();
        assert_eq!(sweep.value.unwrap().timestamp_millis(), T0 + 1000);
        assert!(sweep.events.is_empty());
        clock.store(T0 + 5_000, Ordering::SeqCst);
        let got = s.get(&r.id).await.unwrap();
        assert_eq!(got.value.status, Status::Expired);
        assert_eq!(got.events.len(), 1);
        assert_eq!(got.events[0].kind, EventKind::RequestExpired);
        assert_eq!(s.expire_due().await.unwrap().value, None);
    }

    #[tokio::test]
    async fn default_ttl_applies_only_without_ttl_seconds() {
        let (s, _) = store_at(T0);
        let opts = FileOptions {
            idempotency_key: None,
            default_ttl: Some(Duration::from_secs(60)),
            policy: None,
        };
        let a = s.file("a", new("t", None), opts.clone()).await.unwrap();
        let b = s.file("a", new("t", Some(5)), opts).await.unwrap();
        assert_eq!(
            a.value.request.expires_at.unwrap().timestamp_millis(),
            T0 + 60_000
        );
        assert_eq!(
            b.value.request.expires_at.unwrap().timestamp_millis(),
            T0 + 5_000
        );
    }

    #[tokio::test]
    async fn grants_cover_only_the_filing_token_and_their_scope() {
        let (s, _) = store_at(T0);
        let opts = FileOptions::default;
        let first = s
            .file("agent1", new("t", None), opts())
            .await
            .unwrap()
            .value
            .request;
        let same_conv = s
            .file("agent1", new("t", None), opts())
            .await
            .unwrap()
            .value
            .request;
        let mut other_conv = new("t", None);
        other_conv.conversation_id = Some("c2".into());
        let other_conv = s
            .file("agent1", other_conv, opts())
            .await
            .unwrap()
            .value
            .request;
        let other_token = s
            .file("agent2", new("t", None), opts())
            .await
            .unwrap()
            .value
            .request;
        let other_tool = s
            .file("agent1", new("u", None), opts())
            .await
            .unwrap()
            .value
            .request;

        let w = s
            .decide(&first.id, "alice", approve(&first, Scope::Conversation))
            .await
            .unwrap();
        let kinds: Vec<_> = w.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::RequestDecided,
                EventKind::GrantCreated,
                EventKind::RequestDecided
            ]
        );
        let grant_id = w.value.decision.as_ref().unwrap().grant_id.clone().unwrap();
        let covered = w.events[2].request.as_ref().unwrap();
        assert_eq!(covered.id, same_conv.id);
        assert_eq!(
            covered.decision.as_ref().unwrap().grant_id.as_deref(),
            Some(grant_id.as_str())
        );
        assert_eq!(covered.decision.as_ref().unwrap().responder, "alice");
        for r in [&other_conv, &other_token, &other_tool] {
            assert_eq!(s.get(&r.id).await.unwrap().value.status, Status::Pending);
        }
        // A new filing in the conversation is born approved; revoking stops that.
        let born = s.file("agent1", new("t", None), opts()).await.unwrap();
        assert_eq!(born.value.request.status, Status::Approved);
        assert_eq!(born.events.len(), 1);
        let revoked = s.revoke_grant(&grant_id, "bob").await.unwrap();
        assert_eq!(revoked.value.revoked_by.as_deref(), Some("bob"));
        assert_eq!(revoked.events[0].kind, EventKind::GrantRevoked);
        let again = s.revoke_grant(&grant_id, "alice").await.unwrap();
        assert!(again.events.is_empty());
        assert_eq!(again.value.revoked_by.as_deref(), Some("bob"));
        let after = s.file("agent1", new("t", None), opts()).await.unwrap();
        assert_eq!(after.value.request.status, Status::Pending);
        assert!(s.grants().await.unwrap().grants.is_empty());
    }

    #[tokio::test]
    async fn a_file_survives_reopening_with_its_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let id = {
            let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
            let r = s
                .file("a", new("t", None), FileOptions::default())
                .await
                .unwrap();
            s.decide(
                &r.value.request.id,
                "alice",
                approve(&r.value.request, Scope::Always),
            )
            .await
            .unwrap();
            r.value.request.id
        };
        let s = SqliteStore::open(&path, Synchronous::Normal).unwrap();
        assert_eq!(s.get(&id).await.unwrap().value.status, Status::Approved);
        assert_eq!(s.current_seq().await.unwrap(), 3);
        assert_eq!(s.grants().await.unwrap().grants.len(), 1);
        let next = s
            .file("a", new("t", None), FileOptions::default())
            .await
            .unwrap();
        assert_eq!(next.events[0].seq, 4);
        assert_eq!(next.value.request.status, Status::Approved);
    }

    #[tokio::test]
    async fn foreign_and_newer_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER);")
            .unwrap();
        let err = SqliteStore::open(&foreign, Synchronous::Full).unwrap_err();
        assert!(
            format!("{err:#}").contains("not an assent database"),
            "{err:#}"
        );

        let newer = dir.path().join("newer.db");
        drop(SqliteStore::open(&newer, Synchronous::Full).unwrap());
        Connection::open(&newer)
            .unwrap()
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        let err = SqliteStore::open(&newer, Synchronous::Full).unwrap_err();
        assert!(
            format!("{err:#}").contains("newer than this assent"),
            "{err:#}"
        );

        let text = dir.path().join("text.db");
        std::fs::write(&text, "this is not sqlite, just some text padding it out").unwrap();
        assert!(SqliteStore::open(&text, Synchronous::Full).is_err());
    }

    #[tokio::test]
    async fn replays_must_be_the_same_call() {
        let (s, _) = store_at(T0);
        let mut n = new("t", None);
        n.tool_call_id = Some("call-1".into());
        let first = s
            .file("agent1", n.clone(), FileOptions::default())
            .await
            .unwrap();
        assert!(first.value.created);
        let again = s
            .file("agent1", n.clone(), FileOptions::default())
            .await
            .unwrap();
        assert!(!again.value.created);
        assert!(again.events.is_empty());
        assert_eq!(again.value.request.id, first.value.request.id);
        let mut changed = n.clone();
        changed.params = json!({"n": 2});
        assert!(matches!(
            s.file("agent1", changed, FileOptions::default()).await,
            Err(StoreError::Invalid {
                code: "idempotency_mismatch",
                ..
            })
        ));
        // Another token's tool_call_id space is its own.
        let other = s.file("agent2", n, FileOptions::default()).await.unwrap();
        assert!(other.value.created);
    }

    #[tokio::test]
    async fn list_pages_in_filing_order() {
        let (s, _) = store_at(T0);
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(
                s.file("a", new("t", None), FileOptions::default())
                    .await
                    .unwrap()
                    .value
                    .request
                    .id,
            );
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list(ListQuery {
                    status: Some(Status::Pending),
                    limit: 2,
                    cursor,
                    newest: false,
                })
                .await
                .unwrap()
                .value;
            assert_eq!(page.seq, 5);
            seen.extend(page.requests.into_iter().map(|r| r.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, ids);

        // Newest first, paged the same way.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list(ListQuery {
                    status: None,
                    limit: 2,
                    cursor,
                    newest: true,
                })
                .await
                .unwrap()
                .value;
            seen.extend(page.requests.into_iter().map(|r| r.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        ids.reverse();
        assert_eq!(seen, ids);
        assert!(matches!(
            s.list(ListQuery {
                status: None,
                limit: 2,
                cursor: Some("x".into()),
                newest: false,
            })
            .await,
            Err(StoreError::BadInput(_))
        ));
    }
}
