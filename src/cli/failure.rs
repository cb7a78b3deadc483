//! How a CLI command fails: the exit code a script sees and the one line that tells a
//! person what to do. The exit codes are an interface (documented in the README):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done |
//! | 1 | unexpected failure ([`EXIT_FAILURE`]) |
//! | 2 | backend unreachable or client set up wrongly, and clap's own usage errors ([`EXIT_UNREACHABLE`]) |
//! | 3 | token refused (401) or lacking the reviewer role (403) ([`EXIT_AUTH`]) |
//! | 4 | not found (404), or an id prefix that matches several ([`EXIT_NOT_FOUND`]) |
//! | 5 | conflict (409: already decided, expired or cancelled) ([`EXIT_CONFLICT`]) |
//! | 6 | refused as invalid (400/422: args_hash mismatch, conversation scope without a conversation) ([`EXIT_INVALID`]) |
//! | 7 | `audit verify`: the audit log's hash chain is broken ([`EXIT_CHAIN_BROKEN`]) |
//!
//! `assent token verify` (`crate::token::cmd`) uses 0, 1 and 2 as above (2: the JWKS or
//! the params could not be read) and one code per reason a token is refused
//! (`crate::token::verify::Refusal`):
//!
//! | code | the token is refused because it is |
//! | --- | --- |
//! | 10 | not an approval token (malformed, not EdDSA, no `kid`) |
//! | 11 | signed by another key (its `kid` is not in the JWKS) |
//! | 12 | altered: the signature does not match |
//! | 13 | expired |
//! | 14 | for another tool (`--tool`) |
//! | 15 | for other params (`--params-file`) |
//! | 16 | from another server (`--issuer`) |

use std::process::ExitCode;

use crate::client::ClientError;
use crate::protocol::ApprovalRequest;
use crate::sanitize;

/// An unexpected failure: the server answered in a way the CLI did not expect, or the
/// output could not be written.
pub const EXIT_FAILURE: u8 = 1;
/// The backend could not be reached, or the client is set up wrongly (no token, a bad
/// config); clap's own usage errors exit 2 as well.
pub const EXIT_UNREACHABLE: u8 = 2;
/// The token was refused (401) or lacks the reviewer role (403).
pub const EXIT_AUTH: u8 = 3;
/// No such request or grant (404), or an id prefix that matches several.
pub const EXIT_NOT_FOUND: u8 = 4;
/// The request is no longer pending (409: already decided, expired or cancelled).
pub const EXIT_CONFLICT: u8 = 5;
/// The backend refused the decision as invalid (400/422).
pub const EXIT_INVALID: u8 = 6;
/// `assent audit verify` found an entry that breaks the hash chain.
pub const EXIT_CHAIN_BROKEN: u8 = 7;

/// What a reviewer tool says when it has no token (the CLI, and the console before it
/// takes the screen), with [`EXIT_UNREACHABLE`].
pub const NO_TOKEN: &str =
    "no token: set ASSENT_TOKEN to a reviewer token (or [console] token_file in the config)";

/// Why a CLI command failed.
#[derive(Debug)]
pub(super) enum Failure {
    Client(ClientError),
    Setup(String),
    /// An id prefix that matches more than one.
    Ambiguous(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

/// Output that cannot be serialised is as unexpected as a malformed answer.
impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Client(ClientError::Protocol(e.to_string()))
    }
}

impl Failure {
    /// Says what went wrong on stderr and gives the exit code for it.
    pub(super) fn report(self, base_url: &str) -> ExitCode {
        match self {
            Failure::Setup(msg) => {
                eprintln!("assent: {msg}");
                ExitCode::from(EXIT_UNREACHABLE)
            }
            Failure::Ambiguous(msg) => {
                eprintln!("assent: {}", sanitize::line(&msg));
                ExitCode::from(EXIT_NOT_FOUND)
            }
            Failure::Client(e) => {
                eprintln!("assent: {}", explain(&e, base_url));
                ExitCode::from(exit_code(&e))
            }
        }
    }
}

