//! The Ed25519 keys that sign approval tokens: making one, reading one from a file, and
//! the keyring the server signs with and publishes (`GET /.well-known/jwks.json`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use sha2::{Digest, Sha256};

use crate::store::StoredKey;

/// How long after a key left use another server on the same database may still sign
/// with it: servers re-read the keys this often (`crate::server::token`).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The RFC 7638 JWK thumbprint of an Ed25519 public key (SHA-256, base64url): a `kid`
/// any verifier can recompute from the key itself, so one key has one id everywhere.
pub fn thumbprint(public: &[u8; 32]) -> String {
    // The members in lexicographic order, no whitespace, as RFC 7638 section 3 says.
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The JWK (RFC 8037) of an Ed25519 public key.
pub fn jwk(public: &[u8; 32]) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(thumbprint(public)),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(public),
        }),
    }
}

/// A private key ready to sign, with its `kid`.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub public: [u8; 32],
    pub(super) encoding: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    fn from_key(key: &SigningKey) -> anyhow::Result<Signer> {
        let public = key.verifying_key().to_bytes();
        // jsonwebtoken's EdDSA signer takes the key as PKCS#8 DER.
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
        Ok(Signer {
            kid: thumbprint(&public),
            public,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
        })
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> anyhow::Result<(Signer, StoredKey)> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("no random bytes for a signing key: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        let signer = Signer::from_key(&key)?;
        let stored = StoredKey {
            kid: signer.kid.clone(),
            created_at: Utc::now(),
            public_key: signer.public.to_vec(),
            private_key: Some(seed.to_vec()),
        };
        Ok((signer, stored))
    }

    /// The key a stored row holds, when it holds the private half.
    pub fn from_stored(row: &StoredKey) -> anyhow::Result<Option<Signer>> {
        let Some(seed) = &row.private_key else {
            return Ok(None);
        };
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "signing key {} in the database is not a 32-byte Ed25519 seed",
                row.kid
            )
        })?;
        Signer::from_key(&SigningKey::from_bytes(&seed)).map(Some)
    }

    /// `[server] signing_key_file`: an Ed25519 private key in PKCS#8 PEM, as
    /// `openssl genpkey -algorithm ed25519 -out key.pem` writes it.
    pub fn from_file(path: &Path) -> anyhow::Result<Signer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read signing_key_file {}", path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| {
            anyhow::anyhow!(
                "signing_key_file {} is not an Ed25519 private key in PKCS#8 PEM \
                 (-----BEGIN PRIVATE KEY-----; make one with `openssl genpkey -algorithm \
                 ed25519`): {e}",
                path.display()
            )
        })?;
        Signer::from_key(&key)
    }

    /// The row that records this key's public half (a file's key is kept in its file).
    pub fn public_row(&self, now: DateTime<Utc>) -> StoredKey {
        StoredKey {
            kid: self.kid.clone(),
            created_at: now,
            public_key: self.public.to_vec(),
            private_key: None,
        }
    }
}

/// The key in use and the public keys a verifier may still meet.
#[derive(Debug, Clone)]
pub struct Keyring {
    pub signer: Signer,
    /// Every stored key, oldest first, with when it left use (None: the newest).
    keys: Vec<(StoredKey, Option<DateTime<Utc>>)>,
}

impl Keyring {
    /// `stored`: oldest first, as the store lists them; `signer`: the key to sign with
    /// (the newest stored key with its private half, or the key file's).
    pub fn new(signer: Signer, stored: Vec<StoredKey>) -> Keyring {
        let retired: Vec<Option<DateTime<Utc>>> = (0..stored.len())
            .map(|i| stored.get(i + 1).map(|next| next.created_at))
            .collect();
        Keyring {
            signer,
            keys: stored.into_iter().zip(retired).collect(),
        }
    }

    /// The newest stored key that can sign, if any.
    pub fn newest_signer(stored: &[StoredKey]) -> anyhow::Result<Option<Signer>> {
        match stored.last() {
            Some(row) => Signer::from_stored(row),
            None => Ok(None),
        }
    }

