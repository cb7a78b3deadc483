//! Group commit: the writes of one instance that arrive together run in one transaction,
//! each in a savepoint of its own, and share one append and one commit.
//!
//! Why: the log's row lock orders the appends and is held through the commit's fsync, so
//! one commit per write caps a database near its fsync rate (about 400/s on this VM's
//! disk), however many clients or instances there are. A batch carries every write that
//! queued while the one before it committed, so the rate of writes grows with the load
//! instead of queueing behind the disk.
//!
//! Each write behaves as it would alone. Writes that touch rows no other write of the
//! batch can touch (a filing of one agent's tool, a `once` decision or a cancel of one
//! request) run side by side in lanes, one lane per such key, their statements pipelined
//! on the connection: a batch then costs the round trips of its longest lane, not of all
//! its writes one after another. Their failures (a 409, a 422) happen before they write
//! anything, so a failed one leaves nothing to undo. A write that may touch rows of
//! others (a grant, a revocation) runs alone, first, in a savepoint of its own, so its
//! failure undoes only its own statements; so does every write of a batch whose lanes
//! met a failing statement (which aborts the whole transaction): that batch is run
//! again, each write alone. A write that waits too long for a row another transaction
//! holds (perhaps another instance's batch, waiting for one this batch holds) is taken
//! out and run first in the next batch, after this one's commit has let its locks go.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use tokio::sync::{mpsc, oneshot};

use super::fail::{Fail, PgResult};
use super::log::Op;
use super::{PgStore, grants, requests};
use crate::protocol::{ApprovalRequest, DecisionBody, Event, Grant, Identity, Scope};
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

/// The rows a write may touch that no write with another key touches: writes with
/// different keys may run side by side in one transaction.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Lane<'a> {
    /// The calls of one filer's agent's tool: its grants' use counts, and the filings
    /// that may replay one another.
    Calls(&'a str, &'a str, &'a str),
    /// One request.
    Request(&'a str),
}

impl Write {
    /// Its lane, or None for a write that runs alone: one that may make a grant (which
    /// approves other pending requests and is counted by filings) or revoke one.
    fn lane(&self) -> Option<Lane<'_>> {
        match self {
            Write::File(f) => Some(Lane::Calls(&f.filer, &f.new.agent, &f.new.tool)),
            Write::Decide { id, body, .. } if body.scope == Scope::Once => Some(Lane::Request(id)),
            Write::Decide { .. } | Write::Revoke { .. } => None,
            Write::Cancel { id, .. } => Some(Lane::Request(id)),
        }
    }
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
    /// Runs in a savepoint of its own, not in a lane: it was put off, or its last batch
    /// was aborted.
    alone: bool,
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
            alone: false,
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
    /// error (its statements undone, or none made).
    Done(Result<(Wrote, usize), crate::store::StoreError>),
    /// Undone, to run again in the next batch: it lost a race, or waited too long for a
    /// lock.
    PutOff(String),
}

/// What a batch's transaction came to.
enum Batch {
    /// Committed: a step for each job, in the order of the jobs, and the events appended.
    Committed(Vec<Step>, Vec<Event>),
    /// A statement of a lane failed, which aborted the transaction: nothing committed
    /// (the text says why).
    Aborted(String),
}

