//! How SQLite keeps the webhook outbox: a row per event and webhook, inserted by the
//! event's append (`log.rs`), claimed with a lease by the sender, updated per attempt.
//! One server holds a database file at a time (`lock.rs`), so the leases left by a
//! killed server are let go when the file is opened again (`release_leases`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use super::log::event_of;
use super::rows::{limit_i64, next_page, time_col, to_i64};
use crate::protocol::{Delivery, DeliveryList, DeliveryStatus, Event, EventKind, event_id};
use crate::store::delivery::{Attempt, AttemptResult, Claimed, DeliveryQuery, DueDelivery};
use crate::store::rules::{FailingMark, health};
use crate::store::{StoreError, StoreResult};

/// Writes the delivery of `ev` (just appended) to `webhook`, due at once.
pub(super) fn insert(tx: &Connection, ev: &Event, webhook: &str) -> StoreResult<()> {
    let at = ev.at.timestamp_millis();
    tx.prepare_cached(
        "INSERT INTO deliveries (seq, webhook, kind, request_id, grant_id, created_at, \
         next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        to_i64(ev.seq),
        webhook,
        ev.kind.as_str(),
        ev.request.as_ref().map(|r| r.id.as_str()),
        ev.grant.as_ref().map(|g| g.id.as_str()),
        at
    ])?;
    Ok(())
}

/// Lets go of every lease: called at open, when no sender of this file can be running.
pub(super) fn release_leases(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
        [],
    )
}

pub(super) fn claim(
    tx: &Connection,
    now: DateTime<Utc>,
    webhook: &str,
    limit: usize,
    lease_until: DateTime<Utc>,
) -> StoreResult<Claimed> {
    let now_ms = now.timestamp_millis();
    let mut st = tx.prepare_cached(
        "SELECT d.id, d.attempts, d.created_at, d.seq, e.kind, e.at, e.payload \
         FROM deliveries d LEFT JOIN events e ON e.seq = d.seq \
         WHERE d.webhook = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2 \
         AND (d.lease_until IS NULL OR d.lease_until <= ?2) \
         ORDER BY d.next_attempt_at, d.id LIMIT ?3",
    )?;
    type Raw = (
        i64,
        i64,
        DateTime<Utc>,
        i64,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let rows = st
        .query_map(params![webhook, now_ms, limit_i64(limit)], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                time_col(r, 2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<Raw>>>()?;
    let mut lease = tx.prepare_cached("UPDATE deliveries SET lease_until = ?2 WHERE id = ?1")?;
    let mut due = Vec::with_capacity(rows.len());
    for (id, attempts, created_at, seq, kind, at, payload) in rows {
        lease.execute(params![id, lease_until.timestamp_millis()])?;
        let event = match (kind, at, payload) {
            (Some(kind), Some(at), Some(payload)) => {
                let at = DateTime::from_timestamp_millis(at).ok_or_else(|| {
                    StoreError::Backend(format!("event {seq}: time out of range"))
                })?;
                Some(event_of(seq, &kind, at, &payload)?)
            }
            _ => None,
        };
        due.push(DueDelivery {
            id: id.max(0) as u64,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            created_at,
            event,
            seq: seq.max(0) as u64,
        });
    }
    let next: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM deliveries \
             WHERE webhook = ?1 AND status = 'pending'",
        )?
        .query_row([webhook], |r| r.get(0))?;
    Ok(Claimed {
        due,
        next_due: next.and_then(DateTime::from_timestamp_millis),
    })
}

pub(super) fn record(tx: &Connection, webhook: &str, results: &[AttemptResult]) -> StoreResult<()> {
    let mut update = tx.prepare_cached(
        "UPDATE deliveries SET status = ?3, attempts = attempts + 1, last_attempt_at = ?4, \
         last_status = ?5, last_error = ?6, next_attempt_at = ?7, lease_until = NULL, \
         finished_at = CASE WHEN ?3 = 'pending' THEN NULL ELSE ?4 END \
         WHERE id = ?1 AND webhook = ?2",
    )?;
    for r in results {
        let (status, code, error) = r.outcome();
        update.execute(params![
            to_i64(r.id),
            webhook,
            status.as_str(),
            r.at.timestamp_millis(),
            code,
            error,
            r.next_attempt_at().map(|t| t.timestamp_millis()),
        ])?;
        match &r.attempt {
            Attempt::Gone { error } => {
                tx.prepare_cached(
                    "INSERT INTO webhook_failing (webhook, since, reason) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (webhook) DO UPDATE SET reason = excluded.reason",
                )?
                .execute(params![webhook, r.at.timestamp_millis(), error])?;
            }
            Attempt::Delivered { .. } => {
                tx.prepare_cached("DELETE FROM webhook_failing WHERE webhook = ?1")?
                    .execute([webhook])?;
            }
            Attempt::Retry { .. } | Attempt::Failed { .. } => {}
        }
    }
    Ok(())
}

const COLS: &str = "id, webhook, seq, kind, request_id, grant_id, status, attempts, created_at, \
    next_attempt_at, last_attempt_at, last_status, last_error, finished_at";

fn opt_time(row: &Row, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time_col(row, idx).map(Some),
    }
}

fn delivery_row(row: &Row, database_id: &str) -> rusqlite::Result<Delivery> {
    let bad = |idx: usize, what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown {what} '{v}' in the database").into(),
        )
    };
    let seq = row.get::<_, i64>(2)?.max(0) as u64;
    let kind: String = row.get(3)?;
    let status: String = row.get(6)?;
    Ok(Delivery {
        id: row.get::<_, i64>(0)?.max(0) as u64,
        webhook: row.get(1)?,
        event_id: event_id(database_id, seq),
        seq,
        kind: EventKind::parse(&kind).ok_or_else(|| bad(3, "event kind", &kind))?,
        request_id: row.get(4)?,
        grant_id: row.get(5)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad(6, "status", &status))?,
        attempts: u32::try_from(row.get::<_, i64>(7)?).unwrap_or(u32::MAX),
        created_at: time_col(row, 8)?,
        next_attempt_at: opt_time(row, 9)?,
        last_attempt_at: opt_time(row, 10)?,
        last_status: row
            .get::<_, Option<i64>>(11)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: row.get(12)?,
        finished_at: opt_time(row, 13)?,
    })
}

