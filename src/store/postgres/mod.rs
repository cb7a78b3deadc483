//! The PostgreSQL [`Store`], for several `assent serve` instances on one database: a pool
//! of connections (deadpool-postgres over tokio-postgres), each operation READ COMMITTED
//! ("expire, check, write, append", as SQLite's) and committed before it returns. Reads
//! and the sweep run in a transaction of their own; filings, decisions, cancels and
//! revocations are group-committed by the instance's writer (`writer.rs`), each in a
//! savepoint of a shared transaction. Rows an operation changes are locked before it
//! decides on them; appends are ordered by the log's counter row (`log.rs`); an operation
//! that lost a race to another instance (a unique index, a deadlock, a lock wait past its
//! timeout) is run again. What the operations may do is decided by [`super::rules`]; this
//! store only keeps rows.

mod deliveries;
mod fail;
mod grants;
mod keys;
mod log;
mod requests;
mod rows;
mod schema;
mod writer;

pub use log::CHANNEL;
pub use schema::SCHEMA_VERSION;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::delivery::{AttemptResult, Claimed, DeliveryQuery};
use super::rules::{Filing, Outbox, truncate_millis};
use super::{
    Compacted, FileOptions, Filed, ListQuery, Retention, Store, StoreError, StoreResult, StoredKey,
    Written,
};
use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, DeliveryList, Event, Grant, GrantList, Identity,
    NewRequest, RequestList,
};
use fail::{Fail, PgResult};
use log::Op;
use writer::{Write, Writer, Wrote};

/// How long an operation waits for a connection, a connection for PostgreSQL to answer,
/// and a statement to run: past these a client gets 503, not a hang.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const STATEMENT_TIMEOUT_MS: u32 = 10_000;
/// Connections per instance: enough for the HTTP workers, few enough that several
/// instances fit under PostgreSQL's default max_connections (100).
const POOL_SIZE: usize = 16;
/// Runs of an operation that keeps losing races before it gives up.
const MAX_TRIES: u32 = 8;

/// Whether `db` (a `--db` or `[server] database_url` value) names a PostgreSQL database.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with its password, if any, replaced by `***`: what logs and errors show.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((auth, host)) if !auth.contains('/') => (auth, host),
        _ => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    database_id: Arc<str>,
    clock: Clock,
    /// The webhooks each appended event is a delivery for (none unless configured).
    outbox: Arc<Outbox>,
    /// Held by the one operation of this instance that is appending and committing. The
    /// log's row lock already orders the appends, and holds from the append through the
    /// commit's fsync; with 32 clients, up to 16 backends of each instance queued on it
    /// and the 2 cores went to their wake-ups and the pool's waits (259 appends/s
    /// against 495/s with 4 clients). Queued here instead, each instance has at most one
    /// backend waiting for the row lock.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The group-committing writer of filings, decisions, cancels and revocations
    /// (`writer.rs`); None inside the writer's own copy.
    writer: Option<Writer>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Runs `$body` (an async expression using `$op`, of type `PgResult<T>`) as one
/// transaction, again when it lost a race, and answers with its value and events.
macro_rules! transact {
    ($store:expr, |$op:ident| $body:expr) => {{
        let store = $store;
        let mut tries = 0;
        loop {
            tries += 1;
            let run: PgResult<_> = async {
                let mut client = store.pool.get().await?;
                let tx = client.transaction().await?;
                #[allow(unused_mut)]
                let mut $op = Op::new(&tx, store.now(), &store.outbox);
                let value = $body?;
                // One appender of this instance at a time waits for the log's lock; the
                // rest wait here (see `PgStore::turn`).
                let _turn = match $op.appends() {
                    true => Some(store.turn.lock().await),
                    false => None,
                };
                let events = $op.finish().await?;
                tx.commit().await?;
                Ok(Written::new(value, events))
            }
            .await;
            match run {
                Err(Fail::Retry(_)) if tries < MAX_TRIES => continue,
                other => break other.map_err(Fail::into_store),
            }
        }
    }};
}

