//! The headless reviewer CLI: list, show, approve, reject, grants, revoke, audit.
//!
//! Human output is a compact table fitted to the terminal (80 columns when piped; `COLUMNS`
//! overrides); `--json` output is the protocol's own objects (docs/api.md), so it stays as
//! stable as the API: `list` and `grants` print one JSON array, `show` one object,
//! `audit --json` one entry per line (JSON lines). Tables show ids shortened to a unique
//! prefix (`--full-ids` shows them whole); every command taking an id accepts such a prefix.
//!
//! Exit codes (documented in the README): 0 done; 1 unexpected failure; 2 backend
//! unreachable or client set up wrongly (and clap's own usage errors); 3 token refused
//! (401) or lacking the reviewer role (403); 4 not found (404), or an id prefix that
//! matches several; 5 conflict (409: already decided, expired or cancelled); 6 refused as
//! invalid (400/422: args_hash mismatch, conversation scope without a conversation).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::builder::TypedValueParser as _;

use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::protocol::{
    ApprovalRequest, AuditEntry, DecisionBody, Grant, PolicyAction, Scope, Status, Verdict,
};
use crate::sanitize;
use super::table::{Column, Table, output_width, short_ids};
use crate::text::{age, until};
use unicode_width::UnicodeWidthStr as _;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_CONFLICT: u8 = 5;
pub const EXIT_INVALID: u8 = 6;

/// The shortest id prefix the commands look up: shorter ones match too much to be meant.
const MIN_PREFIX: usize = 4;

/// `--status`: one status, or every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter(pub Option<Status>);

fn status_filter_parser() -> impl clap::builder::TypedValueParser<Value = StatusFilter> {
    clap::builder::PossibleValuesParser::new([
        "pending",
        "approved",
        "rejected",
        "expired",
        "cancelled",
        "all",
    ])
    .try_map(|s| match s.as_str() {
        "all" => Ok(StatusFilter(None)),
        other => Status::parse(other)
            .map(|st| StatusFilter(Some(st)))
            .ok_or("unknown status"),
    })
}

fn scope_parser() -> impl clap::builder::TypedValueParser<Value = Scope> {
    clap::builder::PossibleValuesParser::new(["once", "conversation", "always"])
        .try_map(|s| Scope::parse(&s).ok_or("unknown scope"))
}

/// A reason must say something: it is recorded, and the agent may be shown it.
fn non_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("the reason is empty: say why, in words the agent and the audit log can use".into())
    } else {
        Ok(s.to_owned())
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Which requests: pending, approved, rejected, expired, cancelled or all.
    #[arg(long, default_value = "pending", value_parser = status_filter_parser())]
    pub status: StatusFilter,
    /// Print a JSON array of request objects (as in the API) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show ids whole instead of as a unique prefix.
    #[arg(long)]
    pub full_ids: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// Request id, or a unique prefix of it.
    pub id: String,
    /// Print the request object (as in the API) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    /// Request id, or a unique prefix of it.
    pub id: String,
    /// once; conversation (this agent's later calls of this tool in this conversation);
    /// always (every later call of this tool by this agent).
    #[arg(long, default_value = "once", value_parser = scope_parser())]
    pub scope: Scope,
    /// Tell the agent the reason (needs --reason: without one the agent learns nothing).
    #[arg(long, requires = "reason")]
    pub notify: bool,
    /// Reason recorded with the approval.
    #[arg(long, value_parser = non_blank)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RejectArgs {
    /// Request id, or a unique prefix of it.
    pub id: String,
    /// Why (recorded; shown to the agent only with --notify). Must not be blank.
    #[arg(long, required = true, value_parser = non_blank)]
    pub reason: String,
    /// Tell the agent the reason.
    #[arg(long)]
    pub notify: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GrantsArgs {
    /// Print a JSON array of grant objects (as in the API) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show ids whole instead of as a unique prefix.
    #[arg(long)]
    pub full_ids: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    /// Grant id, or a unique prefix of an active grant's id (see `assent grants`).
    pub grant_id: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Print JSON lines, one audit entry object per line, for export.
    #[arg(long)]
    pub json: bool,
    /// Show ids whole instead of as a unique prefix.
    #[arg(long)]
    pub full_ids: bool,
}

/// How a human table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: usize,
    pub full_ids: bool,
}

