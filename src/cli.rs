//! The headless reviewer CLI: list, show, approve, reject, grants, revoke, audit.
//!
//! Human output is a compact table that fits 80 columns; `--json` output is the protocol's
//! own objects (docs/api.md), so it stays as stable as the API: `list` and `grants` print
//! one JSON array, `show` one object, `audit --json` one entry per line (JSON lines).
//!
//! Exit codes (documented in the README): 0 done; 1 unexpected failure; 2 backend
//! unreachable or client set up wrongly (and clap's own usage errors); 3 token refused
//! (401) or lacking the reviewer role (403); 4 not found (404); 5 conflict (409: already
//! decided, expired or cancelled); 6 refused as invalid (400/422: args_hash mismatch,
//! conversation scope without a conversation).

use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::builder::TypedValueParser as _;

use crate::GlobalOpts;
use crate::client::{Client, ClientError};
use crate::protocol::{ApprovalRequest, AuditEntry, DecisionBody, Grant, Scope, Status, Verdict};
use crate::sanitize;
use crate::table::{Column, DEFAULT_WIDTH, Table};

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_CONFLICT: u8 = 5;
pub const EXIT_INVALID: u8 = 6;

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

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Which requests: pending, approved, rejected, expired, cancelled or all.
    #[arg(long, default_value = "pending", value_parser = status_filter_parser())]
    pub status: StatusFilter,
    /// Print a JSON array of request objects (as in the API) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// Request id.
    pub id: String,
    /// Print the request object (as in the API) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    /// Request id.
    pub id: String,
    /// once; conversation (this agent's later calls of this tool in this conversation);
    /// always (every later call of this tool by this agent).
    #[arg(long, default_value = "once", value_parser = scope_parser())]
    pub scope: Scope,
    /// Tell the agent the decision's reason.
    #[arg(long)]
    pub notify: bool,
    /// Optional reason recorded with the approval.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RejectArgs {
    /// Request id.
    pub id: String,
    /// Why (recorded; shown to the agent only with --notify).
    #[arg(long, required = true)]
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
}

#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    /// Grant id (see `assent grants`).
    pub grant_id: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Print JSON lines, one audit entry object per line, for export.
    #[arg(long)]
    pub json: bool,
}

