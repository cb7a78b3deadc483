//! `assent hook claude-code`: a Claude Code command hook that routes permission
//! prompts to human reviewers.
//!
//! Field names follow the Claude Code hooks reference (https://code.claude.com/docs/en/hooks).
//! The official page itself was not in the searchable corpus when this was written, so the
//! names were checked against the brief's snapshot of it (/work/shared/CLAUDE_CODE_HOOKS.md)
//! and against public material that mirrors or implements it, all of which agree:
//! the claudetto wiki's "Claude Code Hooks Events Tool" page (github.com/xsyetopz/claudetto,
//! a field-by-field table citing the Hooks Reference), the `claude_code` Elixir SDK's
//! `ClaudeCode.Hook.Output.PermissionRequest` (hex.pm), the `coding_agent_hooks` crate's
//! `PermissionDecision` (docs.rs), and the spybara.com history of code.claude.com/docs/en/hooks:
//!
//! - input (both events): `session_id`, `transcript_path`, `cwd`, `permission_mode`,
//!   `hook_event_name`, `tool_name`, `tool_input`; PreToolUse adds `tool_use_id`;
//!   inside subagents `agent_id` / `agent_type` appear.
//! - PermissionRequest output: `{"hookSpecificOutput":{"hookEventName":"PermissionRequest",
//!   "decision":{"behavior":"allow"|"deny","message":"…"}}}`; printing nothing and exiting 0
//!   leaves the decision to Claude Code, which then shows its own dialog.
//! - PreToolUse output: `{"hookSpecificOutput":{"hookEventName":"PreToolUse",
//!   "permissionDecision":"allow"|"deny"|"ask","permissionDecisionReason":"…"}}`; for `ask`
//!   the reason is shown in Claude Code's prompt, for `deny` it is shown to Claude.
//! - exit 0: stdout JSON is processed; any other code but 2 is a non-blocking error
//!   (stderr shown, Claude Code carries on with its own permission flow). We exit 2 only
//!   where clap does, on a bad flag in settings.json: such a hook fails closed at once and
//!   visibly, rather than silently sending nothing to a reviewer. Trouble at run time never
//!   blocks work by accident; `--on-timeout deny` exists for that.
//!
//! The shapes and the mapping to a request and back are in [`claude_code`], written once
//! for this command and the server's http hook (`POST /v1/hooks/claude-code`).
//!
//! Idempotency: with a `tool_use_id`, the backend finds the request by (agent, tool_call_id)
//! and a second hook run for the same call never files twice. Every attempt of one run
//! also carries one fresh Idempotency-Key. A key derived from the content (session, tool,
//! input) is deliberately not used: it would make the second identical `ls` of a session
//! replay the decision on the first, which a reviewer approved once.
//!
//! A re-run that finds its call's request already cancelled (its earlier run gave up on
//! it at `--wait` or on a signal, or an admin cancelled it) answers as on a timeout
//! (`--on-timeout`) instead of filing again: the backend keys the call by its tool_use_id,
//! so filing anew would need a made-up tool_call_id, and would undo an admin's cancel.
//!
//! Stop signals (SIGTERM from Claude Code's own hook timeout, SIGINT, SIGHUP) take the
//! request back (cancel, best effort, within 3 s) and exit 128 + N with no answer: Claude
//! Code has stopped listening by then.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::filing::{self, CancelOutcome, Progress, WaitError, WaitNote};
use super::stop::{Guarded, guarded};
use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::protocol::{ApprovalRequest, NewRequest, Status};
use crate::sanitize;

pub mod claude_code;

pub use claude_code::{
    HookDecision, HookEvent, HookInput, OnTimeout, REJECTED_MESSAGE, decision_for, new_request,
    no_decision, render,
};

/// Claude Code sends one JSON object; anything bigger than this is not a hook payload.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum HookCommand {
    /// Claude Code hook adapter (PermissionRequest or PreToolUse; JSON on stdin and stdout).
    ClaudeCode(ClaudeCodeArgs),
}

/// No answer for Claude Code: bad hook input, or a call the backend refused as invalid
/// (stderr says why; Claude Code goes on with its own permission flow). Never 2, which
/// Claude Code takes as blocking; clap alone exits 2, on a bad flag in settings.json.
/// Stopped by a signal, the hook exits 128 + N (`Stop::exit_code`); answered, 0.
const EXIT_NO_ANSWER: u8 = 1;