/// Runs `batch` in one transaction and answers each job; returns the jobs put off to the
/// next batch.
async fn run_batch(store: &PgStore, batch: Vec<Job>) -> Vec<Job> {
    let now = store.now();
    // The writes that run alone come first, so that those in lanes see a grant one of
    // them made, as they would a grant committed before them.
    let (alone, lanes): (Vec<Job>, Vec<Job>) = batch
        .into_iter()
        .partition(|job| job.alone || job.write.lane().is_none());
    let outcome = async {
        let mut client = store.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(LOCK_WAIT).await?;
        let mut op = Op::new(&tx, now, &store.outbox);
        let mut steps = Vec::with_capacity(alone.len() + lanes.len());
        let mut open = false;
        for job in &alone {
            steps.push(run_job(&tx, &mut op, &job.write, &mut open).await?);
        }
        match run_lanes(&tx, &mut op, &lanes).await? {
            Ok(more) => steps.extend(more),
            Err(why) => return Ok(Batch::Aborted(why)),
        }
        let _turn = match op.appends() {
            true => Some(store.turn.lock().await),
            false => None,
        };
        let events = op.finish().await?;
        tx.commit().await?;
        PgResult::Ok(Batch::Committed(steps, events))
    }
    .await;
    let jobs = alone.into_iter().chain(lanes);
    let (steps, events) = match outcome {
        Ok(Batch::Committed(steps, events)) => (steps, events),
        // Nothing of the batch committed: each write runs again, alone, or fails alike.
        Err(Fail::Retry(why)) | Ok(Batch::Aborted(why)) => {
            return jobs.filter_map(|job| again(job, &why)).collect();
        }
        Err(Fail::Store(e)) => {
            for job in jobs {
                let _ = job.answer.send(Err(e.clone()));
            }
            return Vec::new();
        }
    };
    let mut events = events.into_iter();
    let mut later = Vec::new();
    for (job, step) in jobs.zip(steps) {
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

/// `job` to run again, alone, after losing a race (`why`), or answered with the error
/// once it has lost too often.
fn again(mut job: Job, why: &str) -> Option<Job> {
    job.tries += 1;
    job.alone = true;
    if job.tries < MAX_TRIES {
        return Some(job);
    }
    let _ = job
        .answer
        .send(Err(Fail::Retry(why.to_owned()).into_store()));
    None
}

/// Runs `write`, recording into `op`.
async fn perform(op: &mut Op<'_>, write: &Write) -> PgResult<Wrote> {
    match write {
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
    }
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
    match perform(op, write).await {
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

/// Runs `jobs` (each with a [`Lane`]) in lanes side by side, the jobs of one lane one
/// after another, recording into `op` in the order of `jobs`: their steps in that order,
/// or (as the error) why the transaction was aborted.
async fn run_lanes(
    tx: &Transaction<'_>,
    op: &mut Op<'_>,
    jobs: &[Job],
) -> PgResult<Result<Vec<Step>, String>> {
    if jobs.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    // What is due ends once, before any of them (each of their operations would sweep
    // first).
    requests::expire_due(op).await?;
    let mut keys: HashMap<Lane<'_>, usize> = HashMap::new();
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(lane) = job.write.lane() else {
            continue;
        };
        let n = *keys.entry(lane).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[n].push(i);
    }
    let proto = op.fork();
    let proto = &proto;
    let ran = futures::future::join_all(lanes.iter().map(|lane| async move {
        let mut out = Vec::with_capacity(lane.len());
        for &i in lane {
            let mut own = proto.fork();
            let result = perform(&mut own, &jobs[i].write).await;
            out.push((i, result, own));
        }
        out
    }))
    .await;
    let mut ran: Vec<_> = ran.into_iter().flatten().collect();
    ran.sort_unstable_by_key(|(i, _, _)| *i);
    let mut failed = None;
    for (_, result, own) in &ran {
        if let Err(e) = result {
            // A failure after a write would leave that write in place: abort. (None of
            // the operations fails after writing but for a statement of its own.)
            if own.appends() {
                return Ok(Err("a write failed after writing".to_owned()));
            }
            match e {
                // Only a failed statement loses a race, and it aborted the transaction.
                Fail::Retry(why) => return Ok(Err(why.clone())),
                Fail::Store(e) => failed = Some(e.to_string()),
            }
        }
    }
    // A failed statement aborted the whole transaction, and with it every lane's work;
    // a refusal (a 409, a 422) made none and leaves it usable.
    if let Some(why) = failed
        && tx.batch_execute("SELECT 1").await.is_err()
    {
        return Ok(Err(why));
    }
    let steps = ran
        .into_iter()
        .map(|(_, result, own)| match result {
            Ok(value) => Step::Done(Ok((value, op.absorb(own)))),
            Err(Fail::Store(e)) => Step::Done(Err(e)),
            Err(Fail::Retry(why)) => Step::PutOff(why),
        })
        .collect();
    Ok(Ok(steps))
}
