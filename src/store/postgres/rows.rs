//! Row mapping: the column lists the queries select, and turning their rows back into
//! requests, grants and audit entries. The columns and their order are SQLite's
//! (`../sqlite/rows.rs`), so the two stores read the same shape; times are Unix ms.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;

use super::fail::{Fail, PgResult};
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

/// The columns of a listed request: its params only when at most `$1` bytes long, then
/// the length of the params (index 31) and of its two reasons (32).
pub(super) const LISTED_COLS: &str = concat!(
    req_cols!("CASE WHEN octet_length(params) <= $1::BIGINT THEN params END"),
    ", octet_length(params)::BIGINT, \
     (COALESCE(octet_length(reason), 0) + COALESCE(octet_length(decision_reason), 0))::BIGINT"
);

pub(super) const GRANT_COLS: &str = "id, scope, agent, tool, conversation_id, created_by, created_at, \
    source_request_id, revoked_at, revoked_by, expires_at, max_uses, uses, expired_at, approvers";

pub(super) const AUDIT_COLS: &str = "seq, at, actor, action, request_id, tool, agent, outcome, scope, reason, args_hash, grant_id, \
     policy, via, prev_hash, hash, approved_args_hash";

fn unknown(what: &str, value: &str) -> Fail {
    Fail::corrupt(format!("unknown {what} '{value}' in the database"))
}

pub(super) fn time(ms: i64) -> PgResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Fail::corrupt("time out of range".into()))
}

pub(super) fn time_col(row: &Row, idx: usize) -> PgResult<DateTime<Utc>> {
    time(row.try_get(idx)?)
}

fn opt_time_col(row: &Row, idx: usize) -> PgResult<Option<DateTime<Utc>>> {
    row.try_get::<_, Option<i64>>(idx)?.map(time).transpose()
}

fn parse_col<T>(row: &Row, idx: usize, what: &str, parse: fn(&str) -> Option<T>) -> PgResult<T> {
    let s: &str = row.try_get(idx)?;
    parse(s).ok_or_else(|| unknown(what, s))
}

fn opt_parse_col<T>(
    row: &Row,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> PgResult<Option<T>> {
    match row.try_get::<_, Option<&str>>(idx)? {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| unknown(what, s)),
    }
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    match s {
        "approved" => Some(Outcome::Approved),
        "rejected" => Some(Outcome::Rejected),
        _ => None,
    }
}

/// A request row of [`REQ_COLS`] and its insertion number (the list cursor).
pub(super) fn request_row(row: &Row) -> PgResult<(i64, ApprovalRequest)> {
    let params = params_col(row, 3)?;
    request_with(row, params)
}

pub(super) fn params_col(row: &Row, idx: usize) -> PgResult<Value> {
    let text: &str = row.try_get(idx)?;
    Ok(serde_json::from_str(text)?)
}

/// A request row (of [`REQ_COLS`] or [`LISTED_COLS`]) with `params` read already.
pub(super) fn request_with(row: &Row, params: Value) -> PgResult<(i64, ApprovalRequest)> {
    let decision = match row.try_get::<_, Option<&str>>(14)? {
        None => None,
        Some(_) => Some(Decision {
            outcome: parse_col(row, 14, "outcome", parse_outcome)?,
            scope: parse_col(row, 15, "scope", Scope::parse)?,
            reason: row.try_get(16)?,
            notify_agent: row.try_get::<_, Option<bool>>(17)?.unwrap_or(false),
            responder: row.try_get::<_, Option<String>>(18)?.unwrap_or_default(),
            decided_at: time_col(row, 19)?,
            grant_id: row.try_get(20)?,
            via: json_col(row, 23)?.unwrap_or_default(),
            approval_token: None,
            approved_params: json_col(row, 27)?,
            approved_args_hash: row.try_get(28)?,
        }),
    };
    let req = ApprovalRequest {
        id: row.try_get(0)?,
        status: parse_col(row, 1, "status", Status::parse)?,
        tool: row.try_get(2)?,
        params,
        args_hash: row.try_get(4)?,
        reason: row.try_get(5)?,
        agent: row.try_get(6)?,
        conversation_id: row.try_get(7)?,
        run_id: row.try_get(8)?,
        tool_call_id: row.try_get(9)?,
        risk: opt_parse_col(row, 10, "risk", Risk::parse)?,
        filed_by: row.try_get(11)?,
        created_at: time_col(row, 12)?,
        expires_at: opt_time_col(row, 13)?,
        decision: decision.map(Box::new),
        policy: json_col(row, 22)?,
        params_truncated: false,
        params_size: None,
        escalate_at: opt_time_col(row, 24)?,
        escalated_at: opt_time_col(row, 25)?,
        on_timeout: opt_parse_col(row, 26, "on_timeout", TimeoutAction::parse)?.unwrap_or_default(),
        approvals_required: u32::try_from(row.try_get::<_, i32>(29)?)
            .unwrap_or(1)
            .max(1),
        approvals: json_col(row, 30)?.unwrap_or_default(),
    };
    Ok((row.try_get(21)?, req))
}

pub(super) fn grant_row(row: &Row) -> PgResult<Grant> {
    Ok(Grant {
        id: row.try_get(0)?,
        scope: parse_col(row, 1, "scope", Scope::parse)?,
        agent: row.try_get(2)?,
        tool: row.try_get(3)?,
        conversation_id: row.try_get(4)?,
        created_by: row.try_get(5)?,
        created_at: time_col(row, 6)?,
        source_request_id: row.try_get(7)?,
        revoked_at: opt_time_col(row, 8)?,
        revoked_by: row.try_get(9)?,
        expires_at: opt_time_col(row, 10)?,
        max_uses: row.try_get::<_, Option<i64>>(11)?.map(|n| n.max(0) as u64),
        uses: row.try_get::<_, i64>(12)?.max(0) as u64,
        expired_at: opt_time_col(row, 13)?,
        approvers: json_col(row, 14)?.unwrap_or_default(),
    })
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> PgResult<Option<T>> {
    match row.try_get::<_, Option<&str>>(idx)? {
        None => Ok(None),
        Some(text) => Ok(Some(serde_json::from_str(text)?)),
    }
}

pub(super) fn audit_row(row: &Row) -> PgResult<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get::<_, i64>(0)?.max(0) as u64,
        at: time_col(row, 1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        request_id: row.try_get(4)?,
        tool: row.try_get(5)?,
        agent: row.try_get(6)?,
        outcome: row.try_get(7)?,
        scope: opt_parse_col(row, 8, "scope", Scope::parse)?,
        reason: row.try_get(9)?,
        args_hash: row.try_get(10)?,
        grant_id: row.try_get(11)?,
        policy: json_col(row, 12)?,
        via: json_col(row, 13)?,
        prev_hash: row.try_get(14)?,
        hash: row.try_get(15)?,
        approved_args_hash: row.try_get(16)?,
    })
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn limit_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
