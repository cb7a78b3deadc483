//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the API, generated from the
//! wire types (`utoipa::ToSchema` on src/protocol.rs) and the handlers' `#[utoipa::path]`.
//!
//! [`routes`] is the one table of the API: the router is built from it, and its
//! description comes with it (utoipa-axum's `routes!` takes each handler's method and path
//! from its annotation), so a route cannot be served without being described. The server
//! adds only its fallbacks to what [`routes`] gives.
//!
//! Reading the description needs no token: it says what the API is, nothing of what it
//! holds, and tools (code generators, a proxy's validator) fetch it before they have one.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Spec, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;
use super::{api, deliveries, events, hooks, metrics, policy, token, wait};
use crate::protocol::ErrorResponse;

/// The security scheme every `/v1` call but this one names.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "assent approval API",
        description = "The human approval of AI-agent tool calls: agents file requests, \
                       reviewers decide, agents wait. docs/api.md is the prose contract; \
                       every error body is `ErrorResponse`.",
        license(name = "MIT OR Apache-2.0")
    ),
    security(("bearer" = [])),
    components(schemas(ErrorResponse)),
    tags(
        (name = "requests", description = "Filing, reading, waiting on and deciding requests"),
        (name = "grants", description = "Standing approvals"),
        (name = "events", description = "The event stream and the audit log"),
        (name = "hooks", description = "Agent tools' own hook protocols"),
        (name = "server", description = "Health, identity, policy and this description"),
    )
)]
struct ApiDoc;

/// Every route of the API with its description. The server's router is this, plus the
/// fallbacks for unknown paths and methods.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::healthz))
        .routes(routes!(openapi_json))
        .routes(routes!(api::whoami))
        .routes(routes!(api::file, api::list))
        .routes(routes!(api::get))
        .routes(routes!(wait::wait))
        .routes(routes!(api::decide))
        .routes(routes!(api::cancel))
        .routes(routes!(api::grants))
        .routes(routes!(api::revoke))
        .routes(routes!(api::audit))
        .routes(routes!(deliveries::deliveries))
        .routes(routes!(policy::reload))
        .routes(routes!(events::events))
        .routes(routes!(hooks::claude_code))
        .routes(routes!(metrics::scrape))
        .routes(routes!(token::jwks))
        .routes(routes!(token::rotate))
}

/// The description, as served.
pub fn spec() -> Spec {
    let mut api = routes().split_for_parts().1;
    // After the routes are in: a modifier given to the derive would see no paths yet.
    Common.modify(&mut api);
    api
}

static SPEC_JSON: LazyLock<String> = LazyLock::new(|| {
    spec().to_pretty_json().unwrap_or_else(|e| {
        tracing::error!("cannot serialise the OpenAPI description: {e}");
        "{}".to_owned()
    })
});

/// `GET /v1/openapi.json` (no token needed).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "server",
    security(()),
    responses((status = 200, description = "This description (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SPEC_JSON.as_str(),
    )
}

/// The parts every operation shares: the bearer scheme, and the error answers any `/v1`
/// call can get (401, 500, 503) or any call with a body (400, 408, 413, 415), so each
/// handler's annotation lists only its own; `default` covers what the router itself
/// answers (404 for an unknown path, 405 for a method a path does not take).
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut Spec) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from the server's [[server.tokens]]; its role (agent, \
                         reviewer, admin) decides what it may do",
                    ))
                    .build(),
            ),
        );
        for (path, item) in api.paths.paths.iter_mut() {
            let authenticated = path.starts_with("/v1/") && path != "/v1/openapi.json";
            let ops = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let has_body = op.request_body.is_some();
                let r = &mut op.responses.responses;
                let mut add = |status: &str, what: &str| {
                    r.entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(error(what)));
                };
                if authenticated {
                    add(
                        "401",
                        "`unauthorized`: no token, a header that is not `Bearer …`, or an unknown token",
                    );
                    add(
                        "500",
                        "`internal`: the database failed; details are in the server log",
                    );
                    add(
                        "503",
                        "`unavailable`: the database (PostgreSQL) cannot be reached now; retry",
                    );
                }
                if has_body {
                    add(
                        "400",
                        "`malformed_json` (not JSON) or `invalid_body` (JSON of the wrong shape)",
                    );
                    add("408", "`body_timeout`: the body did not arrive in time");
                    add(
                        "413",
                        "`payload_too_large`: the body is over `[server] max_body_bytes`",
                    );
                    add(
                        "415",
                        "`unsupported_media_type`: no `Content-Type: application/json`",
                    );
                }
                add(
                    "default",
                    "`not_found` for an unknown path, `method_not_allowed` for a method the path does not take",
                );
            }
        }
    }
}

/// An error answer: `ErrorResponse` as JSON.
fn error(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(
                    <ErrorResponse as utoipa::ToSchema>::name(),
                )))
                .build(),
        )
        .build()
}
