//! One operation's transaction and what it appends ([`Op`]), and the event and audit
//! logs: appending, reading back by sequence number, compacting.
//!
//! Sequence numbers must commit in order, so that a reader that has seen event `n` has
//! seen every event before it: a stream never skips one that commits late. An operation
//! therefore keeps its audit entries and events in memory and appends them last, in one
//! pipelined round trip that first bumps `meta.last_seq`: that row's lock, held to the
//! commit, orders the appending transactions (and only those: a read that expires
//! nothing takes no lock). The same round trip sends the NOTIFY that wakes the log tails
//! of the other instances (`src/server/tail.rs`), delivered by PostgreSQL at the commit.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::fail::{Fail, PgResult};
use super::rows::{AUDIT_COLS, audit_row, limit_i64, time, to_i64};
use crate::protocol::{ApprovalRequest, AuditEntry, AuditPage, Event, EventKind, Grant, Scope};
use crate::store::Compacted;
use crate::store::rules::{self, GrantAction, Outbox, RequestAction};

/// The channel the appending transactions notify, with the last seq as the payload.
pub const CHANNEL: &str = "assent_events";

pub(super) struct Op<'a> {
    pub tx: &'a Transaction<'a>,
    pub now: DateTime<Utc>,
    /// The webhooks each appended event is a delivery for.
    outbox: &'a Outbox,
    audits: Vec<AuditEntry>,
    pending: Vec<Event>,
    appended: Vec<Event>,
    /// Every request due at `now` has been ended in this transaction: a batch's writes
    /// share one `now` (`writer.rs`), so after the first the others find nothing due.
    pub swept: bool,
}

impl<'a> Op<'a> {
    pub fn new(tx: &'a Transaction<'a>, now: DateTime<Utc>, outbox: &'a Outbox) -> Self {
        Op {
            tx,
            now,
            outbox,
            audits: Vec::new(),
            pending: Vec::new(),
            appended: Vec::new(),
            swept: false,
        }
    }

    pub fn audit_request(&mut self, action: RequestAction, req: &ApprovalRequest) {
        self.audits
            .push(rules::request_audit(req, action, self.now));
    }

    pub fn request_event(&mut self, kind: EventKind, req: &ApprovalRequest) {
        self.pending
            .push(event(kind, self.now, Some(req.clone()), None));
    }

    /// Audits `action` on `req` and appends its event `kind`.
    pub fn request_changed(
        &mut self,
        action: RequestAction,
        kind: EventKind,
        req: &ApprovalRequest,
    ) {
        self.audit_request(action, req);
        self.request_event(kind, req);
    }

    /// Audits `action` on `g` and appends its event `kind`.
    pub fn grant_changed(&mut self, action: GrantAction, kind: EventKind, g: &Grant) {
        self.audits.push(rules::grant_audit(g, action, self.now));
        self.pending
            .push(event(kind, self.now, None, Some(g.clone())));
    }

    /// How much the operation has recorded so far: where [`Op::undo_since`] goes back to.
    pub fn mark(&self) -> (usize, usize) {
        (self.pending.len(), self.audits.len())
    }

    /// How many events were recorded since `mark`.
    pub fn recorded_since(&self, mark: (usize, usize)) -> usize {
        self.pending.len().saturating_sub(mark.0)
    }

    /// Forgets what was recorded since `mark` (its statements were rolled back).
    pub fn undo_since(&mut self, mark: (usize, usize)) {
        self.pending.truncate(mark.0);
        self.audits.truncate(mark.1);
    }

