//! The event log and the audit log: appending an entry, and reading either back by
//! sequence number.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::rows::{AUDIT_COLS, audit_row, limit_i64, next_page, time_col, to_i64};
use crate::protocol::{ApprovalRequest, AuditEntry, AuditPage, Event, EventKind, Grant, Scope};
use crate::store::rules::Outbox;
use crate::store::{Compacted, StoreError, StoreResult};

/// What an event carries: the request or the grant as it stands after the change.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    Request(&'a ApprovalRequest),
    Grant(&'a Grant),
}

/// Appends an event about `subject`, and a delivery of it for each webhook `outbox`
/// names, and returns it with its sequence number.
pub(super) fn append_event(
    tx: &Connection,
    outbox: &Outbox,
    kind: EventKind,
    at: DateTime<Utc>,
    subject: Subject,
) -> StoreResult<Event> {
    let (payload, request_id, grant_id) = match subject {
        Subject::Request(r) => (serde_json::to_string(r)?, Some(r.id.as_str()), None),
        Subject::Grant(g) => (serde_json::to_string(g)?, None, Some(g.id.as_str())),
    };
    tx.prepare_cached(
        "INSERT INTO events (kind, at, request_id, grant_id, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        kind.as_str(),
        at.timestamp_millis(),
        request_id,
        grant_id,
        payload
    ])?;
    let (request, grant) = match subject {
        Subject::Request(r) => (Some(r.clone()), None),
        Subject::Grant(g) => (None, Some(g.clone())),
    };
    let ev = Event {
        seq: tx.last_insert_rowid().max(0) as u64,
        kind,
        at,
        request,
        grant,
        database_id: None,
    };
    for webhook in outbox.webhooks_for(&ev) {
        super::deliveries::insert(tx, &ev, webhook)?;
    }
    Ok(ev)
}

pub(super) fn append_audit(tx: &Connection, e: &AuditEntry) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, request_id, tool, agent, outcome, scope, reason, \
         args_hash, grant_id, policy, via, approved_args_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
        e.via.as_ref().map(serde_json::to_string).transpose()?,
        e.approved_args_hash,
    ])?;
    link_audit(tx, tx.last_insert_rowid())
}

/// Links the entry just written at `seq` into the hash chain: hashed as it reads back,
/// which is what `GET /v1/audit` will serve (times in milliseconds, JSON columns parsed),
/// after the newest entry's hash kept in meta.
fn link_audit(tx: &Connection, seq: i64) -> StoreResult<()> {
    let head: Option<String> = tx
        .prepare_cached("SELECT audit_head FROM meta")?
        .query_row([], |r| r.get(0))?;
    let mut entry = tx
        .prepare_cached(&format!("SELECT {AUDIT_COLS} FROM audit WHERE seq = ?1"))?
        .query_row([seq], audit_row)?;
    crate::protocol::audit_chain::link(&mut entry, head.as_deref());
    tx.prepare_cached("UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE seq = ?1")?
        .execute(params![seq, entry.prev_hash, entry.hash])?;
    tx.prepare_cached("UPDATE meta SET audit_head = ?1")?
        .execute([&entry.hash])?;
    Ok(())
}

/// The sequence number of the last event (0 when there never was one): the newest kept,
/// or, when compaction deleted them all, the newest it deleted.
pub(super) fn current_seq(tx: &Connection) -> StoreResult<u64> {
    let seq: i64 = tx
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), \
             (SELECT events_compacted_through FROM meta))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(seq.max(0) as u64)
}

/// The newest sequence number compaction deleted (0: none).
pub(super) fn compacted_through(tx: &Connection) -> StoreResult<u64> {
    let seq: i64 = tx
        .prepare_cached("SELECT events_compacted_through FROM meta")?
        .query_row([], |r| r.get(0))?;
    Ok(seq.max(0) as u64)
}

/// Bytes of event payloads one compaction step deletes at most (beyond its first event):
/// deleting a large event walks its overflow pages, and the writer waits meanwhile.
const COMPACT_BYTES: i64 = 32 * 1024 * 1024;

/// One step of compaction, in the caller's transaction: deletes the oldest events while
/// they are older than `events_before`, at most `batch` of them, and likewise the oldest
/// audit entries older than `audit_before`. Each log keeps a contiguous tail: an entry is
/// deleted only with every entry before it, so a resume point either is still served or
/// is before the log's start. Returns how many of each were deleted, and whether it
/// stopped at its bound with more due.
pub(super) fn compact(
    tx: &Connection,
    events_before: Option<DateTime<Utc>>,
    audit_before: Option<DateTime<Utc>>,
    batch: usize,
) -> StoreResult<Compacted> {
    let mut done = Compacted::default();
    if let Some(before) = events_before {
        let (last, n, more) = due_prefix(
            tx,
            "SELECT seq, at, octet_length(payload) FROM events ORDER BY seq LIMIT ?1",
            before,
            batch,
        )?;
        if let Some(last) = last {
            tx.prepare_cached("DELETE FROM events WHERE seq <= ?1")?
                .execute([last])?;
            tx.prepare_cached("UPDATE meta SET events_compacted_through = ?1")?
                .execute([last])?;
        }
        (done.events, done.more) = (n, more);
    }
    if let Some(before) = audit_before {
        let (last, n, more) = due_prefix(
            tx,
            "SELECT seq, at, 0 FROM audit ORDER BY seq LIMIT ?1",
            before,
            batch,
        )?;
        if let Some(last) = last {
            tx.prepare_cached("DELETE FROM audit WHERE seq <= ?1")?
                .execute([last])?;
        }
        done.audit = n;
        done.more |= more;
    }
    Ok(done)
}

/// The oldest rows `sql` selects (`seq, at, bytes`, oldest first, `LIMIT ?1`) that are
/// older than `before`, up to the first that is not, `batch` rows, or [`COMPACT_BYTES`]:
/// the last one's seq, how many, and whether a bound stopped it. Reads from the log's
/// start, so it costs what it deletes, not the size of the log.
fn due_prefix(
    tx: &Connection,
    sql: &str,
    before: DateTime<Utc>,
    batch: usize,
) -> StoreResult<(Option<i64>, u64, bool)> {
    let before = before.timestamp_millis();
    let mut st = tx.prepare_cached(sql)?;
    let mut rows = st.query([limit_i64(batch)])?;
    let (mut last, mut n, mut bytes) = (None, 0u64, 0i64);
    while let Some(row) = rows.next()? {
        let (seq, at, size): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
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

pub(super) fn events_after(conn: &Connection, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
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
    rows.into_iter()
        .map(|(seq, kind, at, payload)| event_of(seq, &kind, at, &payload))
        .collect()
}

/// An event as the log keeps it: its kind's name and its subject's JSON.
pub(super) fn event_of(
    seq: i64,
    kind: &str,
    at: DateTime<Utc>,
    payload: &str,
) -> StoreResult<Event> {
    let kind = EventKind::parse(kind)
        .ok_or_else(|| StoreError::Backend(format!("unknown event kind '{kind}' at seq {seq}")))?;
    let (request, grant) = crate::store::rules::event_subject(kind, payload)?;
    Ok(Event {
        seq: seq.max(0) as u64,
        kind,
        at,
        request,
        grant,
        database_id: None,
    })
}

pub(super) fn audit_after(conn: &Connection, after: u64, limit: usize) -> StoreResult<AuditPage> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let mut entries = st
        .query_map(
            params![to_i64(after), limit_i64(limit.saturating_add(1))],
            audit_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_after = next_page(&mut entries, limit, |e| e.seq);
    Ok(AuditPage {
        entries,
        next_after,
    })
}
