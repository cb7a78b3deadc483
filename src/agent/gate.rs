//! `assent gate`: put a command behind a human approval.
//!
//! Files a request whose params are `{"argv": [...], "cwd": "..."}`, waits for a reviewer,
//! and runs the command only on approval. Exit codes: the `EXIT_*` constants below and
//! [`EXIT_CODES`], their words for `--help`, the man page and the README.
//!
//! A stop signal exits 128 + N rather than 5 because that shell convention is what a
//! calling script checks to tell "someone stopped it" from "the backend cancelled it".
//! On Unix the approved command replaces the gate (exec): signals then reach the command
//! directly, and its exit status, or the signal that killed it, is the caller's to see
//! unchanged.

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use backon::Retryable;
use serde_json::json;

mod edit;

use self::edit::{Edited, edited_command};
use super::filing::{self, CancelOutcome, Progress, WaitError, WaitNote};
use super::stop::{Guarded, Stop, guarded};
use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::protocol::{ApprovalRequest, NewRequest, Outcome, PolicyAction, Risk, Status, Via};
use crate::sanitize;

// Approved, the gate exits with the command's own status. Stopped by a signal before a
// decision, it exits 128 + N (`Stop::exit_code`). Otherwise:

/// Not run: the request could not be filed (backend unreachable, token refused, bad
/// setup or usage: clap's usage errors exit 2 too), or the wait failed for good.
pub const EXIT_NOT_FILED: u8 = 2;
/// Not run: a reviewer (or the policy) rejected it.
pub const EXIT_REJECTED: u8 = 3;
/// Not run: the request expired before anyone decided.
pub const EXIT_EXPIRED: u8 = 4;
/// Not run: the request was cancelled on the backend, or the backend's "approved" was
/// not about the request filed, or not about exactly this command.
pub const EXIT_CANCELLED: u8 = 5;
/// Approved, but the command could not be started (as a shell says 126).
pub const EXIT_CANNOT_START: u8 = 126;
/// Approved, but the command was not found (as a shell says 127).
pub const EXIT_COMMAND_NOT_FOUND: u8 = 127;

/// The exit codes in words, for `--help` and the man page.
pub const EXIT_CODES: &str = "\
Exit codes:
  the command's  approved: the command ran (on Unix the gate becomes the command, so
                 a signal that kills it is seen as for the command itself)
  2              not run: the request could not be filed (backend unreachable, token
                 refused, bad setup or usage), or the wait failed for good
  3              rejected; stderr says `assent: rejected by <responder>`, followed by
                 `: <reason>` only when the reviewer chose to notify the agent; a
                 request nobody decided before its TTL, with on_timeout = reject,
                 says `rejected by the approval timeout (…): approval_timeout`
  4              expired before anyone decided
  5              cancelled on the backend (by an admin, or another run with this token),
                 or the backend's approval was not of the request filed, with exactly
                 this command's argv and cwd (stderr says why)
  126, 127       approved, but the command could not be started / was not found
  130, 143, 129  stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP before a decision; the
                 request was cancelled on the backend (best effort, within 3 s)

The approved command gets the approval's token in ASSENT_APPROVAL_TOKEN, for the
tool it calls to verify (`assent token verify`, or any JWT library).

Example:
  assent gate --reason \"free disk space\" --ttl 10m -- rm -rf /var/cache/build";

/// Agent name used when `--agent` is not given and the backend cannot say who the token is.
pub const FALLBACK_AGENT: &str = "gate";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct GateArgs {
    /// Tool name the request is filed under.
    #[arg(long, default_value = "shell.exec", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub tool: String,
    /// Agent name [default: the token's name, from GET /v1/whoami].
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agent: Option<String>,
    /// Why the command should run, shown to the reviewer.
    #[arg(long)]
    pub reason: Option<String>,
    /// Conversation id, so "approve for conversation" can cover later calls.
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub conversation: Option<String>,
    /// Declared risk of the command.
    #[arg(long, value_enum)]
    pub risk: Option<Risk>,
    /// Time to live of the request: seconds, or e.g. 90s, 10m, 2h [default: the backend's].
    #[arg(long, value_parser = filing::parse_duration_arg, value_name = "DURATION")]
    pub ttl: Option<Duration>,
    /// The command to run once approved, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What the gate does once the backend has spoken.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Run the command, with the approval's token (None from a server before tokens), or
    /// the reviewer's edit of it in its place.
    Run {
        token: Option<String>,
        edit: Option<Edited>,
    },
    Exit(u8),
}