/// What the hook does and its exit codes, for `--help` and the man page.
pub const HOOK_HELP: &str = "\
Register it as a command hook under PermissionRequest (recommended: it fires only when
Claude Code would show its permission dialog) or PreToolUse in settings.json, with a
`timeout` above --wait, and ASSENT_URL and ASSENT_TOKEN (an agent token) in Claude Code's
environment. It reads the hook input on stdin, files a request (tool = tool_name, params
= tool_input, conversation = session_id, tool call = tool_use_id), waits for a reviewer and
prints the answer on stdout:
  approved      allow (deny when the approval is not of this very tool input)
  rejected      deny, with the reviewer's reason when they notified the agent
                (\"Rejected by reviewer\" otherwise)
  cancelled     deny
  no decision within --wait, expired, backend unreachable or token refused:
                --on-timeout ask (print nothing for PermissionRequest, \"ask\" for
                PreToolUse: Claude Code asks you) or deny; a request left pending is
                cancelled so it leaves the reviewers' queue
  a re-run for a tool_use_id whose request was cancelled earlier: as --on-timeout

Exit codes: 0 answered (or handed back); 1 no answer: bad hook input, or the backend
refused the call as invalid (stderr says why; Claude Code goes on with its own
permission flow); 129, 130, 143 stopped by SIGHUP, SIGINT or SIGTERM (the request is
cancelled, best effort). 2 only for a mistake on this command line (a bad flag), which
Claude Code treats as blocking: a misconfigured hook fails closed, and says why.";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = HOOK_HELP)]
pub struct ClaudeCodeArgs {
    /// Agent name on the requests.
    #[arg(long, default_value = "claude-code", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agent: String,
    /// On timeout or an unreachable backend: ask (hand back to Claude Code's prompt) or deny.
    #[arg(long, value_enum, default_value = "ask")]
    pub on_timeout: OnTimeout,
    /// Longest wait for a decision: seconds or a duration such as 9m, from 1s to 24h (keep
    /// it below the hook's timeout in settings.json).
    #[arg(long, default_value = "540", value_parser = filing::parse_wait, value_name = "DURATION")]
    pub wait: Duration,
}

/// [`claude_code::answer_for`], saying on stderr (which Claude Code shows) why an approval
/// was refused.
fn answer_for(
    new: &NewRequest,
    filed: Option<&str>,
    r: &ApprovalRequest,
    on_timeout: OnTimeout,
) -> HookDecision {
    if let Some(why) = claude_code::refused_approval(new, filed, r) {
        eprintln!(
            "assent hook: refused the backend's approval of request {}: {why}",
            sanitize::line(&r.id)
        );
    }
    claude_code::answer_for(new, filed, r, on_timeout)
}

/// What the hook ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Tell Claude Code this.
    Decide(HookDecision),
    /// Give Claude Code no decision and exit with this code (never 2: that would block the
    /// tool call); stderr has said why.
    Nothing(u8),
}

pub fn main(g: &GlobalOpts, h: HookCommand) -> ExitCode {
    let HookCommand::ClaudeCode(a) = h;
    let _log = crate::logging::to_file("hook");
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_INPUT_BYTES).read_to_end(&mut raw) {
        eprintln!("assent hook: cannot read the hook input on stdin: {e}");
        return ExitCode::from(EXIT_NO_ANSWER);
    }
    let input: HookInput = match serde_json::from_slice(&raw) {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "assent hook: stdin is not a Claude Code hook input ({e}); run it as a command hook on PermissionRequest or PreToolUse"
            );
            return ExitCode::from(EXIT_NO_ANSWER);
        }
    };
    let Some(event) = HookEvent::parse(&input.hook_event_name) else {
        eprintln!(
            "assent hook: the {} event is not supported; register the hook under PermissionRequest or PreToolUse in settings.json",
            sanitize::line(&input.hook_event_name)
        );
        return ExitCode::from(EXIT_NO_ANSWER);
    };
    let answer = match super::connect(g, "set ASSENT_TOKEN in the hook's environment") {
        Ok(client) => match crate::runtime::current_thread() {
            Ok(rt) => rt.block_on(decide(&client, &input, &a)),
            Err(e) => Answer::Decide(unreachable_backend(
                a.on_timeout,
                &format!("cannot start the runtime: {e}"),
            )),
        },
        Err(msg) => Answer::Decide(unreachable_backend(a.on_timeout, &msg)),
    };
    tracing::info!(event = event.name(), ?answer, "hook answered");
    let decision = match answer {
        Answer::Decide(d) => d,
        Answer::Nothing(code) => return ExitCode::from(code),
    };
    let Some(out) = render(event, &decision) else {
        return ExitCode::SUCCESS;
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{out}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent hook: cannot write the answer to stdout: {e}");
            ExitCode::from(EXIT_NO_ANSWER)
        }
    }
}

/// Could not ask a reviewer at all: say why on stderr (Claude Code shows it in its
/// transcript or debug log) and fall back as configured.
fn unreachable_backend(on_timeout: OnTimeout, why: &str) -> HookDecision {
    eprintln!(
        "assent hook: cannot reach a reviewer: {}",
        sanitize::line(why)
    );
    no_decision(on_timeout, "The assent approval backend is unavailable")
}

/// Files the request and waits for its decision; a stop signal takes the request back.
async fn decide(client: &Client, input: &HookInput, a: &ClaudeCodeArgs) -> Answer {
    let asked = guarded(client, async |key, progress| {
        ask(client, input, a, key, progress).await
    });
    let (stop, outcome) = match asked.await {
        Guarded::Done(answer) => return answer,
        Guarded::Stopped { stop, outcome, .. } => (stop, outcome),
    };
    let what = format!("assent hook: {}; no answer given", stop.describe());
    match outcome {
        None => eprintln!("{what}; nothing was filed"),
        Some(CancelOutcome::Cancelled(r)) => {
            eprintln!("{what}; request {} cancelled", sanitize::line(&r.id))
        }
        Some(CancelOutcome::AlreadyFinal(r)) => eprintln!(
            "{what}; request {} was already {}",
            sanitize::line(&r.id),
            r.status
        ),
        Some(CancelOutcome::Failed(why)) => eprintln!(
            "{what}; could not cancel the request ({}): it stays pending until it expires or a reviewer decides",
            sanitize::line(&why)
        ),
    }
    Answer::Nothing(stop.exit_code())
}

