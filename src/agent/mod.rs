//! The agent side: the commands an agent's calls pass through on their way to a reviewer
//! (`assent gate`, `assent hook claude-code`; the MCP gateway joins them here), and what
//! they share.
//!
//! - `filing`: file a request exactly once, wait for its decision, take it back
//! - `stop`: the stop signals, and taking back what a stopped filing got to
//! - `gate`, `hook`: one command each, from its flags to its exit code
//!
//! This file holds what the commands say alike about the backend they talk to.

pub mod filing;
pub mod gate;
pub mod hook;
pub mod mcp;
pub mod stop;

use crate::GlobalOpts;
use crate::client::{Client, ClientError};

/// The command's client, or why there is none. `token_hint` says where this command's
/// token should come from.
fn connect(g: &GlobalOpts, token_hint: &str) -> Result<Client, String> {
    let settings = g.client_settings().map_err(|e| format!("{e:#}"))?;
    let client = Client::new(&settings).map_err(|e| e.to_string())?;
    if !client.has_token() {
        return Err(format!(
            "no token: {token_hint} (or [console] token_file in the config)"
        ));
    }
    Ok(client)
}

/// What to check when the backend could not be reached or is no assent backend at all
/// (`e` is transient, or a wrong endpoint).
fn check_backend(client: &Client, e: &ClientError) -> String {
    if e.is_wrong_endpoint() {
        format!(
            "{} is not the root of an assent backend: check --url or ASSENT_URL",
            client.base_url()
        )
    } else {
        format!(
            "check that `assent serve` runs at {} (--url or ASSENT_URL)",
            client.base_url()
        )
    }
}

/// A command the agent side was to run (the approved command, the MCP server) did not
/// start: says why after `subject` (already sanitised) and gives the gate's exit code
/// for it (127 not found, 126 otherwise), as a shell does.
pub(crate) fn cannot_start(subject: &str, e: &std::io::Error) -> std::process::ExitCode {
    use gate::{EXIT_CANNOT_START, EXIT_COMMAND_NOT_FOUND};
    let (code, what) = match e.kind() {
        std::io::ErrorKind::NotFound => {
            (EXIT_COMMAND_NOT_FOUND, "not found; check the name and PATH")
        }
        std::io::ErrorKind::PermissionDenied => {
            (EXIT_CANNOT_START, "not executable; check its permissions")
        }
        _ => (EXIT_CANNOT_START, "could not be started"),
    };
    eprintln!("assent: {subject} {what} ({e})");
    std::process::ExitCode::from(code)
}

/// Requests as the backend answers them, for the commands' unit tests.
#[cfg(test)]
mod fixtures {
    use chrono::Utc;

    use crate::protocol::{ApprovalRequest, Decision, Outcome, Scope, Status};

    /// A request in `status`, decided by alice when approved or rejected, with `reason`
    /// told to the agent when `notify`.
    pub fn decided(status: Status, notify: bool, reason: Option<&str>) -> ApprovalRequest {
        let outcome = match status {
            Status::Approved => Some(Outcome::Approved),
            Status::Rejected => Some(Outcome::Rejected),
            _ => None,
        };
        ApprovalRequest {
            tool: "shell.exec".into(),
            filed_by: "a".into(),
            decision: outcome.map(|outcome| {
                Box::new(Decision {
                    approval_token: None,
                    approved_params: None,
                    approved_args_hash: None,
                    outcome,
                    scope: Scope::Once,
                    reason: reason.map(str::to_owned),
                    notify_agent: notify,
                    responder: "alice".into(),
                    decided_at: Utc::now(),
                    grant_id: None,
                    via: Default::default(),
                })
            }),
            ..crate::store::fixtures::request("r1", status)
        }
    }
}