impl Layout {
    fn here(full_ids: bool) -> Layout {
        Layout {
            width: output_width(),
            full_ids,
        }
    }

    /// The ids as the table shows them.
    fn ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, String> {
        let ids: Vec<&str> = ids.into_iter().collect();
        let shown = if self.full_ids {
            ids.iter().map(|s| (*s).to_owned()).collect()
        } else {
            short_ids(&ids)
        };
        ids.into_iter().zip(shown).collect()
    }
}

/// Why a CLI command failed.
#[derive(Debug)]
enum Failure {
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
            return Err(Failure::Setup(
                "no token: set ASSENT_TOKEN to a reviewer token (or [console] token_file in the config)"
                    .into(),
            ));
        }
        let rt = crate::runtime::current_thread()
            .map_err(|e| Failure::Setup(format!("cannot start the async runtime: {e}")))?;
        rt.block_on(f(client))
    })();
    match result {
        Ok(out) => print_out(&out),
        Err(Failure::Setup(msg)) => {
            eprintln!("assent: {msg}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Failure::Ambiguous(msg)) => {
            eprintln!("assent: {}", sanitize::line(&msg));
            ExitCode::from(EXIT_NOT_FOUND)
        }
        Err(Failure::Client(e)) => {
            eprintln!("assent: {}", explain(&e, &base_url));
            ExitCode::from(exit_code(&e))
        }
    }
}

fn print_out(out: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // `assent audit | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent: cannot write the output: {e}");
            ExitCode::from(EXIT_FAILURE)
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

fn json_pretty<T: serde::Serialize>(v: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(v)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| Failure::Client(ClientError::Protocol(e.to_string())))
}

/// Could `id` be a prefix of a backend id (a UUID) rather than a whole id?
fn could_be_prefix(id: &str) -> bool {
    (MIN_PREFIX..36).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The one item whose id starts with `prefix`, or why there is none.
fn unique_by_prefix<T>(
    items: Vec<T>,
    prefix: &str,
    id: impl Fn(&T) -> &str,
    what: &str,
) -> Result<Option<T>, Failure> {
    let mut hits: Vec<T> = items
        .into_iter()
        .filter(|t| id(t).starts_with(prefix))
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(hits.pop()),
        n => {
            let some: Vec<&str> = hits.iter().take(4).map(&id).collect();
            Err(Failure::Ambiguous(format!(
                "{prefix} is the start of {n} {what} ids ({}{}); give more of the id",
                some.join(", "),
                if n > some.len() { ", …" } else { "" }
            )))
        }
    }
}