pub(super) fn list(
    conn: &Connection,
    database_id: &str,
    q: &DeliveryQuery,
) -> StoreResult<DeliveryList> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM deliveries WHERE id > ?1 AND (?2 IS NULL OR status = ?2) \
         AND (?3 IS NULL OR webhook = ?3) ORDER BY id LIMIT ?4"
    ))?;
    let mut deliveries = st
        .query_map(
            params![
                to_i64(q.after),
                q.status.map(DeliveryStatus::as_str),
                q.webhook,
                limit_i64(q.limit.saturating_add(1))
            ],
            |r| delivery_row(r, database_id),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_after = next_page(&mut deliveries, q.limit, |d| d.id);
    let failing = conn
        .prepare_cached("SELECT webhook, since, reason FROM webhook_failing")?
        .query_map([], |r| Ok((r.get(0)?, time_col(r, 1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<FailingMark>>>()?;
    Ok(DeliveryList {
        deliveries,
        next_after,
        webhooks: health(depth(conn)?, failing),
    })
}

pub(super) fn depth(conn: &Connection) -> StoreResult<Vec<(String, u64)>> {
    let rows = conn
        .prepare_cached(
            "SELECT webhook, COUNT(*) FROM deliveries WHERE status = 'pending' GROUP BY webhook",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Deletes finished deliveries older than `before`, at most `batch`; whether it stopped
/// at the bound.
pub(super) fn compact(tx: &Connection, before: DateTime<Utc>, batch: usize) -> StoreResult<bool> {
    let n = tx
        .prepare_cached(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE status != 'pending' AND finished_at < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![before.timestamp_millis(), limit_i64(batch)])?;
    Ok(n >= batch)
}
