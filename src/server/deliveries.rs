//! `GET /v1/deliveries` (admin): the webhook outbox, each delivery's status, attempts and
//! last error, and each webhook's health (failing after a 410, its queue's depth).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::state::AppState;
use crate::protocol::{DeliveryList, DeliveryStatus, ErrorResponse, WebhookHealth};
use crate::store::delivery::DeliveryQuery;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Deliveries after this id (the page before's `next_after`).
    pub after: Option<u64>,
    /// Page size: 1 to 1000 (larger is capped), 100 by default.
    pub limit: Option<usize>,
    /// `pending`, `delivered`, `failed`, or `all` (the default).
    pub status: Option<String>,
    /// Only this webhook's (its `name`).
    pub webhook: Option<String>,
}

/// `GET /v1/deliveries?after=&limit=&status=&webhook=` (admin).
#[utoipa::path(get, path = "/v1/deliveries", tag = "events", params(DeliveryParams),
    responses(
        (status = 200, description = "A page of webhook deliveries, oldest first, and every webhook's health",
            body = DeliveryList),
        (status = 400, description = "`bad_query`: an unknown status, a limit of 0", body = ErrorResponse),
        (status = 403, description = "`forbidden`: not an admin token", body = ErrorResponse),
    ))]
pub async fn deliveries(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<DeliveryParams>,
) -> Result<Json<DeliveryList>, ApiError> {
    caller.require_admin("reading the webhook deliveries")?;
    let status = match p.status.as_deref().unwrap_or("all") {
        "all" => None,
        s => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_query",
                format!(
                    "unknown status '{}': use pending, delivered, failed or all",
                    crate::sanitize::line(s)
                ),
            )
        })?),
    };
    let limit = super::api::page_limit(p.limit)?;
    let q = DeliveryQuery {
        after: p.after.unwrap_or(0),
        limit,
        status,
        webhook: p.webhook,
    };
    let mut list = st.store.deliveries(q).await?;
    // Every configured webhook is listed, those with nothing in the store too.
    if let Some(n) = &st.notifier {
        for name in n.webhooks() {
            if !list.webhooks.iter().any(|w| w.name == name) {
                list.webhooks.push(WebhookHealth {
                    name: name.to_owned(),
                    failing: false,
                    failing_since: None,
                    failing_reason: None,
                    pending: 0,
                });
            }
        }
        list.webhooks.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(Json(list))
}