async fn ask(
    client: &Client,
    input: &HookInput,
    a: &ClaudeCodeArgs,
    key: &str,
    progress: &Mutex<Progress>,
) -> Answer {
    let Some(deadline) = Instant::now().checked_add(a.wait) else {
        // parse_wait bounds --wait to a day, so this is unreachable in practice.
        eprintln!("assent hook: --wait is too long for this system's clock; use at most 24h");
        return Answer::Nothing(EXIT_NO_ANSWER);
    };
    let waited_for = humantime::format_duration(a.wait).to_string();
    let new = new_request(input, &a.agent);
    Progress::set(progress, Progress::Filing(Box::new(new.clone())));
    let filing = filing::file(client, &new, key, |e, d| {
        tracing::warn!("filing failed ({e}); retrying in {d:?}");
    });
    let filed = match tokio::time::timeout_at(deadline, filing).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            Progress::set(progress, Progress::Starting);
            return failed(client, a.on_timeout, &e);
        }
        Err(_) => {
            // The POST may have landed: find the request under the same key and cancel it.
            let taken_back = filing::withdraw(client, &new, key, filing::CANCEL_WITHIN).await;
            if let CancelOutcome::AlreadyFinal(r) = taken_back {
                // Decided at birth (a grant or the policy): that decision stands.
                return Answer::Decide(answer_for(&new, None, &r, a.on_timeout));
            }
            return Answer::Decide(unreachable_backend(
                a.on_timeout,
                &format!("filing took longer than --wait ({waited_for})"),
            ));
        }
    };
    let req = filed.request;
    Progress::set(progress, Progress::Filed(req.id.clone()));
    tracing::info!(id = %req.id, created = filed.created, status = %req.status, "filed");
    if !filed.created && req.status == Status::Cancelled {
        tracing::info!(id = %req.id, "replayed a cancelled request: answering as on timeout");
        return Answer::Decide(claude_code::cancelled_earlier(a.on_timeout));
    }
    if req.status.is_final() {
        return Answer::Decide(answer_for(&new, Some(&req.id), &req, a.on_timeout));
    }
    let waited = filing::wait_final(client, &req.id, Some(deadline), |n| {
        if let WaitNote::Trouble { error, retry_in } = n {
            tracing::warn!("wait failed ({error}); retrying in {retry_in:?}");
        }
    })
    .await;
    match waited {
        Ok(r) => Answer::Decide(answer_for(&new, Some(&req.id), &r, a.on_timeout)),
        Err(WaitError::Deadline(_)) => {
            // Nobody will act on the answer any more: take the request off the reviewers'
            // queue so that a late approval cannot look as if it did something.
            let cancelled = filing::cancel_quietly(client, &req.id, filing::CANCEL_WITHIN).await;
            if let CancelOutcome::AlreadyFinal(r) = cancelled {
                // Decided in the last moment: that decision stands.
                return Answer::Decide(answer_for(&new, Some(&req.id), &r, a.on_timeout));
            }
            Answer::Decide(claude_code::timed_out(a.on_timeout, &waited_for))
        }
        Err(WaitError::Fatal(e)) => failed(client, a.on_timeout, &e),
    }
}

/// A failure retrying cannot cure. A call the backend refuses as invalid is no outage:
/// `--on-timeout` does not apply, and Claude Code gets no decision (its own permission
/// flow goes on). Everything else means no reviewer can be asked: fall back as configured.
fn failed(client: &Client, on_timeout: OnTimeout, e: &ClientError) -> Answer {
    let msg = sanitize::line(&e.to_string()).into_owned();
    match e.status() {
        Some(400 | 413 | 422) => {
            eprintln!(
                "assent hook: the backend refused this tool call as invalid: {msg}; no answer given, so Claude Code's own permission flow decides; check the hook input and --agent"
            );
            Answer::Nothing(EXIT_NO_ANSWER)
        }
        Some(401 | 403) => {
            eprintln!(
                "assent hook: the backend refused the hook's token: {msg}; check that ASSENT_TOKEN holds an agent token"
            );
            Answer::Decide(no_decision(
                on_timeout,
                "The assent approval backend refused the hook's token",
            ))
        }
        Some(404) if !e.is_wrong_endpoint() => {
            eprintln!(
                "assent hook: the request is gone from the backend: {msg}; was it restarted with an empty store?"
            );
            Answer::Decide(no_decision(
                on_timeout,
                "The approval request vanished from assent",
            ))
        }
        _ => Answer::Decide(unreachable_backend(
            on_timeout,
            &format!("{msg}; {}", super::check_backend(client, e)),
        )),
    }
}
