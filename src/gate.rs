//! `assent gate`: put a command behind a human approval.
//!
//! Files a request whose params are `{"argv": [...], "cwd": "..."}`, waits for a reviewer,
//! and runs the command only on approval. Exit codes (documented in the README):
//!
//! | code | meaning |
//! |------|---------|
//! | the command's own | approved; the command ran (killed by signal N: 128+N) |
//! | 2 | not filed (backend unreachable, token refused, bad setup), or the wait failed for good; the command did not run |
//! | 3 | rejected |
//! | 4 | expired before anyone decided |
//! | 5 | cancelled (by an admin, or by the filing agent elsewhere) |
//! | 126 / 127 | approved, but the command could not be started / was not found |
//! | 130 | interrupted with Ctrl-C while waiting; the request was cancelled on the backend |
//!
//! Ctrl-C exits 130 rather than 5 because the shell convention (128 + SIGINT) is what a
//! calling script checks to tell "the user stopped it" from "the backend cancelled it".

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use backon::Retryable;
use serde_json::json;

use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::filing::{self, CancelOutcome, WaitError, WaitNote};
use crate::protocol::{ApprovalRequest, NewRequest, Outcome, Risk, Status};
use crate::sanitize;

pub const EXIT_NOT_FILED: u8 = 2;
pub const EXIT_REJECTED: u8 = 3;
pub const EXIT_EXPIRED: u8 = 4;
pub const EXIT_CANCELLED: u8 = 5;
pub const EXIT_CANNOT_START: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Agent name used when `--agent` is not given and the backend cannot say who the token is.
pub const FALLBACK_AGENT: &str = "gate";

#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Tool name the request is filed under.
    #[arg(long, default_value = "shell.exec")]
    pub tool: String,
    /// Agent name [default: the token's name, from GET /v1/whoami].
    #[arg(long)]
    pub agent: Option<String>,
    /// Why the command should run, shown to the reviewer.
    #[arg(long)]
    pub reason: Option<String>,
    /// Conversation id, so "approve for conversation" can cover later calls.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Declared risk of the command.
    #[arg(long, value_parser = risk_parser())]
    pub risk: Option<Risk>,
    /// Time to live of the request, e.g. 90s, 10m, 2h [default: the backend's].
    #[arg(long, value_parser = parse_ttl, value_name = "DURATION")]
    pub ttl: Option<Duration>,
    /// The command to run once approved.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn risk_parser() -> impl clap::builder::TypedValueParser<Value = Risk> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Risk::ALL.map(Risk::as_str))
        .try_map(|s| Risk::parse(&s).ok_or("unknown risk level"))
}

pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}): use e.g. 90s, 10m or 2h"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("'{s}' is shorter than one second"));
    }
    Ok(d)
}

/// Whole seconds, rounded up: a TTL is never silently shortened.
fn ttl_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// What the gate does once the backend has spoken.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Run,
    Exit(u8),
}

pub fn main(g: &GlobalOpts, a: GateArgs) -> ExitCode {
    let _log = crate::logging::to_file("gate");
    let client = match setup(g) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("assent: {msg}; the command was not run");
            return ExitCode::from(EXIT_NOT_FILED);
        }
    };
    let rt = match filing::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent: cannot start the async runtime: {e}; the command was not run");
            return ExitCode::from(EXIT_NOT_FILED);
        }
    };
    let verdict = rt.block_on(file_and_wait(&client, &a));
    // The runtime goes before the command runs; its SIGINT handler stays registered, so a
    // Ctrl-C during the command reaches the command (same process group) and not us.
    drop(rt);
    match verdict {
        Verdict::Run => run(&a.command),
        Verdict::Exit(code) => ExitCode::from(code),
    }
}

fn setup(g: &GlobalOpts) -> Result<Client, String> {
    let settings = g.client_settings().map_err(|e| format!("{e:#}"))?;
    let client = Client::new(&settings).map_err(|e| e.to_string())?;
    if !client.has_token() {
        return Err(
            "no token: set ASSENT_TOKEN to an agent token (or [console] token_file in the config)"
                .into(),
        );
    }
    Ok(client)
}

fn params_of(command: &[String]) -> serde_json::Value {
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .ok();
    json!({ "argv": command, "cwd": cwd })
}

async fn file_and_wait(client: &Client, a: &GateArgs) -> Verdict {
    let filed_id: Mutex<Option<String>> = Mutex::new(None);
    let key = filing::new_idempotency_key();
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    tokio::select! {
        v = work(client, a, &key, &filed_id) => v,
        () = &mut interrupt => {
            let id = filed_id.lock().ok().and_then(|g| g.clone());
            on_interrupt(client, id.as_deref()).await
        }
    }
}

