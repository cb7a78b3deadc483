//! The one connection and the thread that owns it: operations run one after the other,
//! grouped into transactions (group commit), and each is answered after its commit.
//!
//! One connection is enough here: SQLite serialises writers anyway, and running the
//! operations one after the other on one thread is what makes each atomic with no retry
//! logic. The writer takes every operation queued while it was busy into one transaction:
//! each is its own savepoint, so a failed one changes nothing and the others go on, and
//! one fsync covers them all. Nobody gets an answer before the commit.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::store::rules::truncate_millis;
use crate::store::{StoreError, StoreResult};

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What an operation hands back to the writer: its answer, to send once the transaction
/// it ran in is committed (or to replace by the commit's error).
type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// An operation queued for the writer thread.
type Job = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;

/// Operations committed together at most: bounds how long the first one waits.
const MAX_GROUP: usize = 64;

/// A handle on the writer thread; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    thread: Arc<Thread>,
    clock: Clock,
}

/// The writer thread's queue and the thread itself. Dropping the last handle closes the
/// queue and waits for the thread to finish the queued operations and close the
/// connection, so a dropped store has let go of its file (and its lock) when the drop
/// returns, and the next open of that file finds it free.
struct Thread {
    jobs: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(h) = self.handle.take()
            && h.thread().id() != std::thread::current().id()
        {
            let _ = h.join();
        }
    }
}

impl Writer {
    /// Hands `conn` to a new writer thread, with the lock (if any) on the database file,
    /// released after the connection is closed.
    pub(super) fn spawn(conn: Connection, lock: Option<File>) -> anyhow::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("assent-sqlite".to_owned())
            .spawn(move || {
                write_in_groups(conn, queue);
                drop(lock);
            })
            .context("cannot start the database thread")?;
        Ok(Writer {
            thread: Arc::new(Thread {
                jobs: Some(jobs),
                handle: Some(handle),
            }),
            clock: Arc::new(Utc::now),
        })
    }

    /// Replaces the clock (tests drive expiry with it).
    #[cfg(test)]
    pub(super) fn set_clock(&mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        self.clock = Arc::new(clock);
    }

    /// Runs `f` on the connection, on the writer thread, and answers once its transaction
    /// is committed. `now` is read when the operation runs, so operations see time
    /// advance in the order they commit.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let clock = Arc::clone(&self.clock);
        let job: Job = Box::new(move |conn| {
            let now = truncate_millis(clock());
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
        let stopped = || StoreError::Backend("the database thread has stopped".to_owned());
        let jobs = self.thread.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The writer thread: runs queued operations in groups, one transaction per group.
fn write_in_groups(mut conn: Connection, queue: mpsc::Receiver<Job>) {
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
