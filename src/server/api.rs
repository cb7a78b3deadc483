//! The JSON endpoints of the approval API (docs/api.md documents each one).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, JsonBody, optional_header};
use super::state::AppState;
use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, ErrorResponse, Grant, GrantList, Identity,
    NewRequest, RequestList, Status,
};
use crate::store::rules::Filing;
use crate::store::{FileOptions, Filed, ListQuery, StoreError};

/// Page size when a client gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page a client may ask for; larger `limit`s are capped.
pub const MAX_LIMIT: usize = 1000;

/// The page size a client asked for: at least 1, at most [`MAX_LIMIT`].
pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        Some(0) => Err(ApiError::bad_request(
            "bad_query",
            "limit must be at least 1",
        )),
        Some(n) => Ok(n.min(MAX_LIMIT)),
        None => Ok(DEFAULT_LIMIT),
    }
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: a server that answers is up.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// `GET /healthz` (no token).
#[utoipa::path(get, path = "/healthz", tag = "server", security(()),
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// `GET /v1/whoami` (any role).
#[utoipa::path(get, path = "/v1/whoami", tag = "server",
    responses((status = 200, description = "Who the token is", body = Identity)))]
pub async fn whoami(caller: Caller) -> Json<Identity> {
    Json(caller.0)
}

/// `POST /v1/requests` (agent).
#[utoipa::path(post, path = "/v1/requests", tag = "requests",
    request_body = NewRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A retry with the same key and body gets the first answer")),
    responses(
        (status = 201, description = "Filed: pending, or decided at once by the policy or a grant",
            body = ApprovalRequest,
            headers(("Location" = String, description = "`/v1/requests/{id}`"))),
        (status = 200, description = "A replay (same tool_call_id or Idempotency-Key): the request filed first",
            body = ApprovalRequest),
        (status = 400, description = "`malformed_json`, `invalid_body`, or `bad_request` (an Idempotency-Key that is not visible ASCII)",
            body = ErrorResponse),
        (status = 403, description = "`forbidden`: not an agent or admin token", body = ErrorResponse),
        (status = 422, description = "`invalid_request`, `idempotency_mismatch`, `inexact_number`, `duplicate_key` or `params_too_deep`",
            body = ErrorResponse),
    ))]
pub async fn file(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let new: NewRequest = body
        .parse()
        .map_err(|refused| Filing::too_deep_params(body.bytes()).map_or(refused, ApiError::from))?;
    caller.require_agent()?;
    // Before the policy sees the params: its verdict would be on a value other than sent.
    Filing::check_sent_params(body.bytes())?;
    let idempotency_key = optional_header(
        &headers,
        "idempotency-key",
        |v| Some(v.to_owned()),
        || {
            ApiError::bad_request(
                "bad_request",
                "the Idempotency-Key header must be visible ASCII",
            )
        },
    )?;
    let filed = file_as(&st, &caller, new, idempotency_key).await?;
    let req = st.tokens.attached(filed.request);
    if filed.created {
        tracing::debug!(id = %req.id, tool = %req.tool, filer = caller.name(), status = %req.status, "filed");
        let location = format!("/v1/requests/{}", req.id);
        Ok((
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            Json(req),
        )
            .into_response())
    } else {
        Ok((StatusCode::OK, Json(req)).into_response())
    }
}