/// The environment variable that hands the approval token to the approved command, so a
/// script can pass it on to the tool it calls, which verifies it (docs/api.md).
pub const APPROVAL_TOKEN_ENV: &str = "ASSENT_APPROVAL_TOKEN";

pub fn main(g: &GlobalOpts, a: GateArgs) -> ExitCode {
    let log = crate::logging::to_file("gate");
    let client = match super::connect(g, "set ASSENT_TOKEN to an agent token") {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("assent: {msg}; the command was not run");
            return ExitCode::from(EXIT_NOT_FILED);
        }
    };
    let rt = match crate::runtime::current_thread() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent: cannot start the async runtime: {e}; the command was not run");
            return ExitCode::from(EXIT_NOT_FILED);
        }
    };
    let next = rt.block_on(file_and_wait(&client, &a));
    drop(rt);
    match next {
        Next::Run { token, edit } => {
            // Flush the log now: on Unix nothing of ours runs after the exec.
            drop(log);
            match &edit {
                Some(e) => run(&e.argv, e.cwd.as_deref(), token.as_deref()),
                None => run(&a.command, None, token.as_deref()),
            }
        }
        Next::Exit(code) => ExitCode::from(code),
    }
}

/// Adds a tip to clap's error when `assent gate` was given its command without `--`
/// (`assent gate ls -la`: clap alone only says that `ls` is unexpected) or no command at
/// all. `args` are the process arguments without argv[0].
pub fn usage_hint(mut err: clap::Error, args: &[String]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    // The subcommand is the first word that is not a global option or its value.
    let mut words = args.iter().enumerate();
    let sub = loop {
        match words.next() {
            Some((_, a)) if a == "--config" || a == "--url" => {
                words.next();
            }
            Some((_, a)) if a.starts_with('-') => {}
            Some((i, a)) => break (a == "gate").then_some(i),
            None => break None,
        }
    };
    let Some(sub) = sub else { return err };
    let tip = match err.kind() {
        ErrorKind::MissingRequiredArgument => {
            "give the command to run after `--`, e.g. assent gate --reason \"why\" -- ls -la"
                .to_owned()
        }
        ErrorKind::UnknownArgument if !args.iter().any(|a| a == "--") => {
            let Some(ContextValue::String(bad)) = err.get(ContextKind::InvalidArg).cloned() else {
                return err;
            };
            let Some(from) = args[sub + 1..].iter().position(|a| *a == bad) else {
                return err;
            };
            let (options, command) = args.split_at(sub + 1 + from);
            format!(
                "put the command after `--`, so that its options are not taken for the gate's: assent {} -- {}",
                shell_words(options),
                shell_words(command)
            )
        }
        _ => return err,
    };
    let mut tips = match err.get(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(v)) => v.clone(),
        _ => Vec::new(),
    };
    tips.push(sanitize::line(&tip).into_owned().into());
    err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    err
}

fn params_of(command: &[String]) -> serde_json::Value {
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .ok();
    json!({ "argv": command, "cwd": cwd })
}

async fn file_and_wait(client: &Client, a: &GateArgs) -> Next {
    match guarded(client, async |key, progress| {
        work(client, a, key, progress).await
    })
    .await
    {
        Guarded::Done(next) => next,
        Guarded::Stopped { stop, at, outcome } => on_stop(stop, &at, outcome),
    }
}

