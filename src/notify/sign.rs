//! Standard Webhooks signing (standardwebhooks.com): `webhook-signature` is `v1,` and the
//! base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes
//! of the `whsec_…` secret's base64. The signing itself is the specification's own Rust
//! library (`standardwebhooks`), so what a receiver's library checks is what it computes.

use base64::Engine;

/// The three headers of a signed delivery.
pub const ID: &str = "webhook-id";
pub const TIMESTAMP: &str = "webhook-timestamp";
pub const SIGNATURE: &str = "webhook-signature";

/// Shortest key accepted, in bytes: the specification asks for 24 to 64 random bytes;
/// a shorter one is a mistake (a password typed in), not a key.
const MIN_KEY_BYTES: usize = 16;

/// A webhook's signing secret. Never written to a log: its Debug shows nothing of it.
#[derive(Clone)]
pub struct Secret {
    /// The secret as configured; `standardwebhooks::Webhook` is built from it per use
    /// (it is neither Clone nor Debug).
    text: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A `whsec_` secret: the prefix, then base64 of at least 16 bytes.
    pub fn parse(text: &str) -> anyhow::Result<Secret> {
        let text = text.trim();
        let Some(b64) = text.strip_prefix("whsec_") else {
            anyhow::bail!(
                "a webhook secret starts with whsec_ (then base64 of 24 to 64 random bytes)"
            );
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| anyhow::anyhow!("the part after whsec_ is not base64"))?;
        if key.len() < MIN_KEY_BYTES {
            anyhow::bail!(
                "the secret holds {} bytes: use 24 to 64 random bytes (e.g. `openssl rand -base64 32`)",
                key.len()
            );
        }
        Ok(Secret {
            text: text.to_owned(),
        })
    }

    /// The `webhook-signature` of `body` sent as delivery `id` at `timestamp` (unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
        let wh = standardwebhooks::Webhook::new(&self.text)
            .map_err(|e| anyhow::anyhow!("the webhook secret: {e}"))?;
        wh.sign(id, timestamp, body)
            .map_err(|e| anyhow::anyhow!("cannot sign the body: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector the specification's libraries share (its Rust, Python and
    /// JavaScript libraries all check this one).
    #[test]
    fn the_specifications_test_vector() {
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = secret
            .sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#,
            )
            .unwrap();
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn only_whsec_secrets_of_real_keys_are_taken_and_none_is_shown() {
        assert!(Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(Secret::parse("whsec_not base64!").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        let s = Secret::parse("  whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\n").unwrap();
        assert!(!format!("{s:?}").contains("C2FV"));
    }
}
