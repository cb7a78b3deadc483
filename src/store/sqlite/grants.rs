//! Grant rows: creating, finding the one that covers a call, listing the active ones and
//! revoking. What a grant covers is [`GrantScope`]'s to say; SQL only narrows the rows.

use rusqlite::{Connection, OptionalExtension, params};

use super::log::current_seq;
use super::op::Op;
use super::rows::{GRANT_COLS, grant_row};
use crate::protocol::{EventKind, Grant, GrantList};
use crate::store::rules::{self, GrantAction, GrantScope};
use crate::store::{StoreError, StoreResult};

/// Records `g`, which covers requests filed by the token `filer`.
pub(super) fn insert(tx: &Connection, g: &Grant, filer: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO grants (id, scope, agent, tool, conversation_id, filed_by, \
         created_by, created_at, source_request_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
    ])?;
    Ok(())
}

/// The oldest active grant covering a call by `filer`/`agent` of `tool` in
/// `conversation_id`. The index narrows the candidates to the active grants of that
/// token, agent and tool, oldest first; the first one covering the call wins.
pub(super) fn covering(
    tx: &Connection,
    filer: &str,
    agent: &str,
    tool: &str,
    conversation_id: Option<&str>,
) -> StoreResult<Option<Grant>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {GRANT_COLS} FROM grants \
         WHERE filed_by = ?1 AND agent = ?2 AND tool = ?3 AND revoked_at IS NULL ORDER BY n"
    ))?;
    for g in st.query_map(params![filer, agent, tool], grant_row)? {
        let g = g?;
        if GrantScope::of_grant(&g, filer)
            .is_some_and(|reach| reach.covers_call(filer, agent, tool, conversation_id))
        {
            return Ok(Some(g));
        }
    }
    Ok(None)
}

/// The active grants, oldest first, with the event sequence number of the same snapshot.
pub(super) fn active(op: &mut Op) -> StoreResult<GrantList> {
    let grants = {
        let mut st = op.tx.prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants WHERE revoked_at IS NULL ORDER BY n"
        ))?;
        st.query_map([], grant_row)?
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