async fn work(client: &Client, a: &GateArgs, key: &str, progress: &Mutex<Progress>) -> Next {
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
        ttl_seconds: a.ttl.map(filing::whole_seconds),
    };
    Progress::set(progress, Progress::Filing(Box::new(new.clone())));
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
        Err(e) => {
            // Every attempt was answered with an error (or never connected): nothing to
            // take back on a later signal.
            Progress::set(progress, Progress::Starting);
            return not_filed(client, &e);
        }
    };
    let req = filed.request;
    Progress::set(progress, Progress::Filed(req.id.clone()));
    tracing::info!(id = %req.id, created = filed.created, status = %req.status, "filed");
    if req.status.is_final() {
        return next_after(&new, &req.id, &req);
    }
    eprintln!(
        "assent: request {} filed; waiting for a reviewer to approve `{}` (Ctrl-C cancels it)",
        sanitize::line(&req.id),
        sanitize::line(&shell_words(&a.command)),
    );
    if let Some(line) = policy_note(&req) {
        eprintln!("{line}");
    }
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
        Ok(r) => next_after(&new, &req.id, &r),
        Err(WaitError::Deadline(_)) => Next::Exit(EXIT_EXPIRED), // no deadline is set
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
            Next::Exit(EXIT_NOT_FILED)
        }
    }
}

/// Why the policy holds a pending request for a person, when a rule (or a failed rule)
/// says so: the agent's user learns what the reviewer is asked to check.
fn policy_note(r: &ApprovalRequest) -> Option<String> {
    let p = r.policy.as_ref()?;
    if let Some(e) = &p.error {
        return Some(format!(
            "assent: the policy could not evaluate rule {} ({}), so a person decides",
            sanitize::line(p.rule.as_deref().unwrap_or("default")),
            sanitize::line(e)
        ));
    }
    (p.action == PolicyAction::RequireApproval && (p.rule.is_some() || p.message.is_some()))
        .then(|| format!("assent: held by policy {}", sanitize::line(&p.describe())))
}

fn not_filed(client: &Client, e: &ClientError) -> Next {
    let what = sanitize::line(&e.to_string()).into_owned();
    let hint = if e.is_auth() {
        "check that ASSENT_TOKEN holds an agent token the backend knows".to_owned()
    } else if e.is_transient() || e.is_wrong_endpoint() {
        super::check_backend(client, e)
    } else {
        "fix the request and run the gate again".to_owned()
    };
    eprintln!("assent: could not file the request: {what}; {hint}; the command was not run");
    Next::Exit(EXIT_NOT_FILED)
}

/// What to do with `r`, the backend's last word on the request filed as `new` with id
/// `filed`.
fn next_after(new: &NewRequest, filed: &str, r: &ApprovalRequest) -> Next {
    let id = sanitize::line(&r.id);
    match r.status {
        Status::Approved => {
            let edit = match filing::check_approval(Some(filed), new, r) {
                Ok(edit) => edit,
                Err(why) => {
                    tracing::error!(id = %r.id, filed, %why, "refused an approval of something else");
                    eprintln!(
                        "assent: refused: the backend answered request {} as approved, but {}; the command was not run",
                        sanitize::line(filed),
                        sanitize::line(&why)
                    );
                    return Next::Exit(EXIT_CANCELLED);
                }
            };
            let edit = match edit.as_ref().map(edited_command).transpose() {
                Ok(edit) => edit,
                Err(why) => {
                    eprintln!(
                        "assent: refused: request {id} was approved with edited params the gate cannot run ({}); the command was not run",
                        sanitize::line(&why)
                    );
                    return Next::Exit(EXIT_CANCELLED);
                }
            };
            eprintln!("{}", approval_line(r));
            if let Some(e) = &edit {
                // What runs is not what was typed: said before it runs.
                let place = e
                    .cwd
                    .as_deref()
                    .map(|c| format!(" in {}", sanitize::line(c)))
                    .unwrap_or_default();
                eprintln!(
                    "assent: the reviewer edited the command; running instead: {}{place}",
                    sanitize::line(&shell_words(&e.argv))
                );
            }
            if let Some(d) = &r.decision {
                tracing::info!(id = %r.id, responder = %d.responder, via = ?d.via, edited = edit.is_some(), "approved");
            }
            Next::Run {
                token: r.decision.as_ref().and_then(|d| d.approval_token.clone()),
                edit,
            }
        }
        Status::Rejected => {
            eprintln!("{}", rejection_line(r));
            Next::Exit(EXIT_REJECTED)
        }
        Status::Expired => {
            eprintln!(
                "assent: request {id} expired before a reviewer decided; the command was not run; run the gate again, perhaps with a longer --ttl"
            );
            Next::Exit(EXIT_EXPIRED)
        }
        Status::Cancelled => {
            eprintln!(
                "assent: request {id} was cancelled on the backend (by an admin, or by another run with this token) before anyone decided; the command was not run; run the gate again to ask anew"
            );
            Next::Exit(EXIT_CANCELLED)
        }
        // wait_final only returns final requests; a pending one here is a server bug.
        Status::Pending => {
            eprintln!(
                "assent: the backend answered request {id} as still pending; the command was not run"
            );
            Next::Exit(EXIT_NOT_FILED)
        }
    }
}

