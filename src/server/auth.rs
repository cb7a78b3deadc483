//! Who is calling and what they may do. Tokens come from the config only; the server
//! keeps their SHA-256 digests and compares a presented token's digest with every one of
//! them in constant time, so neither the secret's content nor its length leaks through
//! timing. Tokens are never logged. The [`Caller`] carries the role checks every handler
//! asks: by role, and which requests a caller may read.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::TokenConfig;
use crate::protocol::{ApprovalRequest, Identity, Role};

#[derive(Clone)]
struct Known {
    digest: [u8; 32],
    identity: Identity,
}

/// The identities the server knows, by token digest.
#[derive(Clone, Default)]
pub struct Auth {
    known: Vec<Known>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: digests are not secrets, but nothing here needs them printed.
        let names: Vec<&str> = self
            .known
            .iter()
            .map(|k| k.identity.name.as_str())
            .collect();
        f.debug_struct("Auth").field("names", &names).finish()
    }
}

impl Auth {
    pub fn from_config(tokens: &[TokenConfig]) -> anyhow::Result<Auth> {
        let mut known = Vec::with_capacity(tokens.len());
        for t in tokens {
            let digest: [u8; 32] = match (&t.token, &t.token_sha256) {
                (Some(tok), None) => Sha256::digest(tok.as_bytes()).into(),
                (None, Some(hex_digest)) => hex::decode(hex_digest.trim())
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "token '{}': token_sha256 must be 64 hex characters (sha256sum of \
                             the token)",
                            t.name
                        )
                    })?,
                _ => anyhow::bail!(
                    "token '{}' needs exactly one of `token` and `token_sha256`",
                    t.name
                ),
            };
            // Two names on one secret would let one person act as the other (a reviewer's
            // token authenticating as an admin): refuse the config instead.
            if let Some(other) = known.iter().find(|k: &&Known| k.digest == digest) {
                anyhow::bail!(
                    "tokens '{}' and '{}' have the same secret: give each identity its own token",
                    other.identity.name,
                    t.name
                );
            }
            known.push(Known {
                digest,
                identity: Identity {
                    name: t.name.clone(),
                    role: t.role,
                },
            });
        }
        Ok(Auth { known })
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The identity holding `token`, if any.
    pub fn identify(&self, token: &str) -> Option<&Identity> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        // No early exit: every digest is compared, whichever matches.
        for k in &self.known {
            if bool::from(k.digest.ct_eq(&digest)) {
                found = Some(&k.identity);
            }
        }
        found
    }
}

/// The authenticated caller of a /v1 endpoint.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    fn need(&self, ok: bool, needed: &str) -> Result<(), ApiError> {
        if ok {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "token '{}' has role {}; this endpoint needs the {needed} role (or admin)",
                self.0.name,
                role_name(self.0.role)
            )))
        }
    }

    /// Filing, waiting and cancelling: agent or admin.
    pub fn require_agent(&self) -> Result<(), ApiError> {
        self.need(self.0.role.can_act_as_agent(), "agent")
    }

    /// Listing, streaming, deciding, grants and audit: reviewer or admin.
    pub fn require_reviewer(&self) -> Result<(), ApiError> {
        self.need(self.0.role.can_review(), "reviewer")
    }

    /// Operating the server itself (`what` it is, for the message): admin only.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "token '{}' is not an admin; {what} needs the admin role",
                self.0.name
            )))
        }
    }

    /// Reading one request: agents read only what they filed; reviewers and admins read
    /// everything.
    pub fn require_can_read(&self, req: &ApprovalRequest) -> Result<(), ApiError> {
        if self.0.role == Role::Agent && req.filed_by != self.0.name {
            return Err(ApiError::forbidden(format!(
                "request {} was filed by another token; an agent token reads only its own \
                 requests",
                req.id
            )));
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Agent => "agent",
        Role::Reviewer => "reviewer",
        Role::Admin => "admin",
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "no Authorization header: send `Authorization: Bearer TOKEN` with a token from \
                 the server's [[server.tokens]]",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer TOKEN`",
            ));
        };
        match Arc::<Auth>::from_ref(state).identify(token) {
            Some(id) => Ok(Caller(id.clone())),
            None => Err(ApiError::unauthorized(
                "the bearer token is not known to this server: check ASSENT_TOKEN or your token \
                 file against the server's [[server.tokens]]",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(name: &str, role: Role, token: Option<&str>, sha: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            role,
            token: token.map(Into::into),
            token_sha256: sha.map(Into::into),
        }
    }

    #[test]
    fn plain_and_hashed_tokens_identify() {
        let sha = hex::encode(Sha256::digest(b"bob-secret-token"));
        let auth = Auth::from_config(&[
            tok("alice", Role::Reviewer, Some("alice-secret"), None),
            tok("bob", Role::Agent, None, Some(&sha.to_uppercase())),
        ])
        .unwrap();
        assert_eq!(auth.identify("alice-secret").unwrap().name, "alice");
        assert_eq!(auth.identify("bob-secret-token").unwrap().role, Role::Agent);
        assert!(auth.identify("alice-secre").is_none());
        assert!(auth.identify("").is_none());
        assert!(!format!("{auth:?}").contains("secret"));
    }

    #[test]
    fn bad_digest_is_refused() {
        assert!(Auth::from_config(&[tok("x", Role::Agent, None, Some("abcd"))]).is_err());
    }

    #[test]
    fn one_secret_for_two_identities_is_refused() {
        let sha = hex::encode(Sha256::digest(b"shared-secret"));
        let err = Auth::from_config(&[
            tok("alice", Role::Reviewer, Some("shared-secret"), None),
            tok("mallory", Role::Admin, None, Some(&sha)),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("same secret"), "{err}");
    }
}