    /// An operation in the same transaction, at the same time, that records on its own:
    /// a write that runs beside others (`writer.rs`), whose records are kept only if it
    /// succeeds ([`Op::absorb`]).
    pub fn fork(&self) -> Op<'a> {
        Op {
            swept: self.swept,
            ..Op::new(self.tx, self.now, self.outbox)
        }
    }

    /// Takes on what `other` (a [`Op::fork`] of this one) recorded, after what this one
    /// has; returns how many events that was.
    pub fn absorb(&mut self, other: Op<'a>) -> usize {
        let n = other.pending.len();
        self.pending.extend(other.pending);
        self.audits.extend(other.audits);
        self.appended.extend(other.appended);
        n
    }

    /// Whether the operation has recorded anything to append.
    pub fn appends(&self) -> bool {
        !(self.pending.is_empty() && self.audits.is_empty())
    }

    /// Appends what the operation has recorded so far, taking the log's lock (held to
    /// the commit) if there is anything to append.
    pub async fn append(&mut self) -> PgResult<()> {
        if self.pending.is_empty() && self.audits.is_empty() {
            return Ok(());
        }
        let tx = self.tx;
        let n = limit_i64(self.pending.len());
        // The lock on meta's row, taken here and held to the commit, orders both logs:
        // event seqs, and the audit entries whose hash chain goes on from audit_head.
        let bump = tx
            .prepare_cached(
                "UPDATE meta SET last_seq = last_seq + $1 RETURNING last_seq, audit_head",
            )
            .await?;
        let mut kinds = Vec::new();
        let mut ats = Vec::new();
        let mut request_ids = Vec::new();
        let mut grant_ids = Vec::new();
        let mut payloads = Vec::new();
        for ev in &self.pending {
            kinds.push(ev.kind.as_str());
            ats.push(ev.at.timestamp_millis());
            request_ids.push(ev.request.as_ref().map(|r| r.id.as_str()));
            grant_ids.push(ev.grant.as_ref().map(|g| g.id.as_str()));
            payloads.push(match (&ev.request, &ev.grant) {
                (Some(r), _) => serde_json::to_string(r)?,
                (None, Some(g)) => serde_json::to_string(g)?,
                (None, None) => return Err(Fail::corrupt("an event with no subject".into())),
            });
        }
        let bump_params: [&(dyn ToSql + Sync); 1] = [&n];
        let bumped = tx.query_one(&bump, &bump_params);
        let events = async {
            if self.pending.is_empty() {
                return Ok(0);
            }
            let st = tx
                .prepare_cached(
                    "INSERT INTO events (seq, kind, at, request_id, grant_id, payload) \
                     SELECT m.last_seq - $1 + e.ord, e.kind, e.at, e.request_id, e.grant_id, \
                     e.payload FROM meta m, unnest($2::text[], $3::bigint[], $4::text[], \
                     $5::text[], $6::text[]) WITH ORDINALITY AS e(kind, at, request_id, \
                     grant_id, payload, ord)",
                )
                .await?;
            tx.execute(
                &st,
                &[&n, &kinds, &ats, &request_ids, &grant_ids, &payloads],
            )
            .await
        };
        let audit_seqs = reserve_audit_seqs(tx, self.audits.len());
        let notify = async {
            if self.pending.is_empty() {
                return Ok(0);
            }
            let st = tx
                .prepare_cached("SELECT pg_notify($1, last_seq::text) FROM meta")
                .await?;
            tx.execute(&st, &[&CHANNEL]).await
        };
        let deliveries = super::deliveries::insert(tx, self.outbox, &self.pending, n);
        let (row, _, audit_seqs, _, _) =
            futures::try_join!(bumped, events, audit_seqs, notify, deliveries)?;
        let last: i64 = row.try_get(0)?;
        let head: Option<String> = row.try_get(1)?;
        append_audits(tx, &self.audits, audit_seqs, head).await?;
        let first = last - n + 1;
        for (i, mut ev) in self.pending.drain(..).enumerate() {
            ev.seq = (first + limit_i64(i)).max(0) as u64;
            self.appended.push(ev);
        }
        self.audits.clear();
        Ok(())
    }

    /// Appends what is left, and returns every event the operation appended.
    pub async fn finish(mut self) -> PgResult<Vec<Event>> {
        self.append().await?;
        Ok(self.appended)
    }
}

fn event(
    kind: EventKind,
    at: DateTime<Utc>,
    request: Option<ApprovalRequest>,
    grant: Option<Grant>,
) -> Event {
    Event {
        seq: 0,
        kind,
        at,
        request,
        grant,
        database_id: None,
    }
}

/// Takes `n` audit sequence numbers, in order. Sent after the bump of meta in the same
/// round trip, so it runs once that row's lock is held: the numbers follow those of
/// every transaction appended before, as the hash chain does.
async fn reserve_audit_seqs(
    tx: &Transaction<'_>,
    n: usize,
) -> Result<Vec<i64>, tokio_postgres::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let st = tx
        .prepare_cached(
            "SELECT nextval(pg_get_serial_sequence('audit', 'seq')) \
             FROM generate_series(1, $1::bigint)",
        )
        .await?;
    let rows = tx.query(&st, &[&limit_i64(n)]).await?;
    let mut seqs = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<Vec<_>, _>>()?;
    seqs.sort_unstable();
    Ok(seqs)
}