/// Files `new` for `caller` (an agent, its params checked as sent) the one way every
/// filing goes, whichever endpoint took it: the policy's verdict, then the store, and its
/// events published.
pub async fn file_as(
    st: &AppState,
    caller: &Caller,
    mut new: NewRequest,
    idempotency_key: Option<String>,
) -> Result<Filed, ApiError> {
    let applied = st.policy.apply(&mut new, caller.name());
    let opts = FileOptions {
        idempotency_key,
        // A rule's TTL beats the server's default; the request's own ttl_seconds beats both.
        default_ttl: applied.ttl.or(st.limits.default_ttl),
        policy: applied.recorded,
        // Likewise a rule's escalation and TTL's end beat the server's defaults.
        escalate_after: applied.escalate_after.or(st.limits.escalate_after),
        on_timeout: applied.on_timeout.unwrap_or(st.limits.on_timeout),
        approvals_required: applied.approvals,
    };
    Ok(st.commit(st.store.file(caller.name(), new, opts).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `pending` (the default), `approved`, `rejected`, `expired`, `cancelled` or `all`.
    pub status: Option<String>,
    /// Page size: 1 to 1000 (larger is capped), 100 by default.
    pub limit: Option<usize>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// `oldest` (the default) or `newest`: filing order, or its reverse.
    pub order: Option<String>,
    /// Params longer than this (bytes of JSON) are left out of the page.
    pub params_max_bytes: Option<usize>,
}

/// `GET /v1/requests?status=&limit=&cursor=&order=&params_max_bytes=` (reviewer).
#[utoipa::path(get, path = "/v1/requests", tag = "requests", params(ListParams),
    responses(
        (status = 200, description = "A page of requests", body = RequestList),
        (status = 400, description = "`bad_query`: an unknown status or order, a limit of 0, a bad cursor",
            body = ErrorResponse),
        (status = 403, description = "`forbidden`: not a reviewer or admin token", body = ErrorResponse),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    caller.require_reviewer()?;
    let status = match p.status.as_deref().unwrap_or("pending") {
        "all" => None,
        s => Some(Status::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_query",
                format!(
                    "unknown status '{s}': use pending, approved, rejected, expired, cancelled \
                     or all"
                ),
            )
        })?),
    };
    let limit = page_limit(p.limit)?;
    let newest = match p.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(o) => {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("unknown order '{o}': use oldest or newest"),
            ));
        }
    };
    let q = ListQuery {
        status,
        limit,
        cursor: p.cursor,
        newest,
        max_bytes: st.limits.store.list_page_bytes,
        params_max_bytes: p.params_max_bytes,
    };
    let mut page = st.commit(st.store.list(q).await?);
    page.requests.iter_mut().for_each(|r| st.tokens.attach(r));
    Ok(json_page(page))
}

/// The page as its JSON, written into the body one request at a time as the body is
/// sent: the page is in memory once, as requests, each dropped once written, instead of
/// also whole as one string of JSON (a page of large params doubled the server's memory).
fn json_page(list: RequestList) -> Response {
    const HEAD: &[u8] = b"{\"requests\":[";
    let RequestList {
        requests,
        next_cursor,
        seq,
        database_id,
    } = list;
    let rest = RequestList {
        requests: Vec::new(),
        next_cursor,
        seq,
        database_id,
    };
    // `{"requests":[],…}`: what follows the requests is the rest after the `[`.
    let tail = match serde_json::to_vec(&rest) {
        Ok(json) => match json.strip_prefix(HEAD) {
            Some(tail) => Bytes::copy_from_slice(tail),
            None => return Json(RequestList { requests, ..rest }).into_response(),
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a list page");
            return ApiError::from(StoreError::Backend(e.to_string())).into_response();
        }
    };
    let items = requests.into_iter().enumerate().map(|(i, r)| {
        let mut buf = Vec::with_capacity(1024);
        if i > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, &r).map(|()| Bytes::from(buf))
    });
    let chunks = std::iter::once(Ok(Bytes::from_static(HEAD)))
        .chain(items)
        .chain(std::iter::once(Ok(tail)));
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

/// `GET /v1/requests/{id}` (agent that filed it, reviewer, admin).
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = ApprovalRequest),
        (status = 403, description = "`forbidden`: another agent's request", body = ErrorResponse),
        (status = 404, description = "`not_found`: no such request", body = ErrorResponse),
    ))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApprovalRequest>, ApiError> {
    let req = st.commit(st.store.get(&id).await?);
    caller.require_can_read(&req)?;
    Ok(Json(st.tokens.attached(req)))
}

/// `POST /v1/requests/{id}/decision` (reviewer).
#[utoipa::path(post, path = "/v1/requests/{id}/decision", tag = "requests",
    params(("id" = String, Path, description = "The request's id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided; or, for a request that needs several approvals, one approval added and the request still pending", body = ApprovalRequest),
        (status = 403, description = "`forbidden`: not a reviewer or admin token, or the token that filed a request that needs several approvals", body = ErrorResponse),
        (status = 404, description = "`not_found`: no such request", body = ErrorResponse),
        (status = 409, description = "`not_pending`: already final; `already_approved`: this reviewer gave one of the approvals it needs already; `request` is the request as it now stands",
            body = ErrorResponse),
        (status = 422, description = "`args_hash_mismatch`, `invalid_scope`, `invalid_grant_limit`, `edited_grant`, `invalid_edit`, or edited params refused as a filing's are (`inexact_number`, `duplicate_key`, `params_too_deep`)",
            body = ErrorResponse),
    ))]
