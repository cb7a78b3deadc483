//! Request rows and the operations on them: filing, deciding, cancelling, expiring,
//! reading and listing, as SQLite's (`../sqlite/requests.rs`). Each runs in its [`Op`];
//! what it may do is [`rules`]' to say. Rows an operation may change are locked
//! (`FOR UPDATE`) before it reads them to decide, so of two instances deciding one
//! request the second reads the first's decision once it commits.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::fail::PgResult;
use super::grants::{self, Calls};
use super::log::{Op, current_seq};
use super::rows::{LISTED_COLS, REQ_COLS, limit_i64, params_col, request_row, request_with};
use crate::protocol::{
    ApprovalRequest, DecisionBody, EventKind, Grant, Identity, RequestList, Risk, Status,
};
use crate::store::rules::{self, DecisionPlan, Filing, GrantScope, RequestAction};
use crate::store::{Filed, ListQuery, StoreError};

type Params<'a> = [&'a (dyn ToSql + Sync)];

async fn select(
    tx: &Transaction<'_>,
    tail: &str,
    p: &Params<'_>,
) -> PgResult<Vec<(i64, ApprovalRequest)>> {
    let st = tx
        .prepare_cached(&format!("SELECT {REQ_COLS} FROM requests {tail}"))
        .await?;
    tx.query(&st, p).await?.iter().map(request_row).collect()
}

async fn select_one(
    tx: &Transaction<'_>,
    tail: &str,
    p: &Params<'_>,
) -> PgResult<Option<ApprovalRequest>> {
    Ok(select(tx, tail, p)
        .await?
        .into_iter()
        .next()
        .map(|(_, r)| r))
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no request with id {id}; GET /v1/requests lists the known ones"
    ))
}

/// Request `id`, locked for this transaction when `lock`.
async fn require(tx: &Transaction<'_>, id: &str, lock: bool) -> PgResult<ApprovalRequest> {
    let tail = if lock {
        "WHERE id = $1 FOR UPDATE"
    } else {
        "WHERE id = $1"
    };
    Ok(select_one(tx, tail, &[&id])
        .await?
        .ok_or_else(|| not_found(id))?)
}

/// Ends every pending request due at the operation's time as its `on_timeout` says
/// (expired, or rejected by the system), appending its events. Every operation that
/// touches requests calls this first. The rows are locked in insertion order; one
/// another instance is ending (or deciding) is waited for and then, no longer pending,
/// left out (READ COMMITTED reads a locked row again once its lock is released), so each
/// request ends once, whichever instance sweeps.
pub(super) async fn expire_due(op: &mut Op<'_>) -> PgResult<()> {
    if op.swept {
        return Ok(());
    }
    let mut due = select(
        op.tx,
        "WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1 \
         ORDER BY n FOR UPDATE",
        &[&op.now.timestamp_millis()],
    )
    .await?;
    due.sort_by_key(|(n, r)| (r.expires_at, *n));
    for (_, mut req) in due {
        let (action, kind) = rules::end_at_timeout(&mut req, op.now);
        write_decision(op.tx, &req).await?;
        op.request_changed(action, kind, &req);
    }
    op.swept = true;
    Ok(())
}

/// Escalates every request still pending past its `escalate_at` and not escalated yet,
/// once: the row is locked and `escalated_at` written only where it is still null, so of
/// two instances sweeping at once the second finds it escalated and appends nothing.
async fn escalate_due(op: &mut Op<'_>) -> PgResult<()> {
    let st = op
        .tx
        .prepare_cached(&format!(
            "UPDATE requests SET escalated_at = $1 WHERE n IN (SELECT n FROM requests \
             WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL \
             AND escalate_at <= $1 ORDER BY n FOR UPDATE) \
             AND status = 'pending' AND escalated_at IS NULL RETURNING {REQ_COLS}"
        ))
        .await?;
    let rows = op.tx.query(&st, &[&op.now.timestamp_millis()]).await?;
    let mut due = rows.iter().map(request_row).collect::<PgResult<Vec<_>>>()?;
    due.sort_by_key(|(n, r)| (r.escalate_at, *n));
    for (_, mut req) in due {
        let (action, kind) = rules::escalate(&mut req, op.now);
        op.request_changed(action, kind, &req);
    }
    Ok(())
}