/// Inserts `entries` at `seqs` (from [`reserve_audit_seqs`]), linked into the hash chain
/// after `head`: each hashed as `GET /v1/audit` will serve it (its seq, its time in
/// milliseconds as stored), in one statement, and the newest hash kept in meta. Each row
/// is written once, hash and all (an insert, then an update of the rows just inserted,
/// doubled the writes, and the update's cached plan could scan the whole table).
async fn append_audits(
    tx: &Transaction<'_>,
    entries: &[AuditEntry],
    seqs: Vec<i64>,
    head: Option<String>,
) -> PgResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if seqs.len() != entries.len() {
        return Err(Fail::corrupt(
            "the audit sequence gave another number of values".into(),
        ));
    }
    let mut prev = head;
    let (mut prevs, mut hashes) = (Vec::new(), Vec::new());
    for (e, seq) in entries.iter().zip(&seqs) {
        let mut linked = e.clone();
        linked.seq = (*seq).max(0) as u64;
        linked.at = time(e.at.timestamp_millis())?;
        crate::protocol::audit_chain::link(&mut linked, prev.as_deref());
        prevs.push(linked.prev_hash.clone());
        prev = linked.hash.clone();
        hashes.push(linked.hash);
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO audit (seq, at, actor, action, request_id, tool, agent, outcome, \
             scope, reason, args_hash, grant_id, policy, via, approved_args_hash, prev_hash, \
             hash) OVERRIDING SYSTEM VALUE \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
             $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], \
             $17::text[])",
        )
        .await?;
    let head_st = tx.prepare_cached("UPDATE meta SET audit_head = $1").await?;
    let at: Vec<i64> = entries.iter().map(|e| e.at.timestamp_millis()).collect();
    let actor: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let action: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let request_id: Vec<Option<&str>> = entries.iter().map(|e| e.request_id.as_deref()).collect();
    let tool: Vec<Option<&str>> = entries.iter().map(|e| e.tool.as_deref()).collect();
    let agent: Vec<Option<&str>> = entries.iter().map(|e| e.agent.as_deref()).collect();
    let outcome: Vec<Option<&str>> = entries.iter().map(|e| e.outcome.as_deref()).collect();
    let scope: Vec<Option<&str>> = entries.iter().map(|e| e.scope.map(Scope::as_str)).collect();
    let reason: Vec<Option<&str>> = entries.iter().map(|e| e.reason.as_deref()).collect();
    let args_hash: Vec<Option<&str>> = entries.iter().map(|e| e.args_hash.as_deref()).collect();
    let grant_id: Vec<Option<&str>> = entries.iter().map(|e| e.grant_id.as_deref()).collect();
    let approved_args_hash: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.approved_args_hash.as_deref())
        .collect();
    // Serialising plain data to a String cannot fail; None keeps the column NULL.
    let policy: Vec<Option<String>> = entries
        .iter()
        .map(|e| {
            e.policy
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok())
        })
        .collect();
    let via: Vec<Option<String>> = entries
        .iter()
        .map(|e| e.via.as_ref().and_then(|v| serde_json::to_string(v).ok()))
        .collect();
    let params: [&(dyn ToSql + Sync); 17] = [
        &seqs,
        &at,
        &actor,
        &action,
        &request_id,
        &tool,
        &agent,
        &outcome,
        &scope,
        &reason,
        &args_hash,
        &grant_id,
        &policy,
        &via,
        &approved_args_hash,
        &prevs,
        &hashes,
    ];
    let head_params: [&(dyn ToSql + Sync); 1] = [&prev];
    futures::try_join!(tx.execute(&st, &params), tx.execute(&head_st, &head_params))?;
    Ok(())
}

/// The sequence number of the last event (0 when there never was one).
pub(super) async fn current_seq(tx: &Transaction<'_>) -> PgResult<u64> {
    let st = tx.prepare_cached("SELECT last_seq FROM meta").await?;
    let seq: i64 = tx.query_one(&st, &[]).await?.try_get(0)?;
    Ok(seq.max(0) as u64)
}

