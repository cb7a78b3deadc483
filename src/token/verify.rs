//! The offline check of an approval token, as a tool would make it: the signature by a
//! key of the JWKS, the expiry, and, when given, the tool (`aud`) and the params
//! (`args_hash`, computed by [`crate::protocol::args_hash`], the store's own function).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::Claims;

/// What the token is checked against, besides its signature and expiry.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The tool about to run: the token's `aud`.
    pub tool: Option<String>,
    /// The params about to be used: their args_hash must be the token's.
    pub params: Option<Value>,
    /// The server's name: the token's `iss`.
    pub issuer: Option<String>,
}

/// Why a token is refused; each has its own exit code (`assent token verify`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an approval token: {0}")]
    Malformed(String),
    #[error(
        "signed by another key: no key {kid} in the JWKS (another server's token, or one whose key was retired)"
    )]
    UnknownKey { kid: String },
    #[error("the signature does not match: the token was altered, or forged")]
    BadSignature,
    #[error("expired at {exp} (the approval's token lives a few minutes)")]
    Expired { exp: String },
    #[error("for another tool: the token approves {approved}, not {expected}")]
    OtherTool { approved: String, expected: String },
    #[error(
        "for other params: the token approves args_hash {approved}, these params hash to {given}"
    )]
    OtherParams { approved: String, given: String },
    #[error("from another server: issued by {issuer}, not {expected}")]
    OtherIssuer { issuer: String, expected: String },
}

/// Exit codes of `assent token verify`, beyond 0 (valid), 1 and 2 (the CLI's own).
impl Refusal {
    pub const EXIT_MALFORMED: u8 = 10;
    pub const EXIT_UNKNOWN_KEY: u8 = 11;
    pub const EXIT_BAD_SIGNATURE: u8 = 12;
    pub const EXIT_EXPIRED: u8 = 13;
    pub const EXIT_OTHER_TOOL: u8 = 14;
    pub const EXIT_OTHER_PARAMS: u8 = 15;
    pub const EXIT_OTHER_ISSUER: u8 = 16;

    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::Malformed(_) => Self::EXIT_MALFORMED,
            Refusal::UnknownKey { .. } => Self::EXIT_UNKNOWN_KEY,
            Refusal::BadSignature => Self::EXIT_BAD_SIGNATURE,
            Refusal::Expired { .. } => Self::EXIT_EXPIRED,
            Refusal::OtherTool { .. } => Self::EXIT_OTHER_TOOL,
            Refusal::OtherParams { .. } => Self::EXIT_OTHER_PARAMS,
            Refusal::OtherIssuer { .. } => Self::EXIT_OTHER_ISSUER,
        }
    }
}

/// The key `kid` of `jwks`, if it is an Ed25519 key (RFC 8037) of 32 bytes.
fn key_of(jwks: &JwkSet, kid: &str) -> Result<DecodingKey, Refusal> {
    let unknown = || Refusal::UnknownKey {
        kid: kid.to_owned(),
    };
    let jwk = jwks.find(kid).ok_or_else(unknown)?;
    match &jwk.algorithm {
        // The length is checked here: a verifier would otherwise read past a short key.
        AlgorithmParameters::OctetKeyPair(okp)
            if okp.curve == EllipticCurve::Ed25519
                && URL_SAFE_NO_PAD.decode(&okp.x).is_ok_and(|x| x.len() == 32) =>
        {
            DecodingKey::from_jwk(jwk).map_err(|_| unknown())
        }
        _ => Err(unknown()),
    }
}

