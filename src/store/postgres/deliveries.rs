//! How PostgreSQL keeps the webhook outbox, for several instances: the rows are inserted
//! by the appending round trip (`log.rs`), claimed under `FOR UPDATE SKIP LOCKED` with a
//! lease (so two instances never send one row at once, and a killed instance's rows are
//! claimed again when their lease runs out), and updated per attempt.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::fail::{Fail, PgResult};
use super::rows::{limit_i64, time, time_col, to_i64};
use crate::protocol::{Delivery, DeliveryList, DeliveryStatus, Event, EventKind, event_id};
use crate::store::delivery::{Attempt, AttemptResult, Claimed, DeliveryQuery, DueDelivery};
use crate::store::rules::{FailingMark, Outbox, health};

/// Inserts a delivery of each of `pending` (the `n` events being appended, in order) for
/// every webhook `outbox` names. Sent in the appending round trip, after the bump of
/// `meta.last_seq`, whose new value gives the events' seqs as it gives the inserted events'.
pub(super) async fn insert(
    tx: &Transaction<'_>,
    outbox: &Outbox,
    pending: &[Event],
    n: i64,
) -> Result<u64, tokio_postgres::Error> {
    let (mut ord, mut webhook, mut kind) = (Vec::new(), Vec::new(), Vec::new());
    let (mut request_id, mut grant_id, mut at) = (Vec::new(), Vec::new(), Vec::new());
    for (i, ev) in pending.iter().enumerate() {
        for w in outbox.webhooks_for(ev) {
            ord.push(limit_i64(i + 1));
            webhook.push(w);
            kind.push(ev.kind.as_str());
            request_id.push(ev.request.as_ref().map(|r| r.id.as_str()));
            grant_id.push(ev.grant.as_ref().map(|g| g.id.as_str()));
            at.push(ev.at.timestamp_millis());
        }
    }
    if ord.is_empty() {
        return Ok(0);
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO deliveries (seq, webhook, kind, request_id, grant_id, created_at, \
             next_attempt_at) SELECT m.last_seq - $1 + d.ord, d.webhook, d.kind, d.request_id, \
             d.grant_id, d.at, d.at FROM meta m, unnest($2::bigint[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::bigint[]) AS d(ord, webhook, kind, request_id, \
             grant_id, at)",
        )
        .await?;
    tx.execute(
        &st,
        &[&n, &ord, &webhook, &kind, &request_id, &grant_id, &at],
    )
    .await
}

pub(super) async fn claim(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    webhook: &str,
    limit: usize,
    lease_until: DateTime<Utc>,
) -> PgResult<Claimed> {
    let now_ms = now.timestamp_millis();
    let rows = tx
        .query(
            "WITH due AS (SELECT id FROM deliveries WHERE webhook = $1 AND status = 'pending' \
             AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET lease_until = $4 FROM due WHERE d.id = due.id \
             RETURNING d.id, d.attempts, d.created_at, d.seq",
            &[
                &webhook,
                &now_ms,
                &limit_i64(limit),
                &lease_until.timestamp_millis(),
            ],
        )
        .await?;
    let mut due = Vec::with_capacity(rows.len());
    let mut seqs = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq: i64 = r.try_get(3)?;
        seqs.push(seq);
        due.push(DueDelivery {
            id: r.try_get::<_, i64>(0)?.max(0) as u64,
            attempts: u32::try_from(r.try_get::<_, i32>(1)?).unwrap_or(0),
            created_at: time_col(r, 2)?,
            event: None,
            seq: seq.max(0) as u64,
        });
    }
    due.sort_by_key(|d| d.id);
    if !seqs.is_empty() {
        let events = tx
            .query(
                "SELECT seq, kind, at, payload FROM events WHERE seq = ANY($1)",
                &[&seqs],
            )
            .await?;
        for row in events {
            let ev = super::log::event_row(&row)?;
            for d in due.iter_mut().filter(|d| d.seq == ev.seq) {
                d.event = Some(ev.clone());
            }
        }
    }
    let next: Option<i64> = tx
        .query_one(
            "SELECT MIN(GREATEST(next_attempt_at, COALESCE(lease_until, 0))) FROM deliveries \
             WHERE webhook = $1 AND status = 'pending'",
            &[&webhook],
        )
        .await?
        .try_get(0)?;
    Ok(Claimed {
        due,
        next_due: next.and_then(DateTime::from_timestamp_millis),
    })
}