/// `assent: approved by alice`, `… by grant 0193a3f2-7b1c… (alice, conversation)` or
/// `… by policy rule X`: what a grant or the policy approved never reads as a person's.
fn approval_line(r: &ApprovalRequest) -> String {
    match &r.decision {
        Some(d) => format!("assent: approved by {}", sanitize::line(&d.by_words())),
        None => "assent: approved".to_owned(),
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
    // The system's rejection at the TTL's end names no person: `system` is no reviewer.
    let by = match d.via {
        Via::Timeout => d.by_words(),
        _ => d.responder.clone(),
    };
    let mut line = format!("assent: rejected by {}", sanitize::line(&by));
    if d.notify_agent
        && let Some(reason) = d.reason.as_deref().filter(|s| !s.is_empty())
    {
        line.push_str(": ");
        line.push_str(&sanitize::line(reason));
    }
    line
}

/// Says what stopping did to the request (taken back as far as `outcome` says, from
/// where the filing had got to, `at`), and exits 128 + N.
fn on_stop(stop: Stop, at: &Progress, outcome: Option<CancelOutcome>) -> Next {
    let what = stop.describe();
    let Some(outcome) = outcome else {
        eprintln!(
            "assent: {what} before the request was filed; nothing was filed; the command was not run"
        );
        return Next::Exit(stop.exit_code());
    };
    let filing = matches!(at, Progress::Filing(_));
    let when = if filing {
        "while filing"
    } else {
        "while waiting"
    };
    match outcome {
        CancelOutcome::Cancelled(r) => {
            let id = sanitize::line(&r.id);
            if filing {
                eprintln!(
                    "assent: {what} {when}; request {id} may have reached the backend, so it was cancelled there; the command was not run; run the gate again to ask anew"
                );
            } else {
                eprintln!(
                    "assent: {what} {when}; request {id} cancelled on the backend; the command was not run; run the gate again to ask anew"
                );
            }
        }
        CancelOutcome::AlreadyFinal(r) => eprintln!(
            "assent: {what} {when}; request {} was already {}; the command was not run",
            sanitize::line(&r.id),
            r.status
        ),
        CancelOutcome::Failed(why) => {
            let why = sanitize::line(&why);
            match at {
                Progress::Filed(id) => eprintln!(
                    "assent: {what} {when}; could not cancel request {} ({why}): it stays pending until it expires or a reviewer decides; the command was not run",
                    sanitize::line(id)
                ),
                _ => eprintln!(
                    "assent: {what} {when}; could not check whether the request reached the backend ({why}): if it did, it stays pending until it expires or a reviewer decides; the command was not run"
                ),
            }
        }
    }
    Next::Exit(stop.exit_code())
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

/// Runs the approved command. On Unix the gate becomes the command (exec), which returns
/// only when the command could not be started.
/// Runs `command` (in `cwd`, when a reviewer's edit names one) with the approval's token.
fn run(command: &[String], cwd: Option<&str>, approval_token: Option<&str>) -> ExitCode {
    let Some((prog, args)) = command.split_first() else {
        eprintln!("assent: no command given; put it after `--`");
        return ExitCode::from(EXIT_NOT_FILED);
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // Only this approval's token: one inherited from a gate around this one is not for
    // this command.
    match approval_token {
        Some(t) => cmd.env(APPROVAL_TOKEN_ENV, t),
        None => cmd.env_remove(APPROVAL_TOKEN_ENV),
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        cannot_start(prog, &e)
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            // Exit statuses are 0..=255 on Unix; elsewhere, anything wider is a plain failure.
            Ok(status) => ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(1),
            ),
            Err(e) => cannot_start(prog, &e),
        }
    }
}

fn cannot_start(prog: &str, e: &std::io::Error) -> ExitCode {
    super::cannot_start(&format!("approved, but `{}`", sanitize::line(prog)), e)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::decided;
    use super::*;

    fn rejected(notify: bool, reason: Option<&str>) -> ApprovalRequest {
        decided(Status::Rejected, notify, reason)
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
        let mut timed_out = rejected(true, Some("approval_timeout"));
        if let Some(d) = timed_out.decision.as_mut() {
            (d.responder, d.via) = ("system".into(), Via::Timeout);
        }
        assert_eq!(
            rejection_line(&timed_out),
            "assent: rejected by the approval timeout (nobody decided in time): approval_timeout"
        );
    }

    #[test]
    fn an_approval_names_who_or_what_made_it() {
        use crate::protocol::{PolicyAction, Scope};
        let mut r = decided(Status::Approved, false, None);
        assert_eq!(approval_line(&r), "assent: approved by alice");
        if let Some(d) = r.decision.as_mut() {
            d.via = Via::Grant {
                grant_id: "0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into(),
                granted_by: "alice".into(),
                scope: Scope::Conversation,
            };
        }
        assert_eq!(
            approval_line(&r),
            "assent: approved by grant 0193a3f2-7b1c… (alice, conversation)"
        );
        if let Some(d) = r.decision.as_mut() {
            d.via = Via::Policy {
                rule: Some("safe-tools".into()),
                action: PolicyAction::Allow,
            };
        }
        assert_eq!(
            approval_line(&r),
            "assent: approved by policy rule safe-tools"
        );
    }

    #[test]
    fn an_approval_of_other_params_is_refused_with_exit_5() {
        let new = crate::store::fixtures::new_request(
            "shell.exec",
            serde_json::json!({"argv": ["ls"], "cwd": "/"}),
        );
        let mut r = decided(Status::Approved, false, None);
        r.params = new.params.clone();
        r.args_hash = crate::protocol::args_hash(&r.params);
        assert_eq!(
            next_after(&new, "r1", &r),
            Next::Run {
                token: None,
                edit: None
            }
        );
        assert_eq!(next_after(&new, "r0", &r), Next::Exit(EXIT_CANCELLED));
        r.params = serde_json::json!({"argv": ["rm", "-rf", "/"], "cwd": "/"});
        r.args_hash = crate::protocol::args_hash(&r.params);
        assert_eq!(next_after(&new, "r1", &r), Next::Exit(EXIT_CANCELLED));
    }

    #[test]
    fn shell_words_quotes_what_needs_it() {
        let argv: Vec<String> = ["rm", "-rf", "my dir", "it's"].map(String::from).to_vec();
        assert_eq!(shell_words(&argv), r"rm -rf 'my dir' 'it'\''s'");
    }

    #[test]
    fn the_help_lists_every_exit_code() {
        for code in [
            EXIT_NOT_FILED,
            EXIT_REJECTED,
            EXIT_EXPIRED,
            EXIT_CANCELLED,
            EXIT_CANNOT_START,
            EXIT_COMMAND_NOT_FOUND,
        ]
        .into_iter()
        .chain([Stop::Interrupt, Stop::Terminate, Stop::Hangup].map(Stop::exit_code))
        {
            let listed = EXIT_CODES.lines().any(|l| {
                l.trim_start()
                    .split("  ")
                    .next()
                    .is_some_and(|codes| codes.split(", ").any(|c| c == code.to_string()))
            });
            assert!(listed, "exit code {code} is not in the help");
        }
    }
}
