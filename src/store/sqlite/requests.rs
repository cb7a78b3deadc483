//! Request rows and the operations on them: filing, deciding, cancelling, expiring,
//! reading and listing. Each runs in its [`Op`]; what it may do is [`rules`]' to say.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Params, params};
use serde_json::Value;

use super::grants;
use super::log::current_seq;
use super::op::Op;
use super::rows::{LISTED_COLS, REQ_COLS, limit_i64, params_col, request_row, request_with};
use crate::protocol::{
    ApprovalRequest, DecisionBody, EventKind, Grant, Identity, RequestList, Risk, Status,
};
use crate::store::rules::{self, DecisionPlan, Filing, GrantScope, RequestAction};
use crate::store::{Filed, ListQuery, StoreError, StoreResult};

/// The requests selected by `tail` (`WHERE …`, `ORDER BY …`), with their insertion numbers.
fn select(tx: &Connection, tail: &str, p: impl Params) -> StoreResult<Vec<(i64, ApprovalRequest)>> {
    let mut st = tx.prepare_cached(&format!("SELECT {REQ_COLS} FROM requests {tail}"))?;
    let rows = st
        .query_map(p, request_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The one request selected by `tail`, if any.
fn select_one(tx: &Connection, tail: &str, p: impl Params) -> StoreResult<Option<ApprovalRequest>> {
    let mut st = tx.prepare_cached(&format!("SELECT {REQ_COLS} FROM requests {tail}"))?;
    Ok(st.query_row(p, request_row).optional()?.map(|(_, r)| r))
}

fn require(tx: &Connection, id: &str) -> StoreResult<ApprovalRequest> {
    select_one(tx, "WHERE id = ?1", [id])?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "no request with id {id}; GET /v1/requests lists the known ones"
        ))
    })
}

/// Ends every pending request due at the operation's time as its `on_timeout` says
/// (expired, or rejected by the system), appending its events. Every operation that
/// touches requests calls this first.
pub(super) fn expire_due(op: &mut Op) -> StoreResult<()> {
    // INDEXED BY: left to itself the planner takes the (status, n) index and walks every
    // pending request on every operation (seen at 100,000 pending: filing slowed to a
    // few hundred a second). The partial expiry index holds only what can be due.
    let due = select(
        op.tx,
        "INDEXED BY requests_pending_expiry \
         WHERE status = 'pending' AND expires_at IS NOT NULL \
         AND expires_at <= ?1 ORDER BY expires_at, n",
        [op.now.timestamp_millis()],
    )?;
    for (_, mut req) in due {
        let (action, kind) = rules::end_at_timeout(&mut req, op.now);
        write_decision(op.tx, &req)?;
        op.request_changed(action, kind, &req)?;
    }
    Ok(())
}

/// Escalates every request still pending past its `escalate_at` and not escalated yet.
/// Only the sweep calls this: an escalation is a notice, not a guard.
fn escalate_due(op: &mut Op) -> StoreResult<()> {
    let due = select(
        op.tx,
        "INDEXED BY requests_pending_escalation \
         WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL \
         AND escalate_at <= ?1 ORDER BY escalate_at, n",
        [op.now.timestamp_millis()],
    )?;
    for (n, mut req) in due {
        let (action, kind) = rules::escalate(&mut req, op.now);
        // `escalated_at IS NULL`: the one writer makes it so already; the condition is
        // the statement of the rule, which PostgreSQL's sweeps need too.
        let changed = op
            .tx
            .prepare_cached(
                "UPDATE requests SET escalated_at = ?2 WHERE n = ?1 AND escalated_at IS NULL",
            )?
            .execute(params![n, op.now.timestamp_millis()])?;
        if changed == 1 {
            op.request_changed(action, kind, &req)?;
        }
    }
    Ok(())
}