pub(super) async fn record(
    tx: &Transaction<'_>,
    webhook: &str,
    results: &[AttemptResult],
) -> PgResult<()> {
    let (mut ids, mut statuses, mut ats) = (Vec::new(), Vec::new(), Vec::new());
    let (mut codes, mut errors, mut nexts) = (Vec::new(), Vec::new(), Vec::new());
    for r in results {
        let (status, code, error) = r.outcome();
        ids.push(to_i64(r.id));
        statuses.push(status.as_str());
        ats.push(r.at.timestamp_millis());
        codes.push(code.map(i32::from));
        errors.push(error);
        nexts.push(r.next_attempt_at().map(|t| t.timestamp_millis()));
    }
    let params: [&(dyn ToSql + Sync); 7] =
        [&webhook, &ids, &statuses, &ats, &codes, &errors, &nexts];
    tx.execute(
        "UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1, \
         last_attempt_at = u.at, last_status = u.code, last_error = u.error, \
         next_attempt_at = u.next, lease_until = NULL, \
         finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE u.at END \
         FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::int[], $6::text[], \
         $7::bigint[]) AS u(id, status, at, code, error, next) \
         WHERE d.id = u.id AND d.webhook = $1",
        &params,
    )
    .await?;
    // The mark follows the last answer that says anything of the endpoint.
    let last = results
        .iter()
        .rev()
        .find(|r| matches!(r.attempt, Attempt::Gone { .. } | Attempt::Delivered { .. }));
    match last.map(|r| (r, &r.attempt)) {
        Some((r, Attempt::Gone { error })) => {
            tx.execute(
                "INSERT INTO webhook_failing (webhook, since, reason) VALUES ($1, $2, $3) \
                 ON CONFLICT (webhook) DO UPDATE SET reason = excluded.reason",
                &[&webhook, &r.at.timestamp_millis(), &error.as_str()],
            )
            .await?;
        }
        Some((_, Attempt::Delivered { .. })) => {
            tx.execute(
                "DELETE FROM webhook_failing WHERE webhook = $1",
                &[&webhook],
            )
            .await?;
        }
        _ => {}
    }
    Ok(())
}

const COLS: &str = "id, webhook, seq, kind, request_id, grant_id, status, attempts, created_at, \
    next_attempt_at, last_attempt_at, last_status, last_error, finished_at";

fn opt_time(row: &Row, idx: usize) -> PgResult<Option<DateTime<Utc>>> {
    row.try_get::<_, Option<i64>>(idx)?.map(time).transpose()
}

fn delivery_row(row: &Row, database_id: &str) -> PgResult<Delivery> {
    let seq = row.try_get::<_, i64>(2)?.max(0) as u64;
    let kind: &str = row.try_get(3)?;
    let status: &str = row.try_get(6)?;
    let bad = |what: &str, v: &str| Fail::corrupt(format!("unknown {what} '{v}' in the database"));
    Ok(Delivery {
        id: row.try_get::<_, i64>(0)?.max(0) as u64,
        webhook: row.try_get(1)?,
        event_id: event_id(database_id, seq),
        seq,
        kind: EventKind::parse(kind).ok_or_else(|| bad("event kind", kind))?,
        request_id: row.try_get(4)?,
        grant_id: row.try_get(5)?,
        status: DeliveryStatus::parse(status).ok_or_else(|| bad("status", status))?,
        attempts: u32::try_from(row.try_get::<_, i32>(7)?).unwrap_or(0),
        created_at: time_col(row, 8)?,
        next_attempt_at: opt_time(row, 9)?,
        last_attempt_at: opt_time(row, 10)?,
        last_status: row
            .try_get::<_, Option<i32>>(11)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get(12)?,
        finished_at: opt_time(row, 13)?,
    })
}

pub(super) async fn list(
    client: &deadpool_postgres::Client,
    database_id: &str,
    q: &DeliveryQuery,
) -> PgResult<DeliveryList> {
    let st = client
        .prepare_cached(&format!(
            "SELECT {COLS} FROM deliveries WHERE id > $1 AND ($2::text IS NULL OR status = $2) \
             AND ($3::text IS NULL OR webhook = $3) ORDER BY id LIMIT $4"
        ))
        .await?;
    let rows = client
        .query(
            &st,
            &[
                &to_i64(q.after),
                &q.status.map(DeliveryStatus::as_str),
                &q.webhook,
                &limit_i64(q.limit.saturating_add(1)),
            ],
        )
        .await?;
    let mut deliveries = rows
        .iter()
        .map(|r| delivery_row(r, database_id))
        .collect::<PgResult<Vec<_>>>()?;
    let next_after = if deliveries.len() > q.limit {
        deliveries.truncate(q.limit);
        deliveries.last().map(|d| d.id)
    } else {
        None
    };
    let failing = client
        .query("SELECT webhook, since, reason FROM webhook_failing", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, time_col(r, 1)?, r.try_get(2)?)))
        .collect::<PgResult<Vec<FailingMark>>>()?;
    Ok(DeliveryList {
        deliveries,
        next_after,
        webhooks: health(depth(client).await?, failing),
    })
}

pub(super) async fn depth(client: &deadpool_postgres::Client) -> PgResult<Vec<(String, u64)>> {
    let rows = client
        .query(
            "SELECT webhook, COUNT(*) FROM deliveries WHERE status = 'pending' GROUP BY webhook",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)?.max(0) as u64)))
        .collect()
}

/// Deletes finished deliveries older than `before`, at most `batch`; whether it stopped
/// at the bound.
pub(super) async fn compact(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
    batch: usize,
) -> PgResult<bool> {
    let n = tx
        .execute(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE status <> 'pending' AND finished_at < $1 ORDER BY id LIMIT $2)",
            &[&before.timestamp_millis(), &limit_i64(batch)],
        )
        .await?;
    Ok(n >= batch as u64)
}
