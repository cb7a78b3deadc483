//! Row mapping: the column lists the queries select, and turning their rows back into
//! requests, grants and audit entries. Times are Unix milliseconds.

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;
use serde_json::Value;

use crate::protocol::{
    ApprovalRequest, AuditEntry, Decision, Grant, Outcome, Risk, Scope, Status, TimeoutAction,
};

/// The columns of a request, with `$params` (index 3) for its params.
macro_rules! req_cols {
    ($params:literal) => {
        concat!(
            "id, status, tool, ",
            $params,
            ", args_hash, reason, agent, conversation_id, run_id, tool_call_id, risk, \
             filed_by, created_at, expires_at, outcome, scope, decision_reason, notify_agent, \
             responder, decided_at, grant_id, n, policy, via, escalate_at, escalated_at, on_timeout, approved_params, \
             approved_args_hash, approvals_required, approvals"
        )
    };
}

pub(super) const REQ_COLS: &str = req_cols!("params");

/// The columns of a listed request: its params only when at most `?1` bytes long (a
/// longer value is read apart, once the page has room for it), then the length of the
/// params (index 31) and of its two reasons (32), which SQLite knows without reading
/// the values.
pub(super) const LISTED_COLS: &str = concat!(
    req_cols!("CASE WHEN octet_length(params) <= ?1 THEN params END"),
    ", octet_length(params), \
     COALESCE(octet_length(reason), 0) + COALESCE(octet_length(decision_reason), 0)"
);

pub(super) const GRANT_COLS: &str = "id, scope, agent, tool, conversation_id, created_by, created_at, \
    source_request_id, revoked_at, revoked_by, expires_at, max_uses, uses, expired_at, approvers";

pub(super) const AUDIT_COLS: &str = "seq, at, actor, action, request_id, tool, agent, outcome, scope, reason, args_hash, grant_id, \
     policy, via, prev_hash, hash, approved_args_hash";

fn conversion(idx: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        format!("unknown {what} '{value}' in the database").into(),
    )
}

pub(super) fn time_col(row: &Row, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, "time out of range".into())
    })
}

fn opt_time_col(row: &Row, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time_col(row, idx).map(Some),
    }
}

fn parse_col<T>(
    row: &Row,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| conversion(idx, what, &s))
}

fn opt_parse_col<T>(
    row: &Row,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).ok_or_else(|| conversion(idx, what, &s)),
    }
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    match s {
        "approved" => Some(Outcome::Approved),
        "rejected" => Some(Outcome::Rejected),
        _ => None,
    }
}

/// A request row and its insertion number (the list cursor).
pub(super) fn request_row(row: &Row) -> rusqlite::Result<(i64, ApprovalRequest)> {
    let params = params_col(row, 3)?;
    request_with(row, params)
}

/// The params JSON in column `idx`, parsed where SQLite holds it (no copy of the text).
pub(super) fn params_col(row: &Row, idx: usize) -> rusqlite::Result<Value> {
    let text = row.get_ref(idx)?.as_bytes()?;
    serde_json::from_slice(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// A request row (of [`REQ_COLS`] or [`LISTED_COLS`]) with `params` read already, and its
/// insertion number.
pub(super) fn request_with(row: &Row, params: Value) -> rusqlite::Result<(i64, ApprovalRequest)> {
    let decision = match row.get::<_, Option<String>>(14)? {
        None => None,
        Some(_) => Some(Decision {
            approval_token: None,
            approved_params: json_col(row, 27)?,
            approved_args_hash: row.get(28)?,
            outcome: parse_col(row, 14, "outcome", parse_outcome)?,
            scope: parse_col(row, 15, "scope", Scope::parse)?,
            reason: row.get(16)?,
            notify_agent: row.get::<_, Option<bool>>(17)?.unwrap_or(false),
            responder: row.get::<_, Option<String>>(18)?.unwrap_or_default(),
            decided_at: time_col(row, 19)?,
            grant_id: row.get(20)?,
            // Every decision since version 4 writes it, and the migration filled in the
            // older ones; an empty column is a decided row no assent wrote.
            via: json_col(row, 23)?.unwrap_or_default(),
        }),
    };
    let req = ApprovalRequest {
        id: row.get(0)?,
        status: parse_col(row, 1, "status", Status::parse)?,
        tool: row.get(2)?,
        params,
        args_hash: row.get(4)?,
        reason: row.get(5)?,
        agent: row.get(6)?,
        conversation_id: row.get(7)?,
        run_id: row.get(8)?,
        tool_call_id: row.get(9)?,
        risk: opt_parse_col(row, 10, "risk", Risk::parse)?,
        filed_by: row.get(11)?,
        created_at: time_col(row, 12)?,
        expires_at: opt_time_col(row, 13)?,
        decision: decision.map(Box::new),
        policy: json_col(row, 22)?,
        params_truncated: false,
        params_size: None,
        escalate_at: opt_time_col(row, 24)?,
        escalated_at: opt_time_col(row, 25)?,
        on_timeout: opt_parse_col(row, 26, "on_timeout", TimeoutAction::parse)?.unwrap_or_default(),
        approvals_required: u32::try_from(row.get::<_, i64>(29)?).unwrap_or(1).max(1),
        approvals: json_col(row, 30)?.unwrap_or_default(),
    };
    Ok((row.get(21)?, req))
}

pub(super) fn grant_row(row: &Row) -> rusqlite::Result<Grant> {
    Ok(Grant {
        id: row.get(0)?,
        scope: parse_col(row, 1, "scope", Scope::parse)?,
        agent: row.get(2)?,
        tool: row.get(3)?,
        conversation_id: row.get(4)?,
        created_by: row.get(5)?,
        created_at: time_col(row, 6)?,
        source_request_id: row.get(7)?,
        revoked_at: opt_time_col(row, 8)?,
        revoked_by: row.get(9)?,
        expires_at: opt_time_col(row, 10)?,
        max_uses: row.get::<_, Option<i64>>(11)?.map(|n| n.max(0) as u64),
        uses: row.get::<_, i64>(12)?.max(0) as u64,
        expired_at: opt_time_col(row, 13)?,
        approvers: json_col(row, 14)?.unwrap_or_default(),
    })
}

/// An optional JSON column.
fn json_col<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))),
    }
}

pub(super) fn audit_row(row: &Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.get::<_, i64>(0)?.max(0) as u64,
        at: time_col(row, 1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        request_id: row.get(4)?,
        tool: row.get(5)?,
        agent: row.get(6)?,
        outcome: row.get(7)?,
        scope: opt_parse_col(row, 8, "scope", Scope::parse)?,
        reason: row.get(9)?,
        args_hash: row.get(10)?,
        grant_id: row.get(11)?,
        policy: json_col(row, 12)?,
        via: json_col(row, 13)?,
        prev_hash: row.get(14)?,
        hash: row.get(15)?,
        approved_args_hash: row.get(16)?,
    })
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn limit_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Cuts `rows`, read with one row more than `limit`, down to `limit`; when there was
/// more, returns the key of the last row kept, where the next page starts after.
pub(super) fn next_page<T, K>(rows: &mut Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Option<K> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(key)
}