impl PgStore {
    /// Connects to the database at `url` (password from `password`, else the URL or
    /// PGPASSWORD as libpq would), migrating its schema; fails with a message naming
    /// the URL without its password.
    pub async fn open(url: &str, password: Option<&str>) -> anyhow::Result<PgStore> {
        let shown = redact(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("cannot read the database URL {shown}"))?;
        match password {
            Some(p) => {
                config.password(p);
            }
            None if config.get_password().is_none() => {
                if let Ok(p) = std::env::var("PGPASSWORD") {
                    config.password(p);
                }
            }
            None => {}
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("assent")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        let mgr = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_FOR_CONNECTION))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("cannot set up the PostgreSQL connection pool")?;
        let mut client = pool.get().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to PostgreSQL at {shown}: {e} (is the server running, and \
                 the password in PGPASSWORD or [server] database_password_file?)"
            )
        })?;
        let database_id = schema::migrate(&mut client)
            .await
            .with_context(|| format!("cannot use {shown} as the assent database"))?;
        drop(client);
        Ok(PgStore {
            pool,
            config,
            database_id: database_id.into(),
            clock: Arc::new(Utc::now),
            outbox: Arc::new(Outbox::default()),
            turn: Arc::default(),
            writer: None,
        }
        .with_writer())
    }

    /// The store with a writer of its own, started now, that sees it as it is.
    fn with_writer(mut self) -> PgStore {
        let mut inner = self.clone();
        inner.writer = None;
        self.writer = Some(Writer::start(inner));
        self
    }

    /// Runs `write` through the writer, in the next batch.
    async fn write(&self, write: Write) -> StoreResult<Written<Wrote>> {
        match &self.writer {
            Some(w) => w.write(write).await,
            None => Err(StoreError::Backend(
                "postgres: a write reached the writer's own copy of the store".into(),
            )),
        }
    }

    /// The store, writing a delivery of each event it appends for every webhook `outbox`
    /// names: given once, at open, before the store is used.
    pub fn with_outbox(mut self, outbox: Outbox) -> PgStore {
        self.outbox = Arc::new(outbox);
        // The writer appends, so it must see the outbox too: a new one replaces it (the
        // old one stops when its sender is dropped here).
        self.with_writer()
    }

    fn now(&self) -> DateTime<Utc> {
        truncate_millis((self.clock)())
    }

    /// A connection of its own that LISTENs for appended events: [`Changes::next`]
    /// answers once per commit that appended some, and None once the connection is lost.
    pub async fn listen(&self) -> StoreResult<Changes> {
        let (client, mut conn) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| Fail::from(e).into_store())?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(Ok(msg)) = messages.next().await {
                if let AsyncMessage::Notification(n) = msg
                    && tx.send(n.payload().parse().ok()).is_err()
                {
                    break;
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| Fail::from(e).into_store())?;
        Ok(Changes {
            rx,
            _client: client,
        })
    }
}

/// The notifications of one LISTEN connection (which closes when this is dropped).
pub struct Changes {
    rx: mpsc::UnboundedReceiver<Option<u64>>,
    _client: tokio_postgres::Client,
}

impl Changes {
    /// The next commit's last seq (None inside: not readable); None: the connection is lost.
    pub async fn next(&mut self) -> Option<Option<u64>> {
        self.rx.recv().await
    }
}

/// The writer answered a write with another kind of value: a bug, never data.
fn mismatch() -> StoreError {
    StoreError::Backend("postgres: the writer answered with another kind of value".into())
}

fn request_of(w: Written<Wrote>) -> StoreResult<Written<ApprovalRequest>> {
    match w {
        Written {
            value: Wrote::Request(r),
            events,
        } => Ok(Written::new(r, events)),
        _ => Err(mismatch()),
    }
}

async fn read<T>(
    store: &PgStore,
    f: impl AsyncFnOnce(&deadpool_postgres::Client) -> PgResult<T>,
) -> StoreResult<T> {
    let run = async {
        let client = store.pool.get().await?;
        f(&client).await
    };
    run.await.map_err(Fail::into_store)
}

#[async_trait]
impl Store for PgStore {
    async fn file(
        &self,
        filer: &str,
        new: NewRequest,
        opts: FileOptions,
    ) -> StoreResult<Written<Filed>> {
        let filing = Filing::check(filer, new, opts)?;
        match self.write(Write::File(filing)).await? {
            Written {
                value: Wrote::Filed(f),
                events,
            } => Ok(Written::new(f, events)),
            _ => Err(mismatch()),
        }
    }

    async fn decide(
        &self,
        id: &str,
        responder: &str,
        body: DecisionBody,
    ) -> StoreResult<Written<ApprovalRequest>> {
        let write = Write::Decide {
            id: id.to_owned(),
            responder: responder.to_owned(),
            body,
        };
        request_of(self.write(write).await?)
    }