    /// The JWKS at `now`: the key in use, and every older key while a token it signed
    /// may still be unexpired (it left use less than `ttl`, plus another server's
    /// [`REFRESH_INTERVAL`], ago). Newest first.
    pub fn jwks(&self, now: DateTime<Utc>, ttl: Duration) -> JwkSet {
        let keep =
            chrono::Duration::from_std(ttl + REFRESH_INTERVAL).unwrap_or(chrono::Duration::MAX);
        let mut keys = vec![jwk(&self.signer.public)];
        for (row, retired) in self.keys.iter().rev() {
            if row.kid == self.signer.kid {
                continue;
            }
            let published =
                retired.is_none_or(|t| t.checked_add_signed(keep).is_none_or(|end| now < end));
            if let (true, Ok(public)) = (published, <[u8; 32]>::try_from(row.public_key.as_slice()))
                && VerifyingKey::from_bytes(&public).is_ok()
            {
                keys.push(jwk(&public));
            }
        }
        JwkSet { keys }
    }
}

/// What the server signs with: the key file's key, or the newest stored key (made and
/// stored at first start). The key file's public half is recorded in the store so that a
/// later change of file keeps the old key published while its tokens live.
pub async fn load(
    store: &dyn crate::store::Store,
    key_file: Option<&Path>,
) -> anyhow::Result<Keyring> {
    let mut stored = store.signing_keys().await?;
    let signer = match key_file {
        Some(path) => {
            let signer = Signer::from_file(path)?;
            if stored.last().is_none_or(|k| k.kid != signer.kid) {
                store.add_signing_key(signer.public_row(Utc::now())).await?;
                stored = store.signing_keys().await?;
            }
            signer
        }
        None => match Keyring::newest_signer(&stored)? {
            Some(signer) => signer,
            None => {
                let (signer, row) = Signer::generate()?;
                store.add_signing_key(row).await?;
                stored = store.signing_keys().await?;
                // Another server on the same database may have added one meanwhile: the
                // newest wins, for both.
                Keyring::newest_signer(&stored)?.unwrap_or(signer)
            }
        },
    };
    if stored.is_empty() {
        bail!("the store kept no signing key");
    }
    Ok(Keyring::new(signer, stored))
}

/// Makes a new key the one in use (`POST /v1/keys/rotate`); the old ones stay published
/// while their tokens live.
pub async fn rotate(store: &dyn crate::store::Store) -> anyhow::Result<Keyring> {
    let (_, row) = Signer::generate()?;
    store.add_signing_key(row).await?;
    load(store, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u8, created_at: DateTime<Utc>) -> StoredKey {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let public = key.verifying_key().to_bytes();
        StoredKey {
            kid: thumbprint(&public),
            created_at,
            public_key: public.to_vec(),
            private_key: Some(vec![seed; 32]),
        }
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let x: [u8; 32] = x.try_into().unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_retired_key_is_published_until_its_tokens_have_expired() {
        let t0 = Utc::now() - chrono::Duration::hours(1);
        let t1 = t0 + chrono::Duration::minutes(10);
        let (old, new) = (row(1, t0), row(2, t1));
        let signer = Signer::from_stored(&new).unwrap().unwrap();
        let ring = Keyring::new(signer, vec![old.clone(), new.clone()]);
        let ttl = Duration::from_secs(300);
        let kids = |now| -> Vec<String> {
            ring.jwks(now, ttl)
                .keys
                .into_iter()
                .filter_map(|k| k.common.key_id)
                .collect()
        };
        let margin = chrono::Duration::from_std(ttl + REFRESH_INTERVAL).unwrap();
        assert_eq!(kids(t1), [new.kid.clone(), old.kid.clone()]);
        assert_eq!(
            kids(t1 + margin - chrono::Duration::seconds(1)),
            [new.kid.clone(), old.kid.clone()]
        );
        assert_eq!(kids(t1 + margin), [new.kid]);
    }

    #[test]
    fn a_stored_seed_signs_as_the_key_it_was() {
        let r = row(7, Utc::now());
        let s = Signer::from_stored(&r).unwrap().unwrap();
        assert_eq!(s.kid, r.kid);
        assert_eq!(s.public.to_vec(), r.public_key);
        let public_only = StoredKey {
            private_key: None,
            ..r
        };
        assert!(Signer::from_stored(&public_only).unwrap().is_none());
    }
}