/// The request with id `id`, or with the unique id that starts with `id`.
async fn fetch_request(client: &Client, id: &str) -> Result<ApprovalRequest, Failure> {
    match client.get(id).await {
        Ok(r) => Ok(r),
        Err(e) if e.status() == Some(404) && !e.is_wrong_endpoint() && could_be_prefix(id) => {
            let all = client.list_all(None).await?.requests;
            unique_by_prefix(all, id, |r| r.id.as_str(), "request")?.ok_or(Failure::Client(e))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn list(g: &GlobalOpts, a: ListArgs) -> ExitCode {
    run(g, |client| async move {
        let list = client.list_all(a.status.0).await?;
        if a.json {
            return json_pretty(&list.requests);
        }
        Ok(requests_table(
            &list.requests,
            a.status.0,
            Utc::now(),
            Layout::here(a.full_ids),
        ))
    })
}

/// What the policy did with a request, in a word, for the tables: `review` marks calls
/// the policy let through for review after the fact (action `audit`).
fn policy_word(r: &ApprovalRequest) -> &'static str {
    let Some(p) = &r.policy else { return "" };
    match p.action {
        PolicyAction::Audit => "review",
        _ if p.error.is_some() => "failed",
        PolicyAction::Allow => "allow",
        PolicyAction::Deny => "deny",
        PolicyAction::RequireApproval if p.rule.is_some() => "held",
        PolicyAction::RequireApproval => "",
    }
}

pub fn requests_table(
    requests: &[ApprovalRequest],
    filter: Option<Status>,
    now: DateTime<Utc>,
    layout: Layout,
) -> String {
    if requests.is_empty() {
        return match filter {
            Some(s) => format!("No {s} requests.\n"),
            None => "No requests.\n".to_owned(),
        };
    }
    let ids = layout.ids(requests.iter().map(|r| r.id.as_str()));
    // One status asked for: every row has it, so the column would only take room.
    let with_status = filter.is_none();
    let with_policy = requests.iter().any(|r| !policy_word(r).is_empty());
    let mut cols = vec![Column::fixed("ID")];
    if with_status {
        cols.push(Column::fixed("STATUS"));
    }
    if with_policy {
        cols.push(Column::fixed("POLICY"));
    }
    cols.extend([
        Column::fixed("AGE"),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::optional("RISK", 4).keep(1),
        Column::optional("BY", 6).keep(0),
        Column::optional("REASON", 10).keep(2),
    ]);
    let mut t = Table::new(cols);
    for r in requests {
        let mut row = vec![ids.get(r.id.as_str()).map_or(r.id.as_str(), String::as_str)];
        if with_status {
            row.push(r.status.as_str());
        }
        if with_policy {
            row.push(policy_word(r));
        }
        let a = age(r.created_at, now);
        row.extend([
            a.as_str(),
            &r.agent,
            &r.tool,
            r.risk.map_or("", |x| x.as_str()),
            r.decision.as_ref().map_or("", |d| d.responder.as_str()),
            r.reason.as_deref().unwrap_or(""),
        ]);
        t.row(row);
    }
    t.render(layout.width)
}

pub fn show(g: &GlobalOpts, a: ShowArgs) -> ExitCode {
    run(g, |client| async move {
        let r = fetch_request(&client, &a.id).await?;
        if a.json {
            return json_pretty(&r);
        }
        Ok(request_text(&r, Utc::now(), output_width()))
    })
}

/// Width of the field names in `show`.
const LABEL: usize = 14;

pub fn request_text(r: &ApprovalRequest, now: DateTime<Utc>, width: usize) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let value = sanitize::line(value);
        // A single word that does not fit beside its name (a hash) goes on its own line,
        // whole: ids and hashes are never cut.
        if LABEL + unicode_width::UnicodeWidthStr::width(value.as_ref()) > width
            && !value.contains(' ')
        {
            let _ = writeln!(out, "{name}\n  {value}");
        } else {
            let _ = writeln!(out, "{name:<LABEL$}{value}");
        }
    };
    field("id", &r.id);
    field("status", r.status.as_str());
    field("tool", &r.tool);
    field("agent", &r.agent);
    field("filed by", &r.filed_by);
    if let Some(s) = &r.reason {
        field("reason", s);
    }
    if let Some(p) = &r.policy {
        field("policy", &p.describe());
        if p.needs_review() {
            field("", "let through by the policy without a person: review it");
        }
        if let Some(e) = &p.error {
            field("policy note", e);
        }
    }
    if let Some(risk) = r.risk {
        field("risk", risk.as_str());
    }
    for (name, v) in [
        ("conversation", &r.conversation_id),
        ("run", &r.run_id),
        ("tool call", &r.tool_call_id),
    ] {
        if let Some(v) = v {
            field(name, v);
        }
    }
    field(
        "created",
        &format!(
            "{} ({} ago)",
            r.created_at.to_rfc3339(),
            age(r.created_at, now)
        ),
    );
    match r.expires_at {
        Some(e) if e > now => field(
            "expires",
            &format!("{} (in {})", e.to_rfc3339(), until(e, now)),
        ),
        Some(e) => field(
            "expires",
            &format!("{} ({} ago)", e.to_rfc3339(), age(e, now)),
        ),
        None => field("expires", "never"),
    }
    field("args_hash", &r.args_hash);
    if let Some(d) = &r.decision {
        field(
            "decision",
            &format!(
                "{} by {} at {}, scope {}",
                d.outcome.as_str(),
                d.responder,
                d.decided_at.to_rfc3339(),
                d.scope
            ),
        );
        if let Some(s) = &d.reason {
            field("  reason", s);
        }
        field("  notify", if d.notify_agent { "yes" } else { "no" });
        if let Some(gid) = &d.grant_id {
            field("  grant", gid);
        }
    }
    let params = serde_json::to_string_pretty(&r.params).unwrap_or_else(|_| r.params.to_string());
    let _ = writeln!(out, "params");
    for line in sanitize::block(&params).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

pub fn approve(g: &GlobalOpts, a: ApproveArgs) -> ExitCode {
    run(g, |client| async move {
        let body = |r: &ApprovalRequest| DecisionBody {
            outcome: Verdict::Approve,
            scope: a.scope,
            reason: a.reason.clone(),
            notify_agent: a.notify,
            args_hash: r.args_hash.clone(),
        };
        decide(&client, &a.id, body).await
    })
}

pub fn reject(g: &GlobalOpts, a: RejectArgs) -> ExitCode {
    run(g, |client| async move {
        let body = |r: &ApprovalRequest| DecisionBody {
            outcome: Verdict::Reject,
            scope: Scope::Once,
            reason: Some(a.reason.clone()),
            notify_agent: a.notify,
            args_hash: r.args_hash.clone(),
        };
        decide(&client, &a.id, body).await
    })
}

/// Fetches the request and decides it with the args_hash of what was fetched: the decision
/// binds to the arguments this reviewer could have read, never to newer ones.
async fn decide(
    client: &Client,
    id: &str,
    body: impl Fn(&ApprovalRequest) -> DecisionBody,
) -> Result<String, Failure> {
    let seen = fetch_request(client, id).await?;
    let r = client.decide(&seen.id, &body(&seen)).await?;
    // Final before we sent, and yet a 200: the server replayed this reviewer's own
    // identical decision. Say so rather than report it as news.
    if seen.status.is_final()
        && let Some(d) = &r.decision
    {
        return Ok(format!(
            "request {} was already {} by {} at {} (scope {}); nothing changed\n",
            sanitize::line(&r.id),
            r.status,
            sanitize::line(&d.responder),
            d.decided_at.to_rfc3339(),
            d.scope
        ));
    }
    let mut line = format!(
        "{} {} ({} from {})",
        r.status,
        sanitize::line(&r.id),
        sanitize::line(&r.tool),
        sanitize::line(&r.agent)
    );
    if let Some(d) = &r.decision {
        if d.scope != Scope::Once {
            let _ = write!(line, ", scope {}", d.scope);
        }
        if let Some(gid) = &d.grant_id {
            let _ = write!(line, ", grant {}", sanitize::line(gid));
        }
        if d.notify_agent {
            line.push_str(", agent notified");
        }
    }
    line.push('\n');
    Ok(line)
}

pub fn grants(g: &GlobalOpts, a: GrantsArgs) -> ExitCode {
    run(g, |client| async move {
        let list = client.grants().await?;
        if a.json {
            return json_pretty(&list.grants);
        }
        Ok(grants_table(
            &list.grants,
            Utc::now(),
            Layout::here(a.full_ids),
        ))
    })
}

pub fn grants_table(grants: &[Grant], now: DateTime<Utc>, layout: Layout) -> String {
    if grants.is_empty() {
        return "No active grants.\n".to_owned();
    }
    let ids = layout.ids(
        grants
            .iter()
            .flat_map(|g| std::iter::once(g.id.as_str()).chain(g.source_request_id.as_deref())),
    );
    let shown = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let mut t = Table::new(vec![
        Column::fixed("ID"),
        Column::fixed("AGE"),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::flex("SCOPE"),
        Column::optional("BY", 6).keep(1),
        Column::optional("FROM REQUEST", 13).keep(0),
    ]);
    for gr in grants {
        // The conversation is what a conversation grant is about: keep it with the scope.
        let scope = match (&gr.scope, &gr.conversation_id) {
            (Scope::Conversation, Some(c)) => format!("conv:{c}"),
            (s, _) => s.to_string(),
        };
        t.row([
            shown(&gr.id),
            age(gr.created_at, now),
            gr.agent.clone(),
            gr.tool.clone(),
            scope,
            gr.created_by.clone(),
            gr.source_request_id
                .as_deref()
                .map(shown)
                .unwrap_or_default(),
        ]);
    }
    t.render(layout.width)
}

pub fn revoke(g: &GlobalOpts, a: RevokeArgs) -> ExitCode {
    run(g, |client| async move {
        // Which grant is meant, and was it active? A second DELETE of a grant answers 200
        // with the grant as it was revoked, which must not read as news.
        let active = client.grants().await?.grants;
        let target = match active.iter().find(|g| g.id == a.grant_id) {
            Some(g) => Some(g.clone()),
            None if could_be_prefix(&a.grant_id) => {
                unique_by_prefix(active, &a.grant_id, |g| g.id.as_str(), "active grant")?
            }
            None => None,
        };
        let id = target
            .as_ref()
            .map_or(a.grant_id.as_str(), |g| g.id.as_str());
        let gr = client.revoke(id).await?;
        let what = format!(
            "grant {} ({} {} from {})",
            sanitize::line(&gr.id),
            gr.scope,
            sanitize::line(&gr.tool),
            sanitize::line(&gr.agent)
        );
        if target.is_none() {
            let by = gr.revoked_by.as_deref().unwrap_or("someone");
            let at = gr
                .revoked_at
                .map(|t| format!(" at {}", t.to_rfc3339()))
                .unwrap_or_default();
            return Ok(format!(
                "{what} was already revoked by {}{at}; nothing changed\n",
                sanitize::line(by)
            ));
        }
        Ok(format!("revoked {what}\n"))
    })
}

pub fn audit(g: &GlobalOpts, a: AuditArgs) -> ExitCode {
    run(g, |client| async move {
        let entries = all_audit(&client).await?;
        if a.json {
            let mut out = String::new();
            for e in &entries {
                let line = serde_json::to_string(e)
                    .map_err(|e| Failure::Client(ClientError::Protocol(e.to_string())))?;
                out.push_str(&line);
                out.push('\n');
            }
            return Ok(out);
        }
        Ok(audit_table(&entries, Layout::here(a.full_ids)))
    })
}

async fn all_audit(client: &Client) -> Result<Vec<AuditEntry>, ClientError> {
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

/// The audit log for people: one line per entry (sequence, time, what happened, to which
/// request or grant, by whom), and its details beside it when the width allows, or on a
/// second line below it. Calls the policy let through for review (action `audit`) are
/// marked `[review]`, on their `filed` entry and on the policy's `approved` entry.
pub fn audit_table(entries: &[AuditEntry], layout: Layout) -> String {
    if entries.is_empty() {
        return "The audit log is empty.\n".to_owned();
    }
    let to_review: HashSet<&str> = entries
        .iter()
        .filter(|e| e.policy.as_ref().is_some_and(|p| p.needs_review()))
        .filter_map(|e| e.request_id.as_deref())
        .collect();
    let ids = layout.ids(entries.iter().flat_map(|e| {
        e.request_id
            .as_deref()
            .into_iter()
            .chain(e.grant_id.as_deref())
    }));
    let shown = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let rows: Vec<([String; 5], String)> = entries
        .iter()
        .map(|e| {
            let is_grant = e.action.starts_with("grant_");
            // A grant entry is about the grant: its id is the one `assent revoke` takes.
            let subject = if is_grant {
                e.grant_id.as_deref()
            } else {
                e.request_id.as_deref()
            };
            let review = e
                .request_id
                .as_deref()
                .is_some_and(|id| to_review.contains(id))
                && (e.action == "filed" || e.actor.starts_with("policy:"));
            let mut detail: Vec<String> = Vec::new();
            if review {
                detail.push("[review]".into());
            }
            // Most telling first: a cut note loses the free text at its end, not the rule.
            detail.extend(
                [
                    e.policy
                        .as_ref()
                        .map(|p| format!("policy {}", p.describe())),
                    e.policy
                        .as_ref()
                        .and_then(|p| p.error.as_ref())
                        .map(|err| format!("(failed closed: {err})")),
                    e.scope
                        .filter(|s| *s != Scope::Once)
                        .map(|s| format!("scope {s}")),
                    if is_grant {
                        e.request_id
                            .as_deref()
                            .map(|r| format!("from request {}", shown(r)))
                    } else {
                        e.grant_id.as_deref().map(|g| format!("grant {}", shown(g)))
                    },
                    e.tool.clone(),
                    e.agent.as_ref().map(|a| format!("from {a}")),
                    e.reason.as_ref().map(|r| format!("\"{r}\"")),
                ]
                .into_iter()
                .flatten(),
            );
            let cells = [
                e.seq.to_string(),
                e.at.format("%m-%d %H:%M:%S").to_string(),
                // "decided" alone says little: the outcome is the news.
                match (e.action.as_str(), &e.outcome) {
                    ("decided", Some(o)) => o.clone(),
                    (a, _) => a.to_owned(),
                },
                subject.map(shown).unwrap_or_else(|| "-".to_owned()),
                e.actor.clone(),
            ];
            (cells, detail.join(" "))
        })
        .collect();
    let columns = || {
        vec![
            Column::fixed("SEQ"),
            Column::fixed("TIME (UTC)"),
            Column::fixed("ACTION"),
            Column::fixed("REQUEST/GRANT"),
            Column::flex("ACTOR"),
        ]
    };
    let mut t = Table::new(columns());
    for (cells, detail) in &rows {
        t.row_with_note(cells, detail);
    }
    // Details beside each entry when they get room to be read (all of it, or 60 columns),
    // on a line of their own below it otherwise.
    let detail_width = rows.iter().map(|(_, d)| d.width()).max().unwrap_or(0);
    if t.natural_width() + 2 + detail_width.min(60) <= layout.width {
        let mut inline = Table::new([columns(), vec![Column::flex("DETAIL")]].concat());
        for (cells, detail) in &rows {
            inline.row(cells.iter().map(String::as_str).chain([detail.as_str()]));
        }
        return inline.render(layout.width);
    }
    t.render(layout.width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;
    use unicode_width::UnicodeWidthStr;

    const AT_80: Layout = Layout {
        width: 80,
        full_ids: false,
    };

    fn req(id: &str, reason: &str, created: DateTime<Utc>) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            status: Status::Pending,
            tool: "order_tools.process_refund".into(),
            params: json!({"order_id": "A-1001", "note": "x\u{1b}[2Jy"}),
            args_hash: crate::protocol::args_hash(&json!({})),
            reason: Some(reason.into()),
            agent: "order-manager".into(),
            conversation_id: Some("conv-1".into()),
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "om".into(),
            created_at: created,
            expires_at: None,
            policy: None,
            decision: None,
        }
    }

    #[test]
    fn list_table_fits_80_columns() {
        let now = Utc::now();
        let rows = vec![
            req(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
                &"a long reason ".repeat(9),
                now - Duration::seconds(75),
            ),
            req(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789ac",
                "short",
                now - Duration::hours(3),
            ),
        ];
        let out = requests_table(&rows, Some(Status::Pending), now, AT_80);
        for line in out.lines() {
            assert!(line.width() <= 80, "{line:?} is {} columns", line.width());
        }
        assert!(
            out.contains("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"),
            "ids are never cut: {out}"
        );
        assert!(out.contains("1m") && out.contains("3h"));
        assert!(out.contains('…'));
        assert_eq!(
            requests_table(&[], Some(Status::Pending), now, AT_80),
            "No pending requests.\n"
        );
    }

    #[test]
    fn show_names_the_policy_rule_and_flags_audited_calls() {
        use crate::protocol::{PolicyAction, PolicyMatch};
        let now = Utc::now();
        let mut r = req("r1", "why", now);
        r.policy = Some(PolicyMatch {
            rule: Some("watch-interns".into()),
            action: PolicyAction::Audit,
            message: Some("New agent.".into()),
            error: None,
        });
        let out = request_text(&r, now, 80);
        assert!(
            out.contains("policy        watch-interns → audit: New agent."),
            "{out}"
        );
        assert!(out.contains("review it"), "{out}");
        // Marked in the list too.
        r.status = Status::Approved;
        let out = requests_table(&[r], None, now, AT_80);
        let row = out.lines().nth(1).unwrap();
        assert!(row.contains("approved") && row.contains("review"), "{out}");
    }

    #[test]
    fn show_sanitises_params() {
        let now = Utc::now();
        let out = request_text(&req("r1", "why", now), now, 80);
        assert!(out.contains("conv-1"));
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn show_puts_a_hash_too_long_for_the_width_on_its_own_line_whole() {
        let now = Utc::now();
        let r = req("r1", "why", now);
        let narrow = request_text(&r, now, 80);
        assert!(
            narrow.contains(&format!("args_hash\n  {}\n", r.args_hash)),
            "{narrow}"
        );
        for line in narrow.lines().filter(|l| !l.starts_with("  ")) {
            assert!(line.width() <= 80, "{line:?}");
        }
        let wide = request_text(&r, now, 120);
        assert!(
            wide.contains(&format!("args_hash     {}\n", r.args_hash)),
            "{wide}"
        );
    }

    #[test]
    fn wider_terminals_show_more() {
        let now = Utc::now();
        let mut r = req(
            "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
            "damaged item, customer upset",
            now,
        );
        r.risk = Some(crate::protocol::Risk::High);
        let narrow = requests_table(std::slice::from_ref(&r), Some(Status::Pending), now, AT_80);
        let wide = requests_table(
            std::slice::from_ref(&r),
            Some(Status::Pending),
            now,
            Layout {
                width: 160,
                full_ids: true,
            },
        );
        assert!(wide.contains("RISK") && wide.contains("high"), "{wide}");
        assert!(wide.contains("damaged item, customer upset"), "{wide}");
        assert!(wide.contains(&r.id), "{wide}");
        assert!(
            !narrow.contains(&r.id) && narrow.contains("0193a3f2-7b1c "),
            "{narrow}"
        );
    }

    fn entry(seq: u64, actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: Utc::now(),
            actor: actor.into(),
            action: action.into(),
            request_id: Some("0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into()),
            tool: Some("order_tools.process_refund".into()),
            agent: Some("intern-3".into()),
            outcome: None,
            scope: None,
            reason: None,
            args_hash: None,
            grant_id: None,
            policy: None,
        }
    }

    #[test]
    fn audit_at_80_columns_names_the_policy_and_the_grant() {
        use crate::protocol::{PolicyAction, PolicyMatch};
        let mut filed = entry(1, "intern-token", "filed");
        filed.reason = Some("customer asked twice, see the ticket".into());
        filed.policy = Some(PolicyMatch {
            rule: Some("watch-interns".into()),
            action: PolicyAction::Audit,
            message: Some("New agent: reviewed after the fact.".into()),
            error: None,
        });
        let mut decided = entry(2, "policy:watch-interns", "decided");
        decided.outcome = Some("approved".into());
        let mut granted = entry(3, "alice", "grant_created");
        granted.grant_id = Some("0193a3f2-8c2d-7dd0-8e2f-0123456789ab".into());
        granted.scope = Some(Scope::Always);
        let out = audit_table(&[filed, decided, granted], AT_80);
        for line in out.lines() {
            assert!(
                line.width() <= 80,
                "{line:?} is {} wide\n{out}",
                line.width()
            );
        }
        assert!(
            out.contains("policy:watch-interns"),
            "the actor is readable: {out}"
        );
        assert!(
            out.contains("policy watch-interns → audit: New agent"),
            "the rule is named: {out}"
        );
        assert_eq!(
            out.matches("[review]").count(),
            2,
            "filed and approved are marked: {out}"
        );
        let grant_line = out.lines().find(|l| l.contains("grant_created")).unwrap();
        assert!(
            grant_line.contains("0193a3f2-8c2d "),
            "the grant's id, as revoke takes it: {out}"
        );
        assert!(out.contains("from request 0193a3f2-7b1c"), "{out}");
        // Wide enough: one line per entry, details beside.
        let wide = audit_table(
            &[entry(1, "a", "filed")],
            Layout {
                width: 200,
                full_ids: false,
            },
        );
        assert_eq!(wide.lines().count(), 2, "{wide}");
        assert!(wide.starts_with("SEQ") && wide.contains("DETAIL"), "{wide}");
    }

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
    fn id_prefixes() {
        assert!(could_be_prefix("0193a3f2-7b1c"));
        assert!(!could_be_prefix("019"));
        assert!(!could_be_prefix("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"));
        assert!(!could_be_prefix("no-such-request"));
        let ids = vec![
            "0193-a".to_owned(),
            "0193-b".to_owned(),
            "0194-a".to_owned(),
        ];
        let one = unique_by_prefix(ids.clone(), "0194", |s| s.as_str(), "request");
        assert_eq!(one.ok().flatten().as_deref(), Some("0194-a"));
        let none = unique_by_prefix(ids.clone(), "0195", |s| s.as_str(), "request");
        assert!(matches!(none, Ok(None)));
        let two = unique_by_prefix(ids, "0193", |s| s.as_str(), "request");
        assert!(matches!(two, Err(Failure::Ambiguous(m)) if m.contains("2 request ids")));
    }

    #[test]
    fn ages() {
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(12), now), "12s");
        assert_eq!(age(now - Duration::minutes(4), now), "4m");
        assert_eq!(age(now - Duration::hours(2), now), "2h");
        assert_eq!(age(now - Duration::days(3), now), "3d");
        assert_eq!(until(now + Duration::minutes(5), now), "5m");
        // The console's word for the same request: one formatter.
        assert_eq!(
            age(now - Duration::hours(30), now),
            crate::console::text::age(now - Duration::hours(30), now)
        );
        assert_eq!(age(now - Duration::hours(30), now), "30h");
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