/// The sweep: ends and escalates what is due; returns when the next expiry or
/// escalation is.
pub(super) fn sweep(op: &mut Op) -> StoreResult<Option<DateTime<Utc>>> {
    expire_due(op)?;
    escalate_due(op)?;
    let next_grant = grants::sweep(op)?;
    let next = |sql: &str| -> StoreResult<Option<DateTime<Utc>>> {
        let ms: Option<i64> = op.tx.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
        Ok(ms.and_then(DateTime::from_timestamp_millis))
    };
    let expiry = next(
        "SELECT MIN(expires_at) FROM requests INDEXED BY requests_pending_expiry \
         WHERE status = 'pending' AND expires_at IS NOT NULL",
    )?;
    let escalation = next(
        "SELECT MIN(escalate_at) FROM requests INDEXED BY requests_pending_escalation \
         WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL",
    )?;
    Ok(rules::next_due(
        rules::next_due(expiry, escalation),
        next_grant,
    ))
}

fn write_decision(tx: &Connection, req: &ApprovalRequest) -> StoreResult<()> {
    let d = req.decision.as_ref();
    tx.prepare_cached(
        "UPDATE requests SET status = ?2, outcome = ?3, scope = ?4, decision_reason = ?5, \
         notify_agent = ?6, responder = ?7, decided_at = ?8, grant_id = ?9, via = ?10, \
         approved_params = ?11, approved_args_hash = ?12, approvals = ?13 WHERE id = ?1",
    )?
    .execute(params![
        req.id,
        req.status.as_str(),
        d.map(|d| d.outcome.as_str()),
        d.map(|d| d.scope.as_str()),
        d.and_then(|d| d.reason.as_deref()),
        d.map(|d| d.notify_agent),
        d.map(|d| d.responder.as_str()),
        d.map(|d| d.decided_at.timestamp_millis()),
        d.and_then(|d| d.grant_id.as_deref()),
        d.map(|d| serde_json::to_string(&d.via)).transpose()?,
        d.and_then(|d| d.approved_params.as_ref())
            .map(serde_json::to_string)
            .transpose()?,
        d.and_then(|d| d.approved_args_hash.as_deref()),
        approvals_col(req)?,
    ])?;
    Ok(())
}

/// The `approvals` column: NULL while there are none.
fn approvals_col(req: &ApprovalRequest) -> StoreResult<Option<String>> {
    Ok((!req.approvals.is_empty())
        .then(|| serde_json::to_string(&req.approvals))
        .transpose()?)
}

/// Inserts `req` as pending (its decision, if any, is written by [`write_decision`]).
fn insert(
    tx: &Connection,
    req: &ApprovalRequest,
    idempotency_key: Option<&str>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO requests (id, status, tool, params, args_hash, reason, agent, \
         conversation_id, run_id, tool_call_id, risk, filed_by, idempotency_key, created_at, \
         expires_at, policy, escalate_at, on_timeout, approvals_required) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19)",
    )?
    .execute(params![
        req.id,
        Status::Pending.as_str(),
        req.tool,
        serde_json::to_string(&req.params)?,
        req.args_hash,
        req.reason,
        req.agent,
        req.conversation_id,
        req.run_id,
        req.tool_call_id,
        req.risk.map(Risk::as_str),
        req.filed_by,
        idempotency_key,
        req.created_at.timestamp_millis(),
        req.expires_at.map(|t| t.timestamp_millis()),
        req.policy.as_ref().map(serde_json::to_string).transpose()?,
        req.escalate_at.map(|t| t.timestamp_millis()),
        on_timeout_col(req),
        req.approvals_required,
    ])?;
    Ok(())
}

/// The `on_timeout` column: NULL for `expire`, what every row before it means.
fn on_timeout_col(req: &ApprovalRequest) -> Option<&'static str> {
    (!req.on_timeout.is_expire()).then(|| req.on_timeout.as_str())
}

