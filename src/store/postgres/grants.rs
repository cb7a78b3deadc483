//! Grant rows: creating, finding the one that covers a call, counting its uses, marking
//! those that end, listing the active ones and revoking. What a grant covers is
//! [`GrantScope`]'s to say; SQL only narrows the rows.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::fail::PgResult;
use super::log::{Op, current_seq};
use super::rows::{GRANT_COLS, grant_row, to_i64};
use crate::protocol::{EventKind, Grant, GrantList};
use crate::store::StoreError;
use crate::store::rules::{self, GrantAction};

/// Records `g`, which covers requests filed by the token `filer`.
pub(super) async fn insert(tx: &Transaction<'_>, g: &Grant, filer: &str) -> PgResult<()> {
    let st = tx
        .prepare_cached(
            "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by, \
             created_by, created_at, source_request_id, expires_at, max_uses, approvers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &g.id,
            &g.scope.as_str(),
            &g.agent,
            &g.tool,
            &g.conversation_id,
            &filer,
            &g.created_by,
            &g.created_at.timestamp_millis(),
            &g.source_request_id,
            &g.expires_at.map(|t| t.timestamp_millis()),
            &g.max_uses.map(to_i64),
            // NULL for a grant one reviewer made, as every grant before the column.
            &(!g.approvers.is_empty())
                .then(|| serde_json::to_string(&g.approvers))
                .transpose()?,
        ],
    )
    .await?;
    Ok(())
}

/// How a transaction takes the calls of one `filer`/`agent`/`tool` ([`lock_calls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    /// Filing one: filings of the same calls do not exclude each other.
    File,
    /// Making a grant for them: excludes every filing of them.
    Grant,
}

/// Orders, until the commit, a transaction that makes a grant for the calls of
/// `filer`/`agent`/`tool` against every other that files one of them: a filing then sees
/// a grant made concurrently, or the grant's decision sees the filing, never neither
/// (SQLite's one writer gives this for free). Filings take the lock shared: they need
/// ordering against grants only, and an exclusive lock made every filing of one tool by
/// one agent wait for the one before it to commit.
pub(super) async fn lock_calls(
    tx: &Transaction<'_>,
    filer: &str,
    agent: &str,
    tool: &str,
    how: Calls,
) -> PgResult<()> {
    let sql = match how {
        Calls::File => {
            "SELECT pg_advisory_xact_lock_shared(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 0))"
        }
        Calls::Grant => {
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 0))"
        }
    };
    let st = tx.prepare_cached(sql).await?;
    tx.execute(&st, &[&filer, &agent, &tool]).await?;
    Ok(())
}

/// The grants of `filer`/`agent`/`tool` that may be in force at `now`, oldest first,
/// locked until the commit: the candidates of [`rules::GrantScope`], which picks the
/// first covering a call. Locked, so a use counted here and the sweep marking the grant
/// ended take turns (each reads what the other committed).
pub(super) async fn candidates(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    filer: &str,
    agent: &str,
    tool: &str,
) -> PgResult<Vec<Grant>> {
    let st = tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants \
             WHERE filed_by = $1 AND agent = $2 AND tool = $3 AND revoked_at IS NULL \
             AND expired_at IS NULL AND (expires_at IS NULL OR expires_at > $4) \
             ORDER BY n FOR UPDATE"
        ))
        .await?;
    let rows = tx
        .query(&st, &[&filer, &agent, &tool, &now.timestamp_millis()])
        .await?;
    rows.iter().map(grant_row).collect()
}

/// Counts one approval `g` made (its last allowed one ends it, with its event). The row
/// is locked already: by [`candidates`], or made in this transaction.
pub(super) async fn record_use(op: &mut Op<'_>, g: &mut Grant) -> PgResult<()> {
    let ended = rules::use_grant(g, op.now);
    let st = op
        .tx
        .prepare_cached("UPDATE grants SET uses = $2, expired_at = $3 WHERE id = $1")
        .await?;
    let uses = to_i64(g.uses);
    let expired_at = g.expired_at.map(|t| t.timestamp_millis());
    op.tx.execute(&st, &[&g.id, &uses, &expired_at]).await?;
    if ended {
        op.grant_changed(GrantAction::Expired, EventKind::GrantExpired, g);
    }
    Ok(())
}

/// Marks the grants whose duration has run out, each once whichever instance sweeps (the
/// rows are locked, and one marked meanwhile is left out), with its `grant.expired`;
/// returns when the next one ends. Coverage never waits for this. (A row locked
/// elsewhere is waited for and read again as committed: one marked meanwhile is left out.)
pub(super) async fn sweep(op: &mut Op<'_>) -> PgResult<Option<DateTime<Utc>>> {
    let st = op
        .tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants \
             WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at <= $1 ORDER BY n FOR UPDATE"
        ))
        .await?;
    let rows = op.tx.query(&st, &[&op.now.timestamp_millis()]).await?;
    let mut due = rows.iter().map(grant_row).collect::<PgResult<Vec<_>>>()?;
    // Locked in insertion order, as filings lock their candidates, so the two never wait
    // on each other in a cycle; the events go out in the order the grants ended.
    due.sort_by_key(|g| g.expires_at);
    let mark = op
        .tx
        .prepare_cached("UPDATE grants SET expired_at = $2 WHERE id = $1")
        .await?;
    for mut g in due {
        if rules::expire(&mut g, op.now) {
            op.tx
                .execute(&mark, &[&g.id, &op.now.timestamp_millis()])
                .await?;
            op.grant_changed(GrantAction::Expired, EventKind::GrantExpired, &g);
        }
    }
    let st = op
        .tx
        .prepare_cached(
            "SELECT MIN(expires_at) FROM grants \
             WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL",
        )
        .await?;
    let ms: Option<i64> = op.tx.query_one(&st, &[]).await?.try_get(0)?;
    Ok(ms.and_then(DateTime::from_timestamp_millis))
}

/// The grants in force, oldest first, with the event sequence number read before them:
/// neither revoked nor ended (by [`Grant::in_force`]).
pub(super) async fn active(op: &mut Op<'_>) -> PgResult<GrantList> {
    let seq = current_seq(op.tx).await?;
    let st = op
        .tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants \
             WHERE revoked_at IS NULL AND expired_at IS NULL ORDER BY n"
        ))
        .await?;
    let rows = op.tx.query(&st, &[]).await?;
    let mut grants = rows.iter().map(grant_row).collect::<PgResult<Vec<_>>>()?;
    grants.retain(|g| g.in_force(op.now));
    Ok(GrantList {
        grants,
        seq,
        database_id: None,
    })
}

pub(super) async fn revoke(op: &mut Op<'_>, id: &str, actor: &str) -> PgResult<Grant> {
    let st = op
        .tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants WHERE id = $1 FOR UPDATE"
        ))
        .await?;
    let row = op.tx.query_opt(&st, &[&id]).await?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "no grant with id {id}; GET /v1/grants lists the active ones"
        ))
    })?;
    let mut g = grant_row(&row)?;
    if rules::revoke(&mut g, actor, op.now) {
        let st = op
            .tx
            .prepare_cached("UPDATE grants SET revoked_at = $2, revoked_by = $3 WHERE id = $1")
            .await?;
        op.tx
            .execute(&st, &[&id, &op.now.timestamp_millis(), &actor])
            .await?;
        op.grant_changed(
            GrantAction::Revoked { by: actor },
            EventKind::GrantRevoked,
            &g,
        );
    }
    Ok(g)
}