/// Resolves on the first Ctrl-C. On Unix the handler is installed at once (not on first
/// poll), so it also covers the command's run later: the command gets the signal, we don't die.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot watch for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn work(
    client: &Client,
    a: &GateArgs,
    key: &str,
    filed_id: &Mutex<Option<String>>,
) -> Verdict {
    let agent = match &a.agent {
        Some(n) => n.clone(),
        None => match (|| async { client.whoami().await })
            .retry(filing::quick_backoff())
            .when(ClientError::is_transient)
            .await
        {
            Ok(me) => me.name,
            Err(e) if e.is_auth() || e.is_transient() => return not_filed(client, &e),
            Err(e) => {
                tracing::warn!("whoami failed ({e}); filing as agent '{FALLBACK_AGENT}'");
                FALLBACK_AGENT.to_owned()
            }
        },
    };
    let new = NewRequest {
        tool: a.tool.clone(),
        params: params_of(&a.command),
        reason: a.reason.clone(),
        agent,
        conversation_id: a.conversation.clone(),
        run_id: None,
        tool_call_id: None,
        risk: a.risk,
        ttl_seconds: a.ttl.map(ttl_seconds),
    };
    let mut told = false;
    let filed = filing::file(client, &new, key, |e, d| {
        tracing::warn!("filing failed ({e}); retrying in {d:?}");
        if !std::mem::replace(&mut told, true) {
            eprintln!(
                "assent: filing failed ({}); retrying for a few seconds",
                sanitize::line(&e.to_string()),
            );
        }
    })
    .await;
    let filed = match filed {
        Ok(f) => f,
        Err(e) => return not_filed(client, &e),
    };
    let req = filed.request;
    if let Ok(mut slot) = filed_id.lock() {
        *slot = Some(req.id.clone());
    }
    tracing::info!(id = %req.id, created = filed.created, status = %req.status, "filed");
    if req.status.is_final() {
        return verdict_for(&req);
    }
    eprintln!(
        "assent: request {} filed; waiting for a reviewer to approve `{}` (Ctrl-C cancels it)",
        sanitize::line(&req.id),
        sanitize::line(&shell_words(&a.command)),
    );
    // One line when the backend goes away and one when it is back, not one per retry.
    let mut told = false;
    let waited = filing::wait_final(client, &req.id, None, |n| match n {
        WaitNote::Trouble { error, retry_in } => {
            tracing::warn!("wait failed ({error}); retrying in {retry_in:?}");
            if !std::mem::replace(&mut told, true) {
                eprintln!(
                    "assent: lost the backend while waiting ({}); retrying until it is back; the request stays filed",
                    sanitize::line(&error.to_string()),
                );
            }
        }
        WaitNote::Recovered => {
            told = false;
            eprintln!("assent: backend reachable again; still waiting");
        }
    })
    .await;
    match waited {
        Ok(r) => verdict_for(&r),
        Err(WaitError::Deadline(_)) => Verdict::Exit(EXIT_EXPIRED), // no deadline is set
        Err(WaitError::Fatal(e)) => {
            let hint = match e.status() {
                Some(404) => {
                    "the request is gone from the backend (was it restarted with an empty store?); run the gate again"
                }
                Some(401 | 403) => {
                    "the token was refused while waiting; check ASSENT_TOKEN and run the gate again"
                }
                _ => "run the gate again",
            };
            eprintln!(
                "assent: waiting for request {} failed: {}; {hint}; the command was not run",
                sanitize::line(&req.id),
                sanitize::line(&e.to_string())
            );
            Verdict::Exit(EXIT_NOT_FILED)
        }
    }
}

fn not_filed(client: &Client, e: &ClientError) -> Verdict {
    let what = sanitize::line(&e.to_string()).into_owned();
    let hint = if e.is_auth() {
        "check that ASSENT_TOKEN holds an agent token the backend knows".to_owned()
    } else if e.is_transient() {
        format!(
            "check that `assent serve` runs at {} (--url or ASSENT_URL)",
            client.base_url()
        )
    } else {
        "fix the request and run the gate again".to_owned()
    };
    eprintln!("assent: could not file the request: {what}; {hint}; the command was not run");
    Verdict::Exit(EXIT_NOT_FILED)
}

fn verdict_for(r: &ApprovalRequest) -> Verdict {
    let id = sanitize::line(&r.id);
    match r.status {
        Status::Approved => {
            if let Some(d) = &r.decision {
                tracing::info!(id = %r.id, responder = %d.responder, "approved");
            }
            Verdict::Run
        }
        Status::Rejected => {
            eprintln!("{}", rejection_line(r));
            Verdict::Exit(EXIT_REJECTED)
        }
        Status::Expired => {
            eprintln!(
                "assent: request {id} expired before a reviewer decided; the command was not run; run the gate again, perhaps with a longer --ttl"
            );
            Verdict::Exit(EXIT_EXPIRED)
        }
        Status::Cancelled => {
            eprintln!("assent: request {id} was cancelled on the backend; the command was not run");
            Verdict::Exit(EXIT_CANCELLED)
        }
        // wait_final only returns final requests; a pending one here is a server bug.
        Status::Pending => {
            eprintln!(
                "assent: the backend answered request {id} as still pending; the command was not run"
            );
            Verdict::Exit(EXIT_NOT_FILED)
        }
    }
}