/// The request filed earlier with this filing's tool_call_id or idempotency key.
fn find_replay(tx: &Connection, f: &Filing) -> StoreResult<Option<ApprovalRequest>> {
    if let Some(tcid) = &f.new.tool_call_id {
        let found = select_one(
            tx,
            "WHERE filed_by = ?1 AND agent = ?2 AND tool_call_id = ?3",
            params![f.filer, f.new.agent, tcid],
        )?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match &f.opts.idempotency_key {
        Some(key) => select_one(
            tx,
            "WHERE filed_by = ?1 AND idempotency_key = ?2",
            params![f.filer, key],
        ),
        None => Ok(None),
    }
}

pub(super) fn file(op: &mut Op, filing: Filing) -> StoreResult<Filed> {
    expire_due(op)?;
    if let Some(existing) = find_replay(op.tx, &filing)? {
        filing.check_replay(&existing)?;
        return Ok(Filed {
            request: existing,
            created: false,
        });
    }
    // The grant that approves it, if one does: its use is counted once the request is in.
    let mut used = None;
    let decision = filing.birth_decision(op.now, || {
        let new = &filing.new;
        let g = grants::covering(
            op.tx,
            op.now,
            &filing.filer,
            &new.agent,
            &new.tool,
            new.conversation_id.as_deref(),
            filing.opts.approvals_required,
        )?;
        used.clone_from(&g);
        Ok(g)
    })?;
    let key = filing.opts.idempotency_key.clone();
    let req = filing.into_request(decision, op.now);
    insert(op.tx, &req, key.as_deref())?;
    op.audit_request(RequestAction::Filed, &req)?;
    if req.decision.is_some() {
        write_decision(op.tx, &req)?;
        op.audit_request(RequestAction::Decided, &req)?;
    }
    // One event for the new request, as born: pending, or already decided by the
    // policy or a grant.
    op.request_event(EventKind::RequestCreated, &req)?;
    if let Some(mut g) = used {
        grants::record_use(op, &mut g)?;
    }
    Ok(Filed {
        request: req,
        created: true,
    })
}

pub(super) fn decide(
    op: &mut Op,
    id: &str,
    responder: &str,
    body: DecisionBody,
) -> StoreResult<ApprovalRequest> {
    expire_due(op)?;
    let mut req = require(op.tx, id)?;
    // On an error the savepoint rolls back: a failed call changes nothing, and an expiry
    // it saw is done (and published) by the next operation or the sweeper.
    let mut decision = match rules::plan_decision(&req, responder, &body, op.now)? {
        DecisionPlan::Apply(d) => d,
        DecisionPlan::Replay => return Ok(req),
        DecisionPlan::AddApproval(a) => {
            rules::add_approval(&mut req, a);
            write_decision(op.tx, &req)?;
            op.request_changed(
                RequestAction::ApprovalAdded,
                EventKind::RequestApprovalAdded,
                &req,
            )?;
            return Ok(req);
        }
    };
    let grant = rules::conclude(&mut req, &mut decision, &body);
    if let Some(g) = &grant {
        grants::insert(op.tx, g, &req.filed_by)?;
    }
    rules::apply_decision(&mut req, decision);
    write_decision(op.tx, &req)?;
    op.request_changed(RequestAction::Decided, EventKind::RequestDecided, &req)?;
    if let Some(mut g) = grant {
        op.grant_changed(rules::GrantAction::Created, EventKind::GrantCreated, &g)?;
        approve_covered(op, &mut g, &req.filed_by)?;
    }
    Ok(req)
}

/// Approves the pending requests that the new grant `g` (for requests of `filer`)
/// covers, oldest first, while it is in force (a use limit may end it on the way). The
/// index narrows the rows to the pending requests of that token, agent and tool;
/// [`GrantScope`] says which of them the grant covers.
fn approve_covered(op: &mut Op, g: &mut Grant, filer: &str) -> StoreResult<()> {
    let pending = select(
        op.tx,
        "WHERE status = 'pending' AND filed_by = ?1 AND agent = ?2 AND tool = ?3 ORDER BY n",
        params![filer, g.agent, g.tool],
    )?;
    for (_, mut req) in pending {
        let Some(reach) = GrantScope::of_grant(g, filer, op.now) else {
            break;
        };
        if !reach.covers(&req) {
            continue;
        }
        rules::apply_decision(&mut req, rules::grant_decision(g, op.now));
        write_decision(op.tx, &req)?;
        op.request_changed(RequestAction::Decided, EventKind::RequestDecided, &req)?;
        grants::record_use(op, g)?;
    }
    Ok(())
}

pub(super) fn cancel(op: &mut Op, id: &str, actor: &Identity) -> StoreResult<ApprovalRequest> {
    expire_due(op)?;
    let mut req = require(op.tx, id)?;
    rules::cancel(&mut req, actor)?;
    op.tx
        .prepare_cached("UPDATE requests SET status = 'cancelled' WHERE id = ?1")?
        .execute([id])?;
    op.request_changed(
        RequestAction::Cancelled { by: &actor.name },
        EventKind::RequestCancelled,
        &req,
    )?;
    Ok(req)
}

pub(super) fn get(op: &mut Op, id: &str) -> StoreResult<ApprovalRequest> {
    expire_due(op)?;
    require(op.tx, id)
}

pub(super) use rules::list_start;

/// A page of `query` starting at `start` (from [`list_start`]). The rows are read one by
/// one and the page ends at the first that does not fit (the limit, or the byte budget),
/// so a page of large requests reads no more of them than it sends.
pub(super) fn list(op: &mut Op, query: ListQuery, start: i64) -> StoreResult<RequestList> {
    expire_due(op)?;
    let fetch = limit_i64(query.limit.saturating_add(1));
    let inline = limit_i64(rules::inline_params(&query));
    let (cmp, dir) = if query.newest {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let status = if query.status.is_some() {
        "status = ?4 AND "
    } else {
        ""
    };
    let mut st = op.tx.prepare_cached(&format!(
        "SELECT {LISTED_COLS} FROM requests WHERE {status}n {cmp} ?2 ORDER BY n {dir} LIMIT ?3"
    ))?;
    let mut rows = match query.status {
        Some(s) => st.query(params![inline, start, fetch, s.as_str()])?,
        None => st.query(params![inline, start, fetch])?,
    };
    let mut page = rules::Page::new(&query);
    while let Some(row) = rows.next()? {
        let n: i64 = row.get(21)?;
        let size = usize::try_from(row.get::<_, i64>(31)?).unwrap_or(0);
        let reasons = usize::try_from(row.get::<_, i64>(32)?).unwrap_or(0);
        let Some(left_out) = page.admit(size, reasons) else {
            break;
        };
        let params = match row.get_ref(3)? {
            _ if left_out => Value::Null,
            ValueRef::Null => params_of(op.tx, n)?,
            _ => params_col(row, 3)?,
        };
        let (_, req) = request_with(row, params)?;
        page.push(n, req, left_out, size);
    }
    drop(rows);
    Ok(page.finish(current_seq(op.tx)?))
}

/// The params of request `n`, read on their own (see [`rules::INLINE_PARAMS`]).
fn params_of(tx: &Connection, n: i64) -> StoreResult<Value> {
    let mut st = tx.prepare_cached("SELECT params FROM requests WHERE n = ?1")?;
    Ok(st.query_row([n], |row| params_col(row, 0))?)
}

/// Pending requests by risk, leaving out those past their expiry (swept or not).
pub(super) fn pending_counts(
    conn: &Connection,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(Option<Risk>, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT risk, COUNT(*) FROM requests WHERE status = 'pending' \
         AND (expires_at IS NULL OR expires_at > ?1) GROUP BY risk",
    )?;
    let rows = stmt.query_map([now.timestamp_millis()], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (risk, n) = row?;
        // A risk this binary does not know (a newer one wrote it) counts as none rather
        // than failing the scrape.
        out.push((risk.as_deref().and_then(Risk::parse), n.max(0) as u64));
    }
    Ok(out)
}
