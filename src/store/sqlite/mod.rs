//! The SQLite [`Store`]: one connection in WAL mode owned by one writer thread
//! (`writer.rs`); every operation is a savepoint ("expire, check, write, append events",
//! `op.rs`) inside a transaction that is committed before the operation returns. This
//! file only wires the trait to the operations on the rows of requests, grants and the
//! logs; what those operations may do is decided by [`super::rules`].

mod deliveries;
mod grants;
mod keys;
#[cfg(test)]
mod life_tests;
mod lock;
mod log;
mod op;
mod requests;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

pub use schema::SCHEMA_VERSION;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::delivery::{AttemptResult, Claimed, DeliveryQuery};
use super::rules::{Filing, Outbox};
use super::{
    Compacted, FileOptions, Filed, ListQuery, Retention, Store, StoreError, StoreResult, StoredKey,
    Written,
};
use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, DeliveryList, Event, Grant, GrantList, Identity,
    NewRequest, RequestList, Risk,
};
use op::Op;
use writer::Writer;

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

#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    /// Read once at open: it never changes.
    database_id: Arc<str>,
    /// The webhooks each appended event is a delivery for (none unless configured).
    outbox: Arc<Outbox>,
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
    /// Opens (creating if needed) the database file at `path`, which no other store may
    /// hold open meanwhile (see `lock.rs`).
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
        let lock = lock::acquire(path)?;
        let conn = Connection::open(path).with_context(|| {
            format!(
                "cannot open the database file {} (is the directory writable?)",
                path.display()
            )
        })?;
        Self::init(conn, sync, Some(lock)).with_context(|| {
            format!(
                "cannot use {} as the assent database (pass another --db)",
                path.display()
            )
        })
    }

    /// A throwaway store that keeps nothing after the process ends.
    pub fn open_in_memory() -> anyhow::Result<SqliteStore> {
        let conn = Connection::open_in_memory().context("cannot open an in-memory database")?;
        Self::init(conn, Synchronous::Normal, None)
    }

    /// `lock`: the lock of a database file (None: in memory).
    fn init(
        mut conn: Connection,
        sync: Synchronous,
        lock: Option<File>,
    ) -> anyhow::Result<SqliteStore> {
        conn.busy_timeout(Duration::from_secs(5))?;
        if lock.is_some() {
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
        let database_id = schema::migrate(&mut conn)?;
        // Whoever held a lease on a delivery held this file, and has let go of it.
        deliveries::release_leases(&conn)?;
        Ok(SqliteStore {
            writer: Writer::spawn(conn, lock)?,
            database_id: database_id.into(),
            outbox: Arc::new(Outbox::default()),
        })
    }

    /// The store, writing a delivery of each event it appends for every webhook `outbox`
    /// names: given once, at open, before the store is used.
    pub fn with_outbox(mut self, outbox: Outbox) -> SqliteStore {
        self.outbox = Arc::new(outbox);
        self
    }

    /// Replaces the clock (tests drive expiry with it).
    #[cfg(test)]
    fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.writer.set_clock(clock);
        self
    }

    /// Runs `f` as one operation in its savepoint, on the writer thread.
    async fn op<T, F>(&self, f: F) -> StoreResult<Written<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Op) -> StoreResult<T> + Send + 'static,
    {
        let outbox = Arc::clone(&self.outbox);
        self.writer
            .run(move |conn, now| op::in_savepoint(conn, now, &outbox, f))
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn file(
        &self,
        filer: &str,
        new: NewRequest,
        opts: FileOptions,
    ) -> StoreResult<Written<Filed>> {
        let filing = Filing::check(filer, new, opts)?;
        self.op(move |op| requests::file(op, filing)).await
    }

    async fn decide(
        &self,
        id: &str,
        responder: &str,
        body: DecisionBody,
    ) -> StoreResult<Written<ApprovalRequest>> {
        let (id, responder) = (id.to_owned(), responder.to_owned());
        self.op(move |op| requests::decide(op, &id, &responder, body))
            .await
    }

    async fn cancel(&self, id: &str, actor: &Identity) -> StoreResult<Written<ApprovalRequest>> {
        let (id, actor) = (id.to_owned(), actor.clone());
        self.op(move |op| requests::cancel(op, &id, &actor)).await
    }

    async fn expire_due(&self) -> StoreResult<Written<Option<DateTime<Utc>>>> {
        self.op(requests::sweep).await
    }

    async fn get(&self, id: &str) -> StoreResult<Written<ApprovalRequest>> {
        let id = id.to_owned();
        self.op(move |op| requests::get(op, &id)).await
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Written<RequestList>> {
        let start = requests::list_start(&query)?;
        let mut page = self.op(move |op| requests::list(op, query, start)).await?;
        page.value.database_id = Some(self.database_id.to_string());
        Ok(page)
    }

    async fn events_after(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.writer
            .run(move |conn, _| log::events_after(conn, after, limit))
            .await
    }

    async fn grants(&self) -> StoreResult<GrantList> {
        let mut list = self.op(grants::active).await?.value;
        list.database_id = Some(self.database_id.to_string());
        Ok(list)
    }

    async fn revoke_grant(&self, id: &str, actor: &str) -> StoreResult<Written<Grant>> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.op(move |op| grants::revoke(op, &id, &actor)).await
    }

    async fn audit_after(&self, after: u64, limit: usize) -> StoreResult<AuditPage> {
        self.writer
            .run(move |conn, _| log::audit_after(conn, after, limit))
            .await
    }

    async fn current_seq(&self) -> StoreResult<u64> {
        Ok(self.op(|op| log::current_seq(op.tx)).await?.value)
    }

    fn database_id(&self) -> &str {
        &self.database_id
    }

    async fn pending_counts(&self) -> StoreResult<Vec<(Option<Risk>, u64)>> {
        self.writer
            .run(|conn, now| requests::pending_counts(conn, now))
            .await
    }

    async fn compact(&self, keep: Retention, batch: usize) -> StoreResult<Compacted> {
        let cutoff = |now: DateTime<Utc>, keep: Option<Duration>| {
            keep.and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| now.checked_sub_signed(d))
        };
        let step = self
            .op(move |op| {
                let (events, audit) = (cutoff(op.now, keep.events), cutoff(op.now, keep.audit));
                let mut done = log::compact(op.tx, events, audit, batch)?;
                // Finished deliveries are kept as long as the events they carried.
                if let Some(before) = events {
                    done.more |= deliveries::compact(op.tx, before, batch)?;
                }
                Ok(done)
            })
            .await?;
        Ok(step.value)
    }

    async fn compacted_through(&self) -> StoreResult<u64> {
        Ok(self.op(|op| log::compacted_through(op.tx)).await?.value)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.writer.run(|conn, _| keys::all(conn)).await
    }

    async fn add_signing_key(&self, key: StoredKey) -> StoreResult<()> {
        self.writer.run(move |conn, _| keys::add(conn, &key)).await
    }

    async fn claim_deliveries(
        &self,
        webhook: &str,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Claimed> {
        let webhook = webhook.to_owned();
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        self.writer
            .run(move |conn, now| {
                let until = now.checked_add_signed(lease).unwrap_or(now);
                let sp = conn.savepoint()?;
                let claimed = deliveries::claim(&sp, now, &webhook, limit, until)?;
                sp.commit()?;
                Ok(claimed)
            })
            .await
    }

    async fn record_attempts(&self, webhook: &str, results: Vec<AttemptResult>) -> StoreResult<()> {
        let webhook = webhook.to_owned();
        self.writer
            .run(move |conn, _| {
                // One savepoint: the rows and the failing mark change together.
                let sp = conn.savepoint()?;
                deliveries::record(&sp, &webhook, &results)?;
                sp.commit()?;
                Ok(())
            })
            .await
    }

    async fn deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryList> {
        let database_id = Arc::clone(&self.database_id);
        self.writer
            .run(move |conn, _| deliveries::list(conn, &database_id, &query))
            .await
    }

    async fn delivery_depth(&self) -> StoreResult<Vec<(String, u64)>> {
        self.writer.run(|conn, _| deliveries::depth(conn)).await
    }
}