/// `assent: rejected by <responder>`, plus `: <reason>` only when the reviewer chose to
/// tell the agent why.
fn rejection_line(r: &ApprovalRequest) -> String {
    let Some(d) = r
        .decision
        .as_ref()
        .filter(|d| d.outcome == Outcome::Rejected)
    else {
        return "assent: rejected".to_owned();
    };
    let mut line = format!("assent: rejected by {}", sanitize::line(&d.responder));
    if d.notify_agent
        && let Some(reason) = d.reason.as_deref().filter(|s| !s.is_empty())
    {
        line.push_str(": ");
        line.push_str(&sanitize::line(reason));
    }
    line
}

async fn on_interrupt(client: &Client, id: Option<&str>) -> Verdict {
    let Some(id) = id else {
        eprintln!("assent: interrupted before the request was filed; the command was not run");
        return Verdict::Exit(EXIT_INTERRUPTED);
    };
    let sid = sanitize::line(id).into_owned();
    // A second Ctrl-C stops the cancel too.
    let outcome = tokio::select! {
        o = filing::cancel_quietly(client, id, Duration::from_secs(5)) => o,
        () = interrupted() => CancelOutcome::Failed("interrupted again".into()),
    };
    match outcome {
        CancelOutcome::Cancelled(_) => {
            eprintln!(
                "assent: interrupted; request {sid} cancelled on the backend; the command was not run"
            )
        }
        CancelOutcome::AlreadyFinal(r) => eprintln!(
            "assent: interrupted; request {sid} was already {}; the command was not run",
            r.status
        ),
        CancelOutcome::Failed(why) => eprintln!(
            "assent: interrupted; could not cancel request {sid} ({}): it stays pending until it expires or a reviewer decides; the command was not run",
            sanitize::line(&why)
        ),
    }
    Verdict::Exit(EXIT_INTERRUPTED)
}

/// The command as a reader would type it (for messages only, never executed).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(command: &[String]) -> ExitCode {
    let Some((prog, args)) = command.split_first() else {
        eprintln!("assent: no command given; put it after `--`");
        return ExitCode::from(EXIT_NOT_FILED);
    };
    match std::process::Command::new(prog).args(args).status() {
        Ok(status) => ExitCode::from(exit_code_of(status)),
        Err(e) => {
            let (code, what) = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    (EXIT_NOT_FOUND, "not found; check the name and PATH")
                }
                std::io::ErrorKind::PermissionDenied => {
                    (EXIT_CANNOT_START, "not executable; check its permissions")
                }
                _ => (EXIT_CANNOT_START, "could not be started"),
            };
            eprintln!(
                "assent: approved, but `{}` {what} ({e})",
                sanitize::line(prog)
            );
            ExitCode::from(code)
        }
    }
}

fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    if let Some(c) = status.code() {
        // Exit statuses are 0..=255 on Unix; elsewhere, anything wider is a plain failure.
        return u8::try_from(c).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return u8::try_from(128 + sig).unwrap_or(255);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn rejected(notify: bool, reason: Option<&str>) -> ApprovalRequest {
        ApprovalRequest {
            id: "r1".into(),
            status: Status::Rejected,
            tool: "shell.exec".into(),
            params: json!({}),
            args_hash: crate::protocol::args_hash(&json!({})),
            reason: None,
            agent: "a".into(),
            conversation_id: None,
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "a".into(),
            created_at: Utc::now(),
            expires_at: None,
            policy: None,
            decision: Some(crate::protocol::Decision {
                outcome: Outcome::Rejected,
                scope: crate::protocol::Scope::Once,
                reason: reason.map(str::to_owned),
                notify_agent: notify,
                responder: "alice".into(),
                decided_at: Utc::now(),
                grant_id: None,
            }),
        }
    }

    #[test]
    fn rejection_reason_only_when_notified() {
        assert_eq!(
            rejection_line(&rejected(true, Some("too risky"))),
            "assent: rejected by alice: too risky"
        );
        assert_eq!(
            rejection_line(&rejected(false, Some("too risky"))),
            "assent: rejected by alice"
        );
        assert_eq!(
            rejection_line(&rejected(true, None)),
            "assent: rejected by alice"
        );
        assert_eq!(
            rejection_line(&rejected(true, Some("a\x1b[2Jb"))),
            "assent: rejected by alice: a\\u{1b}[2Jb"
        );
    }

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("10m"), Ok(Duration::from_secs(600)));
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("10ms").is_err());
        assert_eq!(ttl_seconds(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn shell_words_quotes_what_needs_it() {
        let argv: Vec<String> = ["rm", "-rf", "my dir", "it's"].map(String::from).to_vec();
        assert_eq!(shell_words(&argv), r"rm -rf 'my dir' 'it'\''s'");
    }

    #[cfg(unix)]
    #[test]
    fn exit_codes_follow_the_shell() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(7 << 8)), 7);
        // Killed by SIGKILL (9): 128 + 9.
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(9)), 137);
    }
}
