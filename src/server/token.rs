//! Approval tokens on the server: the keyring in force, the one place a token is put on
//! an approved request on its way out, the JWKS and key rotation.
//!
//! Every handler that returns a request to a caller passes it through [`Tokens::attach`]
//! (or [`Tokens::attach_error`] for a 409 that carries one, [`Tokens::attach_event`] for
//! the event stream): the handlers already let only the filing agent and reviewers read a
//! request, and those are exactly the callers that may hold its token.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tokio::sync::watch;

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::config::ServerConfig;
use crate::protocol::{ApprovalRequest, Event};
use crate::store::Store;
use crate::token::keys::{self, Keyring, REFRESH_INTERVAL};
use crate::token::{Claims, sign};

/// How long a tool may cache the JWKS: a rotation's new key is in it within this.
const JWKS_MAX_AGE_SECONDS: u64 = 60;

#[derive(Debug)]
pub struct Tokens {
    issuer: String,
    ttl: Duration,
    key_file: Option<PathBuf>,
    ring: RwLock<Arc<Keyring>>,
}

impl Tokens {
    /// The keys from the store (a new one at first start) or from `signing_key_file`.
    pub async fn load(store: &dyn Store, cfg: &ServerConfig) -> anyhow::Result<Tokens> {
        let ring = keys::load(store, cfg.signing_key_file.as_deref()).await?;
        tracing::info!(kid = %ring.signer.kid, "approval tokens are signed with this key");
        Ok(Tokens {
            issuer: cfg.name.clone(),
            ttl: cfg.approval_token_ttl,
            key_file: cfg.signing_key_file.clone(),
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    fn ring(&self) -> Arc<Keyring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set_ring(&self, ring: Keyring) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
    }

    /// The token of `req`'s approval, put on its decision; nothing for a request that is
    /// not approved, or whose token has expired.
    pub fn attach(&self, req: &mut ApprovalRequest) {
        let Some(claims) = Claims::of(req, &self.issuer, self.ttl) else {
            return;
        };
        if claims.exp <= Utc::now().timestamp() {
            return;
        }
        match sign(&claims, &self.ring().signer) {
            Ok(token) => {
                if let Some(d) = req.decision.as_mut() {
                    d.approval_token = Some(token);
                }
            }
            Err(e) => tracing::error!(id = %req.id, error = %e, "cannot sign an approval token"),
        }
    }

    pub fn attached(&self, mut req: ApprovalRequest) -> ApprovalRequest {
        self.attach(&mut req);
        req
    }

    /// A 409 carrying a request (decided by someone else, or already final).
    pub fn attach_error(&self, mut e: ApiError) -> ApiError {
        if let Some(r) = e.request.as_mut() {
            self.attach(r);
        }
        e
    }

    pub fn attach_event(&self, ev: &mut Event) {
        if let Some(r) = ev.request.as_mut() {
            self.attach(r);
        }
    }

    /// Re-reads the keys, so a rotation made through another server on the same
    /// database is signed with and published here within [`REFRESH_INTERVAL`].
    pub async fn refresh(&self, store: &dyn Store) {
        match keys::load(store, self.key_file.as_deref()).await {
            Ok(ring) => self.set_ring(ring),
            Err(e) => tracing::warn!("cannot re-read the signing keys: {e:#}"),
        }
    }
}

/// Re-reads the keys every [`REFRESH_INTERVAL`] until the server stops.
pub async fn refresh_loop(st: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_INTERVAL) => st.tokens.refresh(st.store.as_ref()).await,
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// The JWKS as the description shows it (RFC 7517 / RFC 8037: Ed25519 keys); the body
/// itself is jsonwebtoken's `JwkSet`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

/// One public key: `kty` `OKP`, `crv` `Ed25519`, `x` the key (base64url), `kid` its id.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    kty: String,
    crv: String,
    x: String,
    kid: Option<String>,
    alg: Option<String>,
    #[schema(rename = "use")]
    use_: Option<String>,
}

/// The answer of `POST /v1/keys/rotate`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rotated {
    /// The key that signs from now on.
    pub kid: String,
    /// The key it replaced (still published until its tokens expire).
    pub previous: String,
    /// Every `kid` the JWKS now holds.
    pub published: Vec<String>,
}

/// `GET /.well-known/jwks.json` (no authentication): the keys a token may be signed by.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "server", security(()),
    responses((status = 200, description = "The public keys approval tokens are signed with",
        body = Jwks)))]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let set = st.tokens.ring().jwks(Utc::now(), st.tokens.ttl);
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECONDS}"),
        )],
        Json(set),
    )
        .into_response()
}

/// `POST /v1/keys/rotate` (admin): a new signing key from now on; the old ones stay in
/// the JWKS until the tokens they signed have expired.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "server",
    responses(
        (status = 200, description = "Rotated", body = Rotated),
        (status = 403, description = "`forbidden`: not an admin token", body = crate::protocol::ErrorResponse),
        (status = 409, description = "`conflict`: the key comes from `signing_key_file`",
            body = crate::protocol::ErrorResponse),
        (status = 500, description = "`internal`: the new key could not be stored",
            body = crate::protocol::ErrorResponse),
    ))]
pub async fn rotate(State(st): State<AppState>, caller: Caller) -> Result<Json<Rotated>, ApiError> {
    caller.require_admin("rotating the signing key")?;
    if let Some(file) = &st.tokens.key_file {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "the signing key comes from [server] signing_key_file ({}): put a new key in \
                 that file and restart the server to rotate it",
                file.display()
            ),
        ));
    }
    let previous = st.tokens.ring().signer.kid.clone();
    let ring = keys::rotate(st.store.as_ref()).await.map_err(|e| {
        tracing::error!("key rotation failed: {e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the new signing key could not be stored; the old one stays in use",
        )
    })?;
    let kid = ring.signer.kid.clone();
    let published: Vec<String> = ring
        .jwks(Utc::now(), st.tokens.ttl)
        .keys
        .into_iter()
        .filter_map(|k| k.common.key_id)
        .collect();
    st.tokens.set_ring(ring);
    tracing::info!(%kid, %previous, actor = caller.name(), "signing key rotated");
    Ok(Json(Rotated {
        kid,
        previous,
        published,
    }))
}
