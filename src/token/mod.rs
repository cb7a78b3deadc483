//! Approval tokens (issue 16): a compact JWS, signed with Ed25519 (`alg: EdDSA`), that
//! a tool checks for itself, offline, with nothing but the server's public keys.
//!
//! A token is not stored: it is derived from the stored decision whenever an approved
//! request is returned (`crate::server::token`). Ed25519 signatures are deterministic and
//! every claim comes from the request as recorded (iat = `decided_at`), so the token a
//! caller gets is the same each time it asks, until a key rotation (then it is signed
//! again by the new key, with the same claims and `jti`). That keeps the stores free of
//! a token column and makes every path that returns a request (filing, get, list,
//! decide, wait, cancel's 409, the events) carry the same token without each one being
//! told.
//!
//! - `keys`: making, reading and publishing the keys (JWKS)
//! - `verify`: the offline check `assent token verify` makes
//! - `cmd`: `assent token verify|rotate`

pub mod cmd;
pub mod keys;
pub mod verify;

use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::protocol::{ApprovalRequest, Status};
use keys::Signer;

/// `typ` of the header: a JWT (RFC 7519), so any JWT library reads it.
pub const TYP: &str = "JWT";

/// Default lifetime of a token from the approval (`[server] approval_token_ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The claims of an approval token (docs/api.md, "Approval tokens").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The server's `[server] name`.
    pub iss: String,
    /// The request id.
    pub sub: String,
    /// The tool the approval is for.
    pub aud: String,
    /// The approved params' `args_hash` (`crate::protocol::args_hash`).
    pub args_hash: String,
    pub agent: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// When it was approved (seconds since the epoch).
    pub iat: i64,
    pub exp: i64,
    /// One per approval: the request id (a request is approved at most once).
    pub jti: String,
}

impl Claims {
    /// The claims of `req`'s approval; None unless it is approved.
    pub fn of(req: &ApprovalRequest, issuer: &str, ttl: Duration) -> Option<Claims> {
        let d = req.decision.as_ref()?;
        if req.status != Status::Approved {
            return None;
        }
        let iat = d.decided_at.timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Some(Claims {
            iss: issuer.to_owned(),
            sub: req.id.clone(),
            aud: req.tool.clone(),
            // What the tool runs: the reviewer's edit, if any, else the params filed.
            args_hash: req.args_hash_to_run().to_owned(),
            agent: req.agent.clone(),
            conversation_id: req.conversation_id.clone(),
            iat,
            exp: iat.saturating_add(ttl),
            jti: req.id.clone(),
        })
    }
}

/// Signs `claims` with `signer`: `{"alg":"EdDSA","typ":"JWT","kid":…}`.
pub fn sign(claims: &Claims, signer: &Signer) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(TYP.to_owned());
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, claims, &signer.encoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decision, Outcome, Scope, Via};
    use crate::store::fixtures::request;

    pub(crate) fn approved(id: &str) -> ApprovalRequest {
        let mut r = request(id, Status::Approved);
        r.decision = Some(Box::new(Decision {
            approval_token: None,
            approved_params: None,
            approved_args_hash: None,
            outcome: Outcome::Approved,
            scope: Scope::Once,
            reason: None,
            notify_agent: false,
            responder: "alice".into(),
            decided_at: chrono::Utc::now(),
            grant_id: None,
            via: Via::Person,
        }));
        r
    }

    #[test]
    fn only_an_approval_has_claims_and_they_are_the_requests() {
        let r = approved("r1");
        let c = Claims::of(&r, "assent-test", DEFAULT_TTL).unwrap();
        assert_eq!((c.sub.as_str(), c.jti.as_str()), ("r1", "r1"));
        assert_eq!(c.aud, r.tool);
        assert_eq!(c.args_hash, r.args_hash);
        assert_eq!(c.exp - c.iat, 300);
        let mut rejected = r.clone();
        rejected.status = Status::Rejected;
        assert!(Claims::of(&rejected, "x", DEFAULT_TTL).is_none());
        assert!(Claims::of(&request("r2", Status::Pending), "x", DEFAULT_TTL).is_none());
    }

    #[test]
    fn signing_is_deterministic() {
        let (signer, _) = Signer::generate().unwrap();
        let c = Claims::of(&approved("r1"), "x", DEFAULT_TTL).unwrap();
        assert_eq!(sign(&c, &signer).unwrap(), sign(&c, &signer).unwrap());
    }
}