/// Checks `token` against `jwks` at the current time; the claims when it is valid.
pub fn verify(token: &str, jwks: &JwkSet, expect: &Expect) -> Result<Claims, Refusal> {
    let token = token.trim();
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(Refusal::Malformed(format!(
            "its alg is {:?}, not EdDSA",
            header.alg
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| Refusal::Malformed("its header has no kid".to_owned()))?;
    let key = key_of(jwks, &kid)?;
    let mut v = Validation::new(Algorithm::EdDSA);
    // A tool checks the expiry strictly; the token lives minutes, not hours.
    v.leeway = 0;
    // aud and iss are compared below, so that each mismatch is named.
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "aud", "sub", "iss"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Refusal::BadSignature,
            ErrorKind::ExpiredSignature => Refusal::Expired {
                exp: expiry_of(token),
            },
            _ => Refusal::Malformed(e.to_string()),
        })?
        .claims;
    if let Some(tool) = &expect.tool
        && &claims.aud != tool
    {
        return Err(Refusal::OtherTool {
            approved: claims.aud,
            expected: tool.clone(),
        });
    }
    if let Some(params) = &expect.params {
        let given = crate::protocol::args_hash(params);
        if given != claims.args_hash {
            return Err(Refusal::OtherParams {
                approved: claims.args_hash,
                given,
            });
        }
    }
    if let Some(issuer) = &expect.issuer
        && &claims.iss != issuer
    {
        return Err(Refusal::OtherIssuer {
            issuer: claims.iss,
            expected: issuer.clone(),
        });
    }
    Ok(claims)
}

/// The `exp` of a token whose signature was verified, as RFC 3339, for the message.
fn expiry_of(token: &str) -> String {
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
        .ok()
        .and_then(|c| chrono::DateTime::from_timestamp(c.exp, 0))
        .map_or_else(|| "its exp".to_owned(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::{Keyring, Signer};
    use crate::token::tests::approved;
    use crate::token::{DEFAULT_TTL, sign};
    use std::time::Duration;

    fn setup() -> (Signer, JwkSet, crate::protocol::ApprovalRequest) {
        let (signer, row) = Signer::generate().unwrap();
        let jwks = Keyring::new(signer.clone(), vec![row]).jwks(chrono::Utc::now(), DEFAULT_TTL);
        (signer, jwks, approved("r1"))
    }

    fn expect(r: &crate::protocol::ApprovalRequest) -> Expect {
        Expect {
            tool: Some(r.tool.clone()),
            params: Some(r.params.clone()),
            issuer: Some("srv".into()),
        }
    }

    #[test]
    fn a_token_verifies_and_each_mismatch_is_named() {
        let (signer, jwks, r) = setup();
        let token = sign(&Claims::of(&r, "srv", DEFAULT_TTL).unwrap(), &signer).unwrap();
        let c = verify(&token, &jwks, &expect(&r)).unwrap();
        assert_eq!(c.sub, "r1");

        let mut e = expect(&r);
        e.tool = Some("other".into());
        assert!(matches!(
            verify(&token, &jwks, &e),
            Err(Refusal::OtherTool { .. })
        ));
        let mut e = expect(&r);
        e.params = Some(serde_json::json!({"amount": 1}));
        assert!(matches!(
            verify(&token, &jwks, &e),
            Err(Refusal::OtherParams { .. })
        ));
        let mut e = expect(&r);
        e.issuer = Some("elsewhere".into());
        assert!(matches!(
            verify(&token, &jwks, &e),
            Err(Refusal::OtherIssuer { .. })
        ));

        let (other, _) = Signer::generate().unwrap();
        let forged = sign(&Claims::of(&r, "srv", DEFAULT_TTL).unwrap(), &other).unwrap();
        assert!(matches!(
            verify(&forged, &jwks, &expect(&r)),
            Err(Refusal::UnknownKey { .. })
        ));
        assert_eq!(
            verify("not.a.token", &jwks, &expect(&r))
                .unwrap_err()
                .exit_code(),
            10
        );
    }

    #[test]
    fn a_tampered_payload_or_an_expired_token_is_refused() {
        let (signer, jwks, r) = setup();
        let token = sign(&Claims::of(&r, "srv", DEFAULT_TTL).unwrap(), &signer).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["args_hash"] = Value::String(crate::protocol::args_hash(&serde_json::json!(1)));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&tampered, &jwks, &Expect::default()),
            Err(Refusal::BadSignature)
        );

        let mut old = r.clone();
        if let Some(d) = old.decision.as_mut() {
            d.decided_at -= chrono::Duration::seconds(301);
        }
        let expired = sign(
            &Claims::of(&old, "srv", Duration::from_secs(300)).unwrap(),
            &signer,
        )
        .unwrap();
        assert!(matches!(
            verify(&expired, &jwks, &Expect::default()),
            Err(Refusal::Expired { .. })
        ));
    }
}