pub(super) async fn compacted_through(client: &deadpool_postgres::Client) -> PgResult<u64> {
    let st = client
        .prepare_cached("SELECT events_compacted_through FROM meta")
        .await?;
    let seq: i64 = client.query_one(&st, &[]).await?.try_get(0)?;
    Ok(seq.max(0) as u64)
}

/// Bytes of event payloads one compaction step deletes at most (beyond its first event).
const COMPACT_BYTES: i64 = 32 * 1024 * 1024;

/// One step of compaction, as SQLite's (`../sqlite/log.rs`): the oldest events older
/// than `events_before`, at most `batch`, and likewise the audit entries. Two instances
/// compacting at once delete the same prefix; the horizon only moves forward.
pub(super) async fn compact(
    tx: &Transaction<'_>,
    events_before: Option<DateTime<Utc>>,
    audit_before: Option<DateTime<Utc>>,
    batch: usize,
) -> PgResult<Compacted> {
    let mut done = Compacted::default();
    if let Some(before) = events_before {
        let (last, n, more) = due_prefix(
            tx,
            "SELECT seq, at, octet_length(payload)::BIGINT FROM events ORDER BY seq LIMIT $1",
            before,
            batch,
        )
        .await?;
        if let Some(last) = last {
            tx.execute("DELETE FROM events WHERE seq <= $1", &[&last])
                .await?;
            tx.execute(
                "UPDATE meta SET events_compacted_through = GREATEST(events_compacted_through, $1)",
                &[&last],
            )
            .await?;
        }
        (done.events, done.more) = (n, more);
    }
    if let Some(before) = audit_before {
        let (last, n, more) = due_prefix(
            tx,
            "SELECT seq, at, 0::BIGINT FROM audit ORDER BY seq LIMIT $1",
            before,
            batch,
        )
        .await?;
        if let Some(last) = last {
            tx.execute("DELETE FROM audit WHERE seq <= $1", &[&last])
                .await?;
        }
        done.audit = n;
        done.more |= more;
    }
    Ok(done)
}

async fn due_prefix(
    tx: &Transaction<'_>,
    sql: &str,
    before: DateTime<Utc>,
    batch: usize,
) -> PgResult<(Option<i64>, u64, bool)> {
    let before = before.timestamp_millis();
    let rows = tx.query(sql, &[&limit_i64(batch)]).await?;
    let (mut last, mut n, mut bytes) = (None, 0u64, 0i64);
    for row in rows {
        let (seq, at, size): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if at >= before {
            return Ok((last, n, false));
        }
        if last.is_some() && bytes.saturating_add(size) > COMPACT_BYTES {
            return Ok((last, n, true));
        }
        (last, n, bytes) = (Some(seq), n + 1, bytes.saturating_add(size));
    }
    Ok((last, n, n == batch as u64))
}

pub(super) async fn events_after(
    client: &deadpool_postgres::Client,
    after: u64,
    limit: usize,
) -> PgResult<Vec<Event>> {
    let st = client
        .prepare_cached(
            "SELECT seq, kind, at, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .await?;
    let rows = client
        .query(&st, &[&to_i64(after), &limit_i64(limit)])
        .await?;
    rows.iter().map(event_row).collect()
}

/// An event row (`seq, kind, at, payload`) as the log keeps it.
pub(super) fn event_row(row: &tokio_postgres::Row) -> PgResult<Event> {
    let seq: i64 = row.try_get(0)?;
    let kind: &str = row.try_get(1)?;
    let kind = EventKind::parse(kind)
        .ok_or_else(|| Fail::corrupt(format!("unknown event kind '{kind}' at seq {seq}")))?;
    let payload: &str = row.try_get(3)?;
    let (request, grant) = crate::store::rules::event_subject(kind, payload)?;
    Ok(Event {
        seq: seq.max(0) as u64,
        kind,
        at: time(row.try_get(2)?)?,
        request,
        grant,
        database_id: None,
    })
}

pub(super) async fn audit_after(
    client: &deadpool_postgres::Client,
    after: u64,
    limit: usize,
) -> PgResult<AuditPage> {
    let st = client
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .await?;
    let rows = client
        .query(&st, &[&to_i64(after), &limit_i64(limit.saturating_add(1))])
        .await?;
    let mut entries = rows.iter().map(audit_row).collect::<PgResult<Vec<_>>>()?;
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
}
