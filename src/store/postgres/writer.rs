//! Group commit: the writes of one instance that arrive together run in one transaction,
//! each in a savepoint of its own, and share one append and one commit.
//!
//! Why: the log's row lock orders the appends and is held through the commit's fsync, so
//! one commit per write caps a database near its fsync rate (about 400/s on this VM's
//! disk), however many clients or instances there are. A batch carries every write that
//! queued while the one before it committed, so the rate of writes grows with the load
//! instead of queueing behind the disk.
//!
//! Each write behaves as it would alone: its savepoint makes its failure (a 409, a 422, a
//! lost race) undo only its own statements, and the writes of a batch run one after
//! another on one connection, so each sees the ones before it as a later transaction
//! would. A write that waits too long for a row another transaction holds (perhaps
//! another instance's batch, waiting for one this batch holds) is taken out and run
//! first in the next batch, after this one's commit has let its locks go.

use deadpool_postgres::Transaction;
use tokio::sync::{mpsc, oneshot};

use super::fail::{Fail, PgResult};
use super::log::Op;
use super::{PgStore, grants, requests};
use crate::protocol::{ApprovalRequest, DecisionBody, Event, Grant, Identity};
use crate::store::rules::Filing;
use crate::store::{Filed, StoreResult, Written};

/// The most writes one transaction carries: enough to ride out a commit at the load of a
/// few hundred clients, few enough that a write's answer never waits behind many.
const MAX_BATCH: usize = 64;
/// How long a write in a batch waits for a row lock before it is put off to the next
/// batch (PostgreSQL's deadlock check would take its `deadlock_timeout`, 1 s).
const LOCK_WAIT: &str = "SET LOCAL lock_timeout = '50ms'";
/// Runs of a write that keeps losing races, or being put off, before it gives up.
const MAX_TRIES: u32 = 8;
/// Writes queued per instance before callers wait to queue.
const QUEUE: usize = 1024;

/// A write the writer runs.
// Made once per write and moved into the queue, never stored in bulk: boxing the filing
// would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Write {
    File(Filing),
    Decide {
        id: String,
        responder: String,
        body: DecisionBody,
    },
    Cancel {
        id: String,
        actor: Identity,
    },
    Revoke {
        id: String,
        actor: String,
    },
}

/// What a write returns.
#[derive(Debug)]
pub(super) enum Wrote {
    Filed(Filed),
    Request(ApprovalRequest),
    Grant(Grant),
}

type Answer = oneshot::Sender<StoreResult<Written<Wrote>>>;

struct Job {
    write: Write,
    answer: Answer,
    tries: u32,
}

/// The sending side of an instance's writer.
#[derive(Clone)]
pub(super) struct Writer(mpsc::Sender<Job>);

impl Writer {
    /// Starts the writer of `store` (which it holds: it stops when every [`Writer`] is
    /// dropped).
    pub fn start(store: PgStore) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Writer(tx)
    }

    /// Runs `write` in the next batch; its value and the events it appended.
    pub async fn write(&self, write: Write) -> StoreResult<Written<Wrote>> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            write,
            answer,
            tries: 0,
        };
        if self.0.send(job).await.is_err() {
            return Err(Fail::unavailable("the writer has stopped").into_store());
        }
        answered
            .await
            .map_err(|_| Fail::unavailable("the writer stopped before answering").into_store())?
    }
}

async fn run(store: PgStore, mut rx: mpsc::Receiver<Job>) {
    // Writes put off by the batch before (a lock they waited for), run first.
    let mut carried: Vec<Job> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut carried);
        if batch.is_empty() {
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        carried = run_batch(&store, batch).await;
    }
}

/// What one write in a batch came to.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// Answered: its value and the range of the batch's events that are its own, or its
    /// error (its statements undone).
    Done(Result<(Wrote, usize), crate::store::StoreError>),
    /// Undone, to run again in the next batch: it lost a race, or waited too long for a
    /// lock.
    PutOff(String),
}

/// Runs `batch` in one transaction and answers each job; returns the jobs put off to the
/// next batch.
async fn run_batch(store: &PgStore, batch: Vec<Job>) -> Vec<Job> {
    let now = store.now();
    let outcome = async {
        let mut client = store.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(LOCK_WAIT).await?;
        let mut op = Op::new(&tx, now, &store.outbox);
        let mut steps = Vec::with_capacity(batch.len());
        let mut open = false;
        for job in &batch {
            steps.push(run_job(&tx, &mut op, &job.write, &mut open).await?);
        }
        let _turn = match op.appends() {
            true => Some(store.turn.lock().await),
            false => None,
        };
        let events = op.finish().await?;
        tx.commit().await?;
        PgResult::Ok((steps, events))
    }
    .await;
    let (steps, events) = match outcome {
        Ok(v) => v,
        // Nothing of the batch committed: each write runs again, or fails alike.
        Err(Fail::Retry(why)) => {
            return batch
                .into_iter()
                .filter_map(|job| again(job, &why))
                .collect();
        }
        Err(Fail::Store(e)) => {
            for job in batch {
                let _ = job.answer.send(Err(e.clone()));
            }
            return Vec::new();
        }
    };
    let mut events = events.into_iter();
    let mut later = Vec::new();
    for (job, step) in batch.into_iter().zip(steps) {
        match step {
            Step::Done(Ok((value, n))) => {
                let own: Vec<Event> = events.by_ref().take(n).collect();
                let _ = job.answer.send(Ok(Written::new(value, own)));
            }
            Step::Done(Err(e)) => {
                let _ = job.answer.send(Err(e));
            }
            Step::PutOff(why) => later.extend(again(job, &why)),
        }
    }
    later
}

/// `job` to run again after losing a race (`why`), or answered with the error once it
/// has lost too often.
fn again(mut job: Job, why: &str) -> Option<Job> {
    job.tries += 1;
    if job.tries < MAX_TRIES {
        return Some(job);
    }
    let _ = job
        .answer
        .send(Err(Fail::Retry(why.to_owned()).into_store()));
    None
}

/// Runs one write in a savepoint of the batch's transaction `tx`, recording into `op`.
/// `open`: the savepoint of the write before is still open (kept, to release it in the
/// same round trip that opens this one; the commit releases the last).
async fn run_job(
    tx: &Transaction<'_>,
    op: &mut Op<'_>,
    write: &Write,
    open: &mut bool,
) -> PgResult<Step> {
    tx.batch_execute(match *open {
        true => "RELEASE SAVEPOINT write; SAVEPOINT write",
        false => "SAVEPOINT write",
    })
    .await?;
    *open = true;
    let mark = op.mark();
    let swept = op.swept;
    let result = match write {
        Write::File(f) => requests::file(op, f.clone()).await.map(Wrote::Filed),
        Write::Decide {
            id,
            responder,
            body,
        } => requests::decide(op, id, responder, body.clone())
            .await
            .map(Wrote::Request),
        Write::Cancel { id, actor } => requests::cancel(op, id, actor).await.map(Wrote::Request),
        Write::Revoke { id, actor } => grants::revoke(op, id, actor).await.map(Wrote::Grant),
    };
    match result {
        Ok(value) => Ok(Step::Done(Ok((value, op.recorded_since(mark))))),
        Err(e) => {
            // A failed statement leaves the transaction unusable until this.
            tx.batch_execute("ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write")
                .await?;
            *open = false;
            op.undo_since(mark);
            // Its expiries were undone with it: the next write ends what is due.
            op.swept = swept;
            Ok(match e {
                Fail::Store(e) => Step::Done(Err(e)),
                Fail::Retry(why) => Step::PutOff(why),
            })
        }
    }
}