/// Why a CLI command failed.
#[derive(Debug)]
enum Failure {
    Client(ClientError),
    Setup(String),
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
    let result = (|| {
        let settings = g
            .client_settings()
            .map_err(|e| Failure::Setup(format!("{e:#}")))?;
        let client = Client::new(&settings)?;
        if !client.has_token() {
            return Err(Failure::Setup(
                "no token: set ASSENT_TOKEN to a reviewer token (or [console] token_file in the config)"
                    .into(),
            ));
        }
        let rt = crate::filing::runtime()
            .map_err(|e| Failure::Setup(format!("cannot start the async runtime: {e}")))?;
        rt.block_on(f(client))
    })();
    match result {
        Ok(out) => print_out(&out),
        Err(Failure::Setup(msg)) => {
            eprintln!("assent: {msg}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Failure::Client(e)) => {
            eprintln!("assent: {}", explain(&e));
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

/// The server's message (sanitised: it is untrusted text), and what to do about it.
fn explain(e: &ClientError) -> String {
    let msg = sanitize::line(&e.to_string()).into_owned();
    match e {
        ClientError::Network { .. } => {
            format!("{msg}; check that `assent serve` runs there (--url or ASSENT_URL)")
        }
        ClientError::Api { status: 401, .. } => {
            format!("{msg}; check ASSENT_TOKEN (or [console] token_file)")
        }
        ClientError::Api { status: 403, .. } => {
            format!("{msg}; this command needs a reviewer or admin token")
        }
        ClientError::Api { status: 404, .. } => {
            format!("{msg}; check the id (`assent list --status all`, `assent grants`)")
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

/// "12s", "4m", "2h", "3d": the age of `t` (or time left, for a future `t`).
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
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

pub fn list(g: &GlobalOpts, a: ListArgs) -> ExitCode {
    run(g, |client| async move {
        let list = client.list_all(a.status.0).await?;
        if a.json {
            return json_pretty(&list.requests);
        }
        Ok(requests_table(&list.requests, a.status.0, Utc::now()))
    })
}

pub fn requests_table(
    requests: &[ApprovalRequest],
    filter: Option<Status>,
    now: DateTime<Utc>,
) -> String {
    if requests.is_empty() {
        return match filter {
            Some(s) => format!("No {s} requests.\n"),
            None => "No requests.\n".to_owned(),
        };
    }
    // One status asked for: every row has it, so the column would only take room.
    let with_status = filter.is_none();
    let mut cols = vec![Column::fixed("ID")];
    if with_status {
        cols.push(Column::fixed("STATUS"));
    }
    cols.extend([
        Column::fixed("AGE"),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::optional("REASON", 10),
    ]);
    let mut t = Table::new(cols);
    for r in requests {
        let mut row = vec![r.id.as_str()];
        if with_status {
            row.push(r.status.as_str());
        }
        let a = age(r.created_at, now);
        row.extend([
            a.as_str(),
            &r.agent,
            &r.tool,
            r.reason.as_deref().unwrap_or(""),
        ]);
        t.row(row);
    }
    t.render(DEFAULT_WIDTH)
}

pub fn show(g: &GlobalOpts, a: ShowArgs) -> ExitCode {
    run(g, |client| async move {
        let r = client.get(&a.id).await?;
        if a.json {
            return json_pretty(&r);
        }
        Ok(request_text(&r, Utc::now()))
    })
}

pub fn request_text(r: &ApprovalRequest, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<14}{}", sanitize::line(value));
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
            &format!("{} (in {})", e.to_rfc3339(), age(e, now)),
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
    let seen = client.get(id).await?;
    let r = client.decide(id, &body(&seen)).await?;
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
        Ok(grants_table(&list.grants, Utc::now()))
    })
}

pub fn grants_table(grants: &[Grant], now: DateTime<Utc>) -> String {
    if grants.is_empty() {
        return "No active grants.\n".to_owned();
    }
    let mut t = Table::new(vec![
        Column::fixed("ID"),
        Column::fixed("AGE"),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::flex("SCOPE"),
    ]);
    for gr in grants {
        // The conversation is what a conversation grant is about: keep it with the scope.
        let scope = match (&gr.scope, &gr.conversation_id) {
            (Scope::Conversation, Some(c)) => format!("conv:{c}"),
            (s, _) => s.to_string(),
        };
        t.row([
            gr.id.as_str(),
            &age(gr.created_at, now),
            &gr.agent,
            &gr.tool,
            &scope,
        ]);
    }
    t.render(DEFAULT_WIDTH)
}

pub fn revoke(g: &GlobalOpts, a: RevokeArgs) -> ExitCode {
    run(g, |client| async move {
        let gr = client.revoke(&a.grant_id).await?;
        Ok(format!(
            "revoked grant {} ({} {} from {})\n",
            sanitize::line(&gr.id),
            gr.scope,
            sanitize::line(&gr.tool),
            sanitize::line(&gr.agent)
        ))
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
        Ok(audit_table(&entries))
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

pub fn audit_table(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "The audit log is empty.\n".to_owned();
    }
    let mut t = Table::new(vec![
        Column::fixed("SEQ"),
        Column::fixed("TIME (UTC)"),
        Column::flex("ACTOR"),
        Column::fixed("ACTION"),
        Column::fixed("REQUEST/GRANT"),
        Column::optional("DETAIL", 12),
    ]);
    for e in entries {
        let subject = e
            .request_id
            .as_deref()
            .or(e.grant_id.as_deref())
            .unwrap_or("-");
        let detail: Vec<String> = [
            e.scope.filter(|s| *s != Scope::Once).map(|s| s.to_string()),
            e.tool.clone(),
            e.agent.as_ref().map(|a| format!("from {a}")),
            e.reason.as_ref().map(|r| format!("\"{r}\"")),
            e.policy
                .as_ref()
                .map(|p| format!("policy {}", p.describe())),
        ]
        .into_iter()
        .flatten()
        .collect();
        t.row([
            e.seq.to_string(),
            e.at.format("%m-%d %H:%M:%S").to_string(),
            e.actor.clone(),
            // "decided" alone says little: the outcome is the news.
            match (e.action.as_str(), &e.outcome) {
                ("decided", Some(o)) => o.clone(),
                (a, _) => a.to_owned(),
            },
            subject.to_owned(),
            detail.join(" "),
        ]);
    }
    t.render(DEFAULT_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;
    use unicode_width::UnicodeWidthStr;

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
        let out = requests_table(&rows, Some(Status::Pending), now);
        for line in out.lines() {
            assert!(line.width() <= 80, "{line:?} is {} columns", line.width());
        }
        assert!(
            out.contains("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"),
            "ids are never cut"
        );
        assert!(out.contains("1m") && out.contains("3h"));
        assert!(out.contains('…'));
        assert_eq!(
            requests_table(&[], Some(Status::Pending), now),
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
        let out = request_text(&r, now);
        assert!(
            out.contains("policy        watch-interns → audit: New agent."),
            "{out}"
        );
        assert!(out.contains("review it"), "{out}");
    }

    #[test]
    fn show_sanitises_params() {
        let now = Utc::now();
        let out = request_text(&req("r1", "why", now), now);
        assert!(out.contains("conv-1"));
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn ages() {
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(12), now), "12s");
        assert_eq!(age(now - Duration::minutes(4), now), "4m");
        assert_eq!(age(now - Duration::hours(2), now), "2h");
        assert_eq!(age(now - Duration::days(3), now), "3d");
        assert_eq!(age(now + Duration::minutes(5), now), "5m");
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