pub async fn decide(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBody,
) -> Result<Json<ApprovalRequest>, ApiError> {
    let body: DecisionBody = body
        .parse()
        .map_err(|refused| Filing::too_deep_params(body.bytes()).map_or(refused, ApiError::from))
        .and_then(|parsed: DecisionBody| {
            // Edited params pass the checks a filing's do, on the text as sent: a
            // reviewer must approve exactly the value the tool will run.
            if parsed.params.is_some() {
                Filing::check_sent_params(body.bytes())?;
            }
            Ok(parsed)
        })?;
    caller.require_reviewer()?;
    let result = st.store.decide(&id, caller.name(), body).await;
    let req = st
        .tokens
        .attached(st.commit(result.map_err(|e| st.tokens.attach_error(e.into()))?));
    if let Some(d) = &req.decision {
        tracing::info!(id = %req.id, responder = %d.responder, outcome = d.outcome.as_str(), scope = %d.scope, "decided");
    }
    Ok(Json(req))
}

/// `POST /v1/requests/{id}/cancel` (the agent that filed it, or admin).
#[utoipa::path(post, path = "/v1/requests/{id}/cancel", tag = "requests",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Cancelled", body = ApprovalRequest),
        (status = 403, description = "`forbidden`: not an agent or admin token, or another agent's request",
            body = ErrorResponse),
        (status = 404, description = "`not_found`: no such request", body = ErrorResponse),
        (status = 409, description = "`not_pending`: already final; `request` is the request as it now stands",
            body = ErrorResponse),
    ))]
pub async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApprovalRequest>, ApiError> {
    caller.require_agent()?;
    let result = st.store.cancel(&id, &caller.0).await;
    let req = st.commit(result.map_err(|e| st.tokens.attach_error(e.into()))?);
    tracing::info!(id = %req.id, by = caller.name(), "cancelled");
    Ok(Json(req))
}

/// `GET /v1/grants` (reviewer).
#[utoipa::path(get, path = "/v1/grants", tag = "grants",
    responses(
        (status = 200, description = "Every grant, active and revoked", body = GrantList),
        (status = 403, description = "`forbidden`: not a reviewer or admin token", body = ErrorResponse),
    ))]
pub async fn grants(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<GrantList>, ApiError> {
    caller.require_reviewer()?;
    Ok(Json(st.store.grants().await?))
}

/// `DELETE /v1/grants/{id}` (reviewer).
#[utoipa::path(delete, path = "/v1/grants/{id}", tag = "grants",
    params(("id" = String, Path, description = "The grant's id")),
    responses(
        (status = 200, description = "Revoked (or already revoked)", body = Grant),
        (status = 403, description = "`forbidden`: not a reviewer or admin token", body = ErrorResponse),
        (status = 404, description = "`not_found`: no such grant", body = ErrorResponse),
    ))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, ApiError> {
    caller.require_reviewer()?;
    let g = st.commit(st.store.revoke_grant(&id, caller.name()).await?);
    tracing::info!(grant = %g.id, by = caller.name(), "grant revoked");
    Ok(Json(g))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries after this sequence number (the page before's `next_after`).
    pub after: Option<u64>,
    /// Page size: 1 to 1000 (larger is capped), 100 by default.
    pub limit: Option<usize>,
}

/// `GET /v1/audit?after=&limit=` (reviewer).
#[utoipa::path(get, path = "/v1/audit", tag = "events", params(AuditParams),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditPage),
        (status = 400, description = "`bad_query`", body = ErrorResponse),
        (status = 403, description = "`forbidden`: not a reviewer or admin token", body = ErrorResponse),
    ))]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_reviewer()?;
    let limit = page_limit(p.limit)?;
    Ok(Json(
        st.store.audit_after(p.after.unwrap_or(0), limit).await?,
    ))
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint {method} {}; see docs/api.md for the API",
        uri.path()
    ))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not accept {method}; see docs/api.md for the API",
            uri.path()
        ),
    )
}
