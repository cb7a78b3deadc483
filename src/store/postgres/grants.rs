//! Grant rows: creating, finding the one that covers a call, listing the active ones and
//! revoking. What a grant covers is [`GrantScope`]'s to say; SQL only narrows the rows.

use deadpool_postgres::Transaction;

use super::fail::PgResult;
use super::log::{Op, current_seq};
use super::rows::{GRANT_COLS, grant_row};
use crate::protocol::{EventKind, Grant, GrantList};
use crate::store::StoreError;
use crate::store::rules::{self, GrantAction};

/// Records `g`, which covers requests filed by the token `filer`.
pub(super) async fn insert(tx: &Transaction<'_>, g: &Grant, filer: &str) -> PgResult<()> {
    let st = tx
        .prepare_cached(
            "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by, \
             created_by, created_at, source_request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        ],
    )
    .await?;
    Ok(())
}

/// Orders, until the commit, this transaction against every other that files a call of
/// `filer`/`agent`/`tool` or makes a grant for them: a filing then sees a grant made
/// concurrently, or the grant's decision sees the filing, never neither (SQLite's one
/// writer gives this for free).
pub(super) async fn lock_calls(
    tx: &Transaction<'_>,
    filer: &str,
    agent: &str,
    tool: &str,
) -> PgResult<()> {
    let st = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 0))",
        )
        .await?;
    tx.execute(&st, &[&filer, &agent, &tool]).await?;
    Ok(())
}

/// The active grants of `filer`/`agent`/`tool`, oldest first: the candidates of
/// [`rules::GrantScope`], which picks the first covering a call.
pub(super) async fn candidates(
    tx: &Transaction<'_>,
    filer: &str,
    agent: &str,
    tool: &str,
) -> PgResult<Vec<Grant>> {
    let st = tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants \
             WHERE filed_by = $1 AND agent = $2 AND tool = $3 AND revoked_at IS NULL ORDER BY n"
        ))
        .await?;
    let rows = tx.query(&st, &[&filer, &agent, &tool]).await?;
    rows.iter().map(grant_row).collect()
}

/// The active grants, oldest first, with the event sequence number read before them.
pub(super) async fn active(op: &mut Op<'_>) -> PgResult<GrantList> {
    let seq = current_seq(op.tx).await?;
    let st = op
        .tx
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants WHERE revoked_at IS NULL ORDER BY n"
        ))
        .await?;
    let rows = op.tx.query(&st, &[]).await?;
    Ok(GrantList {
        grants: rows.iter().map(grant_row).collect::<PgResult<_>>()?,
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
