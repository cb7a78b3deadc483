//! Grant rows: creating, finding the one that covers a call, counting its uses, marking
//! those that end, listing the active ones and revoking. What a grant covers is
//! [`GrantScope`]'s to say; SQL only narrows the rows.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::log::current_seq;
use super::op::Op;
use super::rows::{GRANT_COLS, grant_row, to_i64};
use crate::protocol::{EventKind, Grant, GrantList};
use crate::store::rules::{self, GrantAction, GrantScope};
use crate::store::{StoreError, StoreResult};

/// Records `g`, which covers requests filed by the token `filer`.
pub(super) fn insert(tx: &Connection, g: &Grant, filer: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by, \
         created_by, created_at, source_request_id, expires_at, max_uses, approvers) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        g.id,
        g.scope.as_str(),
        g.agent,
        g.tool,
        g.conversation_id,
        filer,
        g.created_by,
        g.created_at.timestamp_millis(),
        g.source_request_id,
        g.expires_at.map(|t| t.timestamp_millis()),
        g.max_uses.map(to_i64),
        approvers_col(g)?,
    ])?;
    Ok(())
}

/// The oldest grant in force at `now` covering a call by `filer`/`agent` of `tool` in
/// `conversation_id`. The index narrows the candidates to the active grants of that
/// token, agent and tool, oldest first; the first one covering the call wins.
pub(super) fn covering(
    tx: &Connection,
    now: DateTime<Utc>,
    filer: &str,
    agent: &str,
    tool: &str,
    conversation_id: Option<&str>,
    approvals_required: u32,
) -> StoreResult<Option<Grant>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {GRANT_COLS} FROM grants \
         WHERE filed_by = ?1 AND agent = ?2 AND tool = ?3 AND revoked_at IS NULL \
         AND expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?4) ORDER BY n"
    ))?;
    let rows = st.query_map(
        params![filer, agent, tool, now.timestamp_millis()],
        grant_row,
    )?;
    for g in rows {
        let g = g?;
        if GrantScope::of_grant(&g, filer, now).is_some_and(|reach| {
            reach.covers_call(filer, agent, tool, conversation_id, approvals_required)
        }) {
            return Ok(Some(g));
        }
    }
    Ok(None)
}

/// Counts one approval `g` made (its last allowed one ends it, with its event).
pub(super) fn record_use(op: &mut Op, g: &mut Grant) -> StoreResult<()> {
    let ended = rules::use_grant(g, op.now);
    op.tx
        .prepare_cached("UPDATE grants SET uses = ?2, expired_at = ?3 WHERE id = ?1")?
        .execute(params![
            g.id,
            to_i64(g.uses),
            g.expired_at.map(|t| t.timestamp_millis())
        ])?;
    if ended {
        op.grant_changed(GrantAction::Expired, EventKind::GrantExpired, g)?;
    }
    Ok(())
}

/// Marks the grants whose duration has run out, each once, with its `grant.expired`;
/// returns when the next one ends. Coverage never waits for this: a grant past its end
/// approves nothing, marked or not.
pub(super) fn sweep(op: &mut Op) -> StoreResult<Option<DateTime<Utc>>> {
    let due = {
        let mut st = op.tx.prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants INDEXED BY grants_ending \
             WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at <= ?1 ORDER BY expires_at, n"
        ))?;
        st.query_map([op.now.timestamp_millis()], grant_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    for mut g in due {
        if rules::expire(&mut g, op.now) {
            op.tx
                .prepare_cached("UPDATE grants SET expired_at = ?2 WHERE id = ?1")?
                .execute(params![g.id, op.now.timestamp_millis()])?;
            op.grant_changed(GrantAction::Expired, EventKind::GrantExpired, &g)?;
        }
    }
    let ms: Option<i64> = op
        .tx
        .prepare_cached(
            "SELECT MIN(expires_at) FROM grants INDEXED BY grants_ending \
             WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(ms.and_then(DateTime::from_timestamp_millis))
}

/// The grants in force, oldest first, with the event sequence number of the same
/// snapshot: neither revoked nor ended (by [`crate::protocol::Grant::in_force`]).
pub(super) fn active(op: &mut Op) -> StoreResult<GrantList> {
    let grants = {
        let mut st = op.tx.prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants \
             WHERE revoked_at IS NULL AND expired_at IS NULL ORDER BY n"
        ))?;
        st.query_map([], grant_row)?
            .filter(|g| match g {
                Ok(g) => g.in_force(op.now),
                Err(_) => true,
            })
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let seq = current_seq(op.tx)?;
    Ok(GrantList {
        grants,
        seq,
        database_id: None,
    })
}

pub(super) fn revoke(op: &mut Op, id: &str, actor: &str) -> StoreResult<Grant> {
    let mut g = op
        .tx
        .prepare_cached(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?1"))?
        .query_row([id], grant_row)
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no grant with id {id}; GET /v1/grants lists the active ones"
            ))
        })?;
    if rules::revoke(&mut g, actor, op.now) {
        op.tx
            .prepare_cached("UPDATE grants SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1")?
            .execute(params![id, op.now.timestamp_millis(), actor])?;
        op.grant_changed(
            GrantAction::Revoked { by: actor },
            EventKind::GrantRevoked,
            &g,
        )?;
    }
    Ok(g)
}

/// The `approvers` column: NULL for a grant one reviewer made, as every grant before it.
fn approvers_col(g: &Grant) -> StoreResult<Option<String>> {
    Ok((!g.approvers.is_empty())
        .then(|| serde_json::to_string(&g.approvers))
        .transpose()?)
}
