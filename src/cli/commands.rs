//! What each reviewer command does: ask the backend, then print what it answered.
//!
//! Every command runs through [`run`]: one client, one runtime, one write of the output,
//! and a failure turned into its exit code and message (`failure`).

use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;

use chrono::Utc;

use super::args::{
    ApproveArgs, AuditArgs, AuditCommand, AuditVerifyArgs, DeliveriesArgs, GrantsArgs, ListArgs,
    RejectArgs, RevokeArgs, ShowArgs,
};
use super::audit_log;
use super::failure::{EXIT_CHAIN_BROKEN, EXIT_FAILURE, Failure, NO_TOKEN};
use super::lists::{Layout, audit_table, grants_table, requests_table, unreadable_lines};
use super::render::{self, json_lines, json_pretty, request_text};
use super::resolve;
use super::table::output_width;
use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::protocol::{ApprovalRequest, AuditEntry, DecisionBody, Scope, Verdict};

/// Sets up the client and a runtime, runs `f`, prints its output, maps failure to an exit
/// code with a message that says what to do.
fn run<F, Fut>(g: &GlobalOpts, f: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<String, Failure>>,
{
    let _log = crate::logging::to_file("cli");
    let mut base_url = String::new();
    let result = (|| {
        let settings = g
            .client_settings()
            .map_err(|e| Failure::Setup(format!("{e:#}")))?;
        let client = Client::new(&settings)?;
        base_url = client.base_url().to_owned();
        if !client.has_token() {
            return Err(Failure::Setup(NO_TOKEN.into()));
        }
        let rt = crate::runtime::current_thread()
            .map_err(|e| Failure::Setup(format!("cannot start the async runtime: {e}")))?;
        rt.block_on(f(client))
    })();
    match result {
        Ok(out) => print_out(&out),
        Err(failure) => failure.report(&base_url),
    }
}

fn print_out(out: &str) -> ExitCode {
    write_stdout(out.as_bytes())
}

/// Writes `out` to stdout. A reader that stopped reading (`assent audit | head`, `assent
/// man | head`) has what it wanted: a closed pipe is success, not an error. Rust ignores
/// SIGPIPE, so the write sees EPIPE, and `print!` would panic on it.
pub fn write_stdout(out: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent: cannot write the output: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

pub fn list(g: &GlobalOpts, a: ListArgs) -> ExitCode {
    run(g, |client| async move {
        let list = client.list_all(a.status.0).await?;
        let layout = Layout::here(a.full_ids);
        let unreadable = unreadable_lines(&list.unreadable, layout.width);
        if a.json {
            // stdout stays a JSON array of requests; what was left out goes to stderr.
            eprint!("{unreadable}");
            return Ok(json_pretty(&list.requests)?);
        }
        // "No requests." would be untrue when some could not be read.
        let table = if list.requests.is_empty() && !list.unreadable.is_empty() {
            String::new()
        } else {
            requests_table(&list.requests, a.status.0, Utc::now(), layout)
        };
        Ok(table + &unreadable)
    })
}

pub fn show(g: &GlobalOpts, a: ShowArgs) -> ExitCode {
    run(g, |client| async move {
        let r = resolve::request(&client, &a.id).await?;
        if a.json {
            return Ok(json_pretty(&r)?);
        }
        Ok(request_text(&r, Utc::now(), output_width()))
    })
}

pub fn approve(g: &GlobalOpts, a: ApproveArgs) -> ExitCode {
    run(g, |client| async move {
        reason_rule(Verdict::Approve, a.notify, a.reason.as_deref())?;
        let edit = match &a.params_file {
            Some(path) => Some(edited_params(path, a.scope)?),
            None => None,
        };
        let body = |r: &ApprovalRequest| DecisionBody {
            outcome: Verdict::Approve,
            scope: a.scope,
            reason: a.reason.clone(),
            notify_agent: a.notify,
            args_hash: r.args_hash.clone(),
            grant_ttl_seconds: a.grant_ttl,
            grant_max_uses: a.grant_max_uses,
            params: edit.clone(),
        };
        decide(&client, &a.id, body).await
    })
}

/// The params of `--params-file`, read and checked as the backend will check them, so a
/// mistake is told before anything is sent.
fn edited_params(path: &std::path::Path, scope: Scope) -> Result<serde_json::Value, Failure> {
    if scope != Scope::Once {
        return Err(Failure::Setup(
            "--params-file approves edited params for this call only: leave out --scope, or \
             give --scope once (a grant would approve later calls nobody edited)"
                .to_owned(),
        ));
    }
    let text = std::fs::read(path).map_err(|e| {
        Failure::Setup(format!("cannot read --params-file {}: {e}", path.display()))
    })?;
    crate::store::rules::Filing::params_from_text(&text).map_err(|e| {
        Failure::Setup(format!(
            "--params-file {}: {}",
            path.display(),
            crate::sanitize::line(&e.to_string())
        ))
    })
}

pub fn reject(g: &GlobalOpts, a: RejectArgs) -> ExitCode {
    run(g, |client| async move {
        reason_rule(Verdict::Reject, a.notify, Some(&a.reason))?;
        let body = |r: &ApprovalRequest| DecisionBody {
            outcome: Verdict::Reject,
            scope: Scope::Once,
            reason: Some(a.reason.clone()),
            notify_agent: a.notify,
            args_hash: r.args_hash.clone(),
            grant_ttl_seconds: None,
            grant_max_uses: None,
            params: None,
        };
        decide(&client, &a.id, body).await
    })
}

/// The console's rule for reasons, applied before anything is sent (clap's `requires`
/// says the same for `--notify` at parse time; this is the one rule both tools share).
fn reason_rule(verdict: Verdict, notify: bool, reason: Option<&str>) -> Result<(), Failure> {
    crate::decision_rules::check_reason(verdict, notify, reason)
        .map_err(|e| Failure::Setup(e.to_string()))
}

/// Fetches the request and decides it with the args_hash of what was fetched: the decision
/// binds to the arguments this reviewer could have read, never to newer ones.
async fn decide(
    client: &Client,
    id: &str,
    body: impl Fn(&ApprovalRequest) -> DecisionBody,
) -> Result<String, Failure> {
    let seen = resolve::request(client, id).await?;
    let r = client.decide(&seen.id, &body(&seen)).await?;
    Ok(render::decided(&r, seen.status.is_final()))
}

pub fn grants(g: &GlobalOpts, a: GrantsArgs) -> ExitCode {
    run(g, |client| async move {
        let list = client.grants().await?;
        if a.json {
            return Ok(json_pretty(&list.grants)?);
        }
        Ok(grants_table(
            &list.grants,
            Utc::now(),
            Layout::here(a.full_ids),
        ))
    })
}

pub fn revoke(g: &GlobalOpts, a: RevokeArgs) -> ExitCode {
    run(g, |client| async move {
        // Which grant is meant, and was it active? Asked first, because a second DELETE
        // of a grant answers 200 with the grant as it was revoked.
        let target = resolve::active_grant(&client, &a.grant_id).await?;
        let id = match &target {
            Some(g) => g.id.clone(),
            // Not active: a revoked grant's whole id, or its prefix, answers "already
            // revoked"; anything else, the backend's 404.
            None => resolve::any_grant_id(&client, &a.grant_id)
                .await?
                .unwrap_or_else(|| a.grant_id.clone()),
        };
        let gr = client.revoke(&id).await?;
        Ok(render::revoked(&gr, target.is_some()))
    })
}

pub fn deliveries(g: &GlobalOpts, a: DeliveriesArgs) -> ExitCode {
    run(g, |client| async move {
        super::deliveries::run(&client, &a).await
    })
}

pub fn audit(g: &GlobalOpts, a: AuditArgs) -> ExitCode {
    match a.command {
        Some(AuditCommand::Verify(v)) => return audit_verify(g, v),
        Some(AuditCommand::Export(e)) => {
            return run(g, |client| async move {
                let entries = audit_log::all_entries(&client).await?;
                let entries = audit_log::since(entries, e.since.as_deref())?;
                audit_log::export(&entries, e.format)
            });
        }
        None => {}
    }
    run(g, |client| async move {
        let entries = all_audit(&client).await?;
        if a.json {
            return Ok(json_lines(&entries)?);
        }
        Ok(audit_table(&entries, Layout::here(a.full_ids)))
    })
}

/// `assent audit verify`: exit 0 when the chain holds, [`EXIT_CHAIN_BROKEN`] at the
/// first entry that breaks it.
fn audit_verify(g: &GlobalOpts, v: AuditVerifyArgs) -> ExitCode {
    let intact = std::cell::Cell::new(true);
    let code = match &v.file {
        // A file needs no backend and no token.
        Some(path) => match audit_log::read_export(path) {
            Ok(entries) => {
                let (words, ok) = audit_log::verify_words(entries, &path.display().to_string());
                intact.set(ok);
                print_out(&words)
            }
            Err(f) => f.report(""),
        },
        None => {
            let intact = &intact;
            run(g, |client| async move {
                let entries = audit_log::all_entries(&client).await?;
                let (words, ok) = audit_log::verify_words(entries, client.base_url());
                intact.set(ok);
                Ok(words)
            })
        }
    };
    if intact.get() {
        code
    } else {
        ExitCode::from(EXIT_CHAIN_BROKEN)
    }
}

pub(super) async fn all_audit(client: &Client) -> Result<Vec<AuditEntry>, ClientError> {
    let mut entries = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let page = client.audit(after, 1000).await?;
        let empty = page.entries.is_empty();
        entries.extend(page.entries);
        match page.next_after {
            // A cursor that does not move would loop forever: stop.
            Some(n) if !empty && Some(n) != after => after = Some(n),
            _ => break,
        }
    }
    Ok(entries)
}