/// The sweep: ends and escalates what is due; returns when the next expiry or
/// escalation is.
pub(super) async fn sweep(op: &mut Op<'_>) -> PgResult<Option<DateTime<Utc>>> {
    expire_due(op).await?;
    escalate_due(op).await?;
    let next_grant = grants::sweep(op).await?;
    let st = op
        .tx
        .prepare_cached(
            "SELECT (SELECT MIN(expires_at) FROM requests \
             WHERE status = 'pending' AND expires_at IS NOT NULL), \
             (SELECT MIN(escalate_at) FROM requests \
             WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL)",
        )
        .await?;
    let row = op.tx.query_one(&st, &[]).await?;
    let at = |ms: Option<i64>| ms.and_then(DateTime::from_timestamp_millis);
    let next = rules::next_due(at(row.try_get(0)?), at(row.try_get(1)?));
    Ok(rules::next_due(next, next_grant))
}

async fn write_decision(tx: &Transaction<'_>, req: &ApprovalRequest) -> PgResult<()> {
    let d = req.decision.as_ref();
    let via = d.map(|d| serde_json::to_string(&d.via)).transpose()?;
    let approved_params = d
        .and_then(|d| d.approved_params.as_ref())
        .map(serde_json::to_string)
        .transpose()?;
    // NULL while there are none, as on every row before the column.
    let approvals = (!req.approvals.is_empty())
        .then(|| serde_json::to_string(&req.approvals))
        .transpose()?;
    let st = tx
        .prepare_cached(
            "UPDATE requests SET status = $2, outcome = $3, scope = $4, decision_reason = $5, \
             notify_agent = $6, responder = $7, decided_at = $8, grant_id = $9, via = $10, \
             approved_params = $11, approved_args_hash = $12, approvals = $13 WHERE id = $1",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &req.id,
            &req.status.as_str(),
            &d.map(|d| d.outcome.as_str()),
            &d.map(|d| d.scope.as_str()),
            &d.and_then(|d| d.reason.as_deref()),
            &d.map(|d| d.notify_agent),
            &d.map(|d| d.responder.as_str()),
            &d.map(|d| d.decided_at.timestamp_millis()),
            &d.and_then(|d| d.grant_id.as_deref()),
            &via,
            &approved_params,
            &d.and_then(|d| d.approved_args_hash.as_deref()),
            &approvals,
        ],
    )
    .await?;
    Ok(())
}

/// Inserts `req` as pending (its decision, if any, is written by [`write_decision`]).
async fn insert(
    tx: &Transaction<'_>,
    req: &ApprovalRequest,
    idempotency_key: Option<&str>,
) -> PgResult<()> {
    let params = serde_json::to_string(&req.params)?;
    let policy = req.policy.as_ref().map(serde_json::to_string).transpose()?;
    let st = tx
        .prepare_cached(
            "INSERT INTO requests (id, status, tool, params, args_hash, reason, agent, \
             conversation_id, run_id, tool_call_id, risk, filed_by, idempotency_key, created_at, \
             expires_at, policy, escalate_at, on_timeout, approvals_required) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19)",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &req.id,
            &Status::Pending.as_str(),
            &req.tool,
            &params,
            &req.args_hash,
            &req.reason,
            &req.agent,
            &req.conversation_id,
            &req.run_id,
            &req.tool_call_id,
            &req.risk.map(Risk::as_str),
            &req.filed_by,
            &idempotency_key,
            &req.created_at.timestamp_millis(),
            &req.expires_at.map(|t| t.timestamp_millis()),
            &policy,
            &req.escalate_at.map(|t| t.timestamp_millis()),
            // NULL for `expire`, what every row before the column means.
            &(!req.on_timeout.is_expire()).then(|| req.on_timeout.as_str()),
            &i32::try_from(req.approvals_required).unwrap_or(i32::MAX),
        ],
    )
    .await?;
    Ok(())
}