    async fn cancel(&self, id: &str, actor: &Identity) -> StoreResult<Written<ApprovalRequest>> {
        let write = Write::Cancel {
            id: id.to_owned(),
            actor: actor.clone(),
        };
        request_of(self.write(write).await?)
    }

    async fn expire_due(&self) -> StoreResult<Written<Option<DateTime<Utc>>>> {
        transact!(self, |op| requests::sweep(&mut op).await)
    }

    async fn get(&self, id: &str) -> StoreResult<Written<ApprovalRequest>> {
        transact!(self, |op| requests::get(&mut op, id).await)
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Written<RequestList>> {
        let start = requests::list_start(&query)?;
        let mut page = transact!(self, |op| requests::list(&mut op, query.clone(), start)
            .await)?;
        page.value.database_id = Some(self.database_id.to_string());
        Ok(page)
    }

    async fn events_after(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        read(self, async |c| log::events_after(c, after, limit).await).await
    }

    async fn grants(&self) -> StoreResult<GrantList> {
        let mut list = transact!(self, |op| grants::active(&mut op).await)?.value;
        list.database_id = Some(self.database_id.to_string());
        Ok(list)
    }

    async fn revoke_grant(&self, id: &str, actor: &str) -> StoreResult<Written<Grant>> {
        let write = Write::Revoke {
            id: id.to_owned(),
            actor: actor.to_owned(),
        };
        match self.write(write).await? {
            Written {
                value: Wrote::Grant(g),
                events,
            } => Ok(Written::new(g, events)),
            _ => Err(mismatch()),
        }
    }

    async fn audit_after(&self, after: u64, limit: usize) -> StoreResult<AuditPage> {
        read(self, async |c| log::audit_after(c, after, limit).await).await
    }

    async fn current_seq(&self) -> StoreResult<u64> {
        read(self, async |c| {
            let seq: i64 = c
                .query_one("SELECT last_seq FROM meta", &[])
                .await?
                .try_get(0)?;
            Ok(seq.max(0) as u64)
        })
        .await
    }

    fn database_id(&self) -> &str {
        &self.database_id
    }

    async fn compact(&self, keep: Retention, batch: usize) -> StoreResult<Compacted> {
        let cutoff = |now: DateTime<Utc>, keep: Option<Duration>| {
            keep.and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| now.checked_sub_signed(d))
        };
        let step = transact!(self, |op| {
            let (events, audit) = (cutoff(op.now, keep.events), cutoff(op.now, keep.audit));
            let mut done = log::compact(op.tx, events, audit, batch).await?;
            // Finished deliveries are kept as long as the events they carried.
            if let Some(before) = events {
                done.more |= deliveries::compact(op.tx, before, batch).await?;
            }
            PgResult::Ok(done)
        })?;
        Ok(step.value)
    }

    async fn compacted_through(&self) -> StoreResult<u64> {
        read(self, async |c| log::compacted_through(c).await).await
    }

    async fn pending_counts(&self) -> StoreResult<Vec<(Option<crate::protocol::Risk>, u64)>> {
        let now = Utc::now().timestamp_millis();
        read(self, async |c| requests::pending_counts(c, now).await).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        read(self, async |c| keys::all(c).await).await
    }

    async fn add_signing_key(&self, key: StoredKey) -> StoreResult<()> {
        read(self, async |c| keys::add(c, &key).await).await
    }

    async fn claim_deliveries(
        &self,
        webhook: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> StoreResult<Claimed> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let claimed = transact!(self, |op| {
            let until = op.now.checked_add_signed(lease).unwrap_or(op.now);
            deliveries::claim(op.tx, op.now, webhook, limit, until).await
        })?;
        Ok(claimed.value)
    }

    async fn record_attempts(&self, webhook: &str, results: Vec<AttemptResult>) -> StoreResult<()> {
        transact!(self, |op| deliveries::record(op.tx, webhook, &results)
            .await)?;
        Ok(())
    }

    async fn deliveries(&self, query: DeliveryQuery) -> StoreResult<DeliveryList> {
        read(self, async |c| {
            deliveries::list(c, &self.database_id, &query).await
        })
        .await
    }

    async fn delivery_depth(&self) -> StoreResult<Vec<(String, u64)>> {
        read(self, async |c| deliveries::depth(c).await).await
    }
}
