//! The event log and the audit log: appending an entry, and reading either back by
//! sequence number.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::rows::{AUDIT_COLS, audit_row, limit_i64, next_page, time_col, to_i64};
use crate::protocol::{ApprovalRequest, AuditEntry, AuditPage, Event, EventKind, Grant, Scope};
use crate::store::{StoreError, StoreResult};

/// What an event carries: the request or the grant as it stands after the change.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    Request(&'a ApprovalRequest),
    Grant(&'a Grant),
}

/// Appends an event about `subject` and returns it with its sequence number.
pub(super) fn append_event(
    tx: &Connection,
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
    Ok(Event {
        seq: tx.last_insert_rowid().max(0) as u64,
        kind,
        at,
        request,
        grant,
        database_id: None,
    })
}

pub(super) fn append_audit(tx: &Connection, e: &AuditEntry) -> StoreResult<()> {
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

/// The sequence number of the last event (0 when the log is empty).
pub(super) fn current_seq(tx: &Connection) -> StoreResult<u64> {
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
        .query_row([], |r| r.get(0))?;
    Ok(seq.max(0) as u64)
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
            database_id: None,
        });
    }
    Ok(out)
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