pub fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Network { .. } | ClientError::Setup(_) => EXIT_UNREACHABLE,
        ClientError::Api { status, .. } => match status {
            401 | 403 => EXIT_AUTH,
            404 => EXIT_NOT_FOUND,
            409 => EXIT_CONFLICT,
            400 | 422 => EXIT_INVALID,
            _ => EXIT_FAILURE,
        },
        ClientError::Protocol(_) => EXIT_FAILURE,
    }
}

/// The server's message (sanitised: it is untrusted text), and what to do about it, said
/// once: where the server already names the fix, nothing is added.
pub fn explain(e: &ClientError, base_url: &str) -> String {
    let msg = sanitize::line(&e.to_string()).into_owned();
    match e {
        ClientError::Network { .. } => {
            format!("{msg}; check that `assent serve` runs there (--url or ASSENT_URL)")
        }
        ClientError::Api { status: 401, .. } if msg.contains("ASSENT_TOKEN") => msg,
        ClientError::Api { status: 401, .. } => {
            format!("{msg}; check ASSENT_TOKEN (or [console] token_file)")
        }
        ClientError::Api { status: 403, .. } => {
            format!("{msg}; set ASSENT_TOKEN to a reviewer's or an admin's token")
        }
        ClientError::Api { status: 404, .. } if e.is_wrong_endpoint() => format!(
            "{msg}; {} is not the root of an assent backend: check --url or ASSENT_URL (e.g. http://127.0.0.1:7878, without a path)",
            sanitize::line(base_url)
        ),
        ClientError::Api {
            status: 404,
            message,
            ..
        } => {
            // The server's own hint names an API path; the CLI's commands say it better.
            let what = message.split(';').next().unwrap_or(message);
            format!(
                "{} (HTTP 404); check the id: `assent list --status all` lists the requests, `assent grants` the active grants",
                sanitize::line(what.trim())
            )
        }
        ClientError::Api {
            status: 409,
            request: Some(r),
            ..
        } => format!("{msg}; the request now stands: {}", one_line_state(r)),
        _ => msg,
    }
}

fn one_line_state(r: &ApprovalRequest) -> String {
    match &r.decision {
        Some(d) => format!(
            "{} by {} ({} scope){}",
            r.status,
            sanitize::line(&d.responder),
            d.scope,
            d.reason
                .as_deref()
                .map(|s| format!(", reason: {}", sanitize::line(s)))
                .unwrap_or_default()
        ),
        None => r.status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_say_what_to_do_once() {
        let api = |status, code: &str, message: &str| ClientError::Api {
            status,
            code: code.into(),
            message: message.into(),
            request: None,
        };
        let url = "http://127.0.0.1:7878/prefix";
        let e = api(
            401,
            "unauthorized",
            "the bearer token is not known to this server: check ASSENT_TOKEN or your token file",
        );
        assert_eq!(
            explain(&e, url).matches("ASSENT_TOKEN").count(),
            1,
            "{}",
            explain(&e, url)
        );
        let e = api(
            404,
            "not_found",
            "no request with id r1; GET /v1/requests lists the known ones",
        );
        let m = explain(&e, url);
        assert!(
            m.starts_with("no request with id r1 (HTTP 404); check the id"),
            "{m}"
        );
        assert!(!m.contains("GET /v1/requests"), "{m}");
        let e = api(
            404,
            "not_found",
            "no endpoint GET /prefix/v1/requests/r1; see docs/api.md for the API",
        );
        let m = explain(&e, url);
        assert!(
            m.contains("check --url") && !m.contains("check the id"),
            "{m}"
        );
    }

    #[test]
    fn exit_codes_per_class() {
        let api = |status| ClientError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
            request: None,
        };
        assert_eq!(exit_code(&api(401)), EXIT_AUTH);
        assert_eq!(exit_code(&api(403)), EXIT_AUTH);
        assert_eq!(exit_code(&api(404)), EXIT_NOT_FOUND);
        assert_eq!(exit_code(&api(409)), EXIT_CONFLICT);
        assert_eq!(exit_code(&api(422)), EXIT_INVALID);
        assert_eq!(exit_code(&api(500)), EXIT_FAILURE);
        let net = ClientError::Network {
            url: "u".into(),
            detail: "d".into(),
        };
        assert_eq!(exit_code(&net), EXIT_UNREACHABLE);
    }
}