/// The request filed earlier with this filing's tool_call_id or idempotency key.
async fn find_replay(tx: &Transaction<'_>, f: &Filing) -> PgResult<Option<ApprovalRequest>> {
    if let Some(tcid) = &f.new.tool_call_id {
        let found = select_one(
            tx,
            "WHERE filed_by = $1 AND agent = $2 AND tool_call_id = $3",
            &[&f.filer, &f.new.agent, tcid],
        )
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match &f.opts.idempotency_key {
        Some(key) => {
            select_one(
                tx,
                "WHERE filed_by = $1 AND idempotency_key = $2",
                &[&f.filer, key],
            )
            .await
        }
        None => Ok(None),
    }
}

/// Files `filing`. Two concurrent filings of one call (same tool_call_id or key) race for
/// the unique index; the loser's operation is run again and finds the winner's request.
pub(super) async fn file(op: &mut Op<'_>, filing: Filing) -> PgResult<Filed> {
    expire_due(op).await?;
    if let Some(existing) = find_replay(op.tx, &filing).await? {
        filing.check_replay(&existing)?;
        return Ok(Filed {
            request: existing,
            created: false,
        });
    }
    let new = &filing.new;
    grants::lock_calls(op.tx, &filing.filer, &new.agent, &new.tool, Calls::File).await?;
    // The rules ask for the covering grant synchronously; the candidates are read first.
    let candidates =
        grants::candidates(op.tx, op.now, &filing.filer, &new.agent, &new.tool).await?;
    // The grant that approves it, if one does: its use is counted once the request is in.
    let mut used = None;
    let decision = filing.birth_decision(op.now, || {
        used = candidates.into_iter().find(|g| {
            GrantScope::of_grant(g, &filing.filer, op.now).is_some_and(|reach| {
                reach.covers_call(
                    &filing.filer,
                    &new.agent,
                    &new.tool,
                    new.conversation_id.as_deref(),
                    filing.opts.approvals_required,
                )
            })
        });
        Ok(used.clone())
    })?;
    let key = filing.opts.idempotency_key.clone();
    let req = filing.into_request(decision, op.now);
    insert(op.tx, &req, key.as_deref()).await?;
    op.audit_request(RequestAction::Filed, &req);
    if req.decision.is_some() {
        write_decision(op.tx, &req).await?;
        op.audit_request(RequestAction::Decided, &req);
    }
    op.request_event(EventKind::RequestCreated, &req);
    if let Some(mut g) = used {
        grants::record_use(op, &mut g).await?;
    }
    Ok(Filed {
        request: req,
        created: true,
    })
}

pub(super) async fn decide(
    op: &mut Op<'_>,
    id: &str,
    responder: &str,
    body: DecisionBody,
) -> PgResult<ApprovalRequest> {
    expire_due(op).await?;
    let mut req = require(op.tx, id, true).await?;
    let mut decision = match rules::plan_decision(&req, responder, &body, op.now)? {
        DecisionPlan::Apply(d) => d,
        DecisionPlan::Replay => return Ok(req),
        DecisionPlan::AddApproval(a) => {
            rules::add_approval(&mut req, a);
            write_decision(op.tx, &req).await?;
            op.request_changed(
                RequestAction::ApprovalAdded,
                EventKind::RequestApprovalAdded,
                &req,
            );
            return Ok(req);
        }
    };
    let grant = rules::conclude(&mut req, &mut decision, &body);
    if let Some(g) = &grant {
        grants::lock_calls(op.tx, &req.filed_by, &g.agent, &g.tool, Calls::Grant).await?;
        grants::insert(op.tx, g, &req.filed_by).await?;
    }
    rules::apply_decision(&mut req, decision);
    write_decision(op.tx, &req).await?;
    op.request_changed(RequestAction::Decided, EventKind::RequestDecided, &req);
    if let Some(mut g) = grant {
        op.grant_changed(rules::GrantAction::Created, EventKind::GrantCreated, &g);
        approve_covered(op, &mut g, &req.filed_by).await?;
    }
    Ok(req)
}

/// Approves the pending requests that the new grant `g` (for requests of `filer`)
/// covers, oldest first, while it is in force (a use limit may end it on the way).
async fn approve_covered(op: &mut Op<'_>, g: &mut Grant, filer: &str) -> PgResult<()> {
    let pending = select(
        op.tx,
        "WHERE status = 'pending' AND filed_by = $1 AND agent = $2 AND tool = $3 \
         ORDER BY n FOR UPDATE",
        &[&filer, &g.agent, &g.tool],
    )
    .await?;
    for (_, mut req) in pending {
        // A row another transaction decided while this one waited for its lock is read
        // as it now stands, no longer pending.
        let Some(reach) = GrantScope::of_grant(g, filer, op.now) else {
            break;
        };
        if req.status != Status::Pending || !reach.covers(&req) {
            continue;
        }
        rules::apply_decision(&mut req, rules::grant_decision(g, op.now));
        write_decision(op.tx, &req).await?;
        op.request_changed(RequestAction::Decided, EventKind::RequestDecided, &req);
        grants::record_use(op, g).await?;
    }
    Ok(())
}

pub(super) async fn cancel(
    op: &mut Op<'_>,
    id: &str,
    actor: &Identity,
) -> PgResult<ApprovalRequest> {
    expire_due(op).await?;
    let mut req = require(op.tx, id, true).await?;
    rules::cancel(&mut req, actor)?;
    let st = op
        .tx
        .prepare_cached("UPDATE requests SET status = 'cancelled' WHERE id = $1")
        .await?;
    op.tx.execute(&st, &[&id]).await?;
    op.request_changed(
        RequestAction::Cancelled { by: &actor.name },
        EventKind::RequestCancelled,
        &req,
    );
    Ok(req)
}

pub(super) async fn get(op: &mut Op<'_>, id: &str) -> PgResult<ApprovalRequest> {
    expire_due(op).await?;
    require(op.tx, id, false).await
}

pub(super) use crate::store::rules::list_start;

/// A page of `query` starting at `start`. The seq is read before the rows (after this
/// operation's own expiries are appended), so the page is at least as new as the seq: a
/// stream resumed from it may repeat a change the page shows, never miss one.
pub(super) async fn list(op: &mut Op<'_>, query: ListQuery, start: i64) -> PgResult<RequestList> {
    expire_due(op).await?;
    op.append().await?;
    let seq = current_seq(op.tx).await?;
    let fetch = limit_i64(query.limit.saturating_add(1));
    let inline = limit_i64(crate::store::rules::inline_params(&query));
    let (cmp, dir) = if query.newest {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let status_filter = if query.status.is_some() {
        "status = $4 AND "
    } else {
        ""
    };
    let st = op
        .tx
        .prepare_cached(&format!(
            "SELECT {LISTED_COLS} FROM requests WHERE {status_filter}n {cmp} $2 \
             ORDER BY n {dir} LIMIT $3"
        ))
        .await?;
    let rows = match query.status {
        Some(s) => {
            op.tx
                .query(&st, &[&inline, &start, &fetch, &s.as_str()])
                .await?
        }
        None => op.tx.query(&st, &[&inline, &start, &fetch]).await?,
    };
    let mut page = crate::store::rules::Page::new(&query);
    for row in &rows {
        let n: i64 = row.try_get(21)?;
        let size = usize::try_from(row.try_get::<_, i64>(31)?).unwrap_or(0);
        let reasons = usize::try_from(row.try_get::<_, i64>(32)?).unwrap_or(0);
        let Some(left_out) = page.admit(size, reasons) else {
            break;
        };
        let params = if left_out {
            Value::Null
        } else if row.try_get::<_, Option<&str>>(3)?.is_none() {
            params_of(op.tx, n).await?
        } else {
            params_col(row, 3)?
        };
        let (_, req) = request_with(row, params)?;
        page.push(n, req, left_out, size);
    }
    Ok(page.finish(seq))
}

async fn params_of(tx: &Transaction<'_>, n: i64) -> PgResult<Value> {
    let st = tx
        .prepare_cached("SELECT params FROM requests WHERE n = $1")
        .await?;
    let row = tx.query_one(&st, &[&n]).await?;
    params_col(&row, 0)
}

/// Pending requests by risk, leaving out those past their expiry (swept or not).
pub(super) async fn pending_counts(
    client: &deadpool_postgres::Client,
    now_ms: i64,
) -> PgResult<Vec<(Option<crate::protocol::Risk>, u64)>> {
    let st = client
        .prepare_cached(
            "SELECT risk, COUNT(*) FROM requests WHERE status = 'pending' \
             AND (expires_at IS NULL OR expires_at > $1) GROUP BY risk",
        )
        .await?;
    let mut out = Vec::new();
    for row in client.query(&st, &[&now_ms]).await? {
        let risk: Option<String> = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        // A risk this binary does not know counts as none rather than failing the scrape.
        out.push((
            risk.as_deref().and_then(crate::protocol::Risk::parse),
            n.max(0) as u64,
        ));
    }
    Ok(out)
}
