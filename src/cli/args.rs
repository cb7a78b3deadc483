//! The reviewer commands' flags and arguments, as `--help` and the man page show them.
//!
//! Wire enums are parsed by their own `clap::ValueEnum` (in `crate::protocol`), so the
//! command line accepts exactly the names the API uses.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::protocol::{Scope, Status};

/// `--status`: one status, or every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter(pub Option<Status>);

impl StatusFilter {
    /// Every status, in the protocol's order, then `all`.
    const ALL: [StatusFilter; Status::ALL.len() + 1] = {
        let mut all = [StatusFilter(None); Status::ALL.len() + 1];
        let mut i = 0;
        while i < Status::ALL.len() {
            all[i] = StatusFilter(Some(Status::ALL[i]));
            i += 1;
        }
        all
    };
}

/// The statuses by their own names, and `all`.
impl ValueEnum for StatusFilter {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self.0 {
            Some(status) => status.to_possible_value(),
            None => Some(PossibleValue::new("all")),
        }
    }
}

/// A reason must say something: it is recorded, and the agent may be shown it. The rule
/// is the console's too (`crate::decision_rules`).
fn non_blank(s: &str) -> Result<String, String> {
    crate::decision_rules::non_blank(s)
        .map(str::to_owned)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Which requests: pending, approved, rejected, expired, cancelled or all.
    #[arg(long, value_enum, default_value = "pending")]
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
    #[arg(long, value_enum, default_value = "once")]
    pub scope: Scope,
    /// Tell the agent the reason (needs --reason: without one the agent learns nothing).
    #[arg(long, requires = "reason")]
    pub notify: bool,
    /// Reason recorded with the approval.
    #[arg(long, value_parser = non_blank)]
    pub reason: Option<String>,
    /// With --scope conversation or always: the grant ends after this long (seconds, or
    /// e.g. 1h, 8h, 2d); without it, it lasts until revoked.
    #[arg(long, value_name = "DURATION", value_parser = grant_ttl)]
    pub grant_ttl: Option<u64>,
    /// With --scope conversation or always: the grant approves at most this many calls.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub grant_max_uses: Option<u64>,
    /// Approve these params (a JSON file) instead of those filed: the agent runs them.
    /// For this call only (scope once); checked as a filing's params are.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grant_ttl", "grant_max_uses"])]
    pub params_file: Option<std::path::PathBuf>,
}

/// `--grant-ttl`: whole seconds, 1 s to the longest a grant may last.
fn grant_ttl(s: &str) -> Result<u64, String> {
    let d = crate::agent::filing::parse_duration_arg(s)?;
    let max = crate::protocol::MAX_GRANT_TTL_SECONDS;
    if d.as_secs() > max {
        return Err(format!(
            "'{s}' is longer than a grant may last ({max} seconds)"
        ));
    }
    Ok(d.as_secs())
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
    /// Grant id, or a unique prefix of it (`assent grants` lists the active ones; a revoked
    /// grant answers that it was already revoked).
    pub grant_id: String,
}

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Print JSON lines, one audit entry object per line, for export.
    #[arg(long)]
    pub json: bool,
    /// Show ids whole instead of as a unique prefix.
    #[arg(long)]
    pub full_ids: bool,
}

/// `assent audit verify|export`; with neither, `assent audit` prints the log.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain, from the server or from an export, and name the
    /// first entry that breaks it (exit 7).
    Verify(AuditVerifyArgs),
    /// Write the audit log out, as the server serves it: JSON lines (which `audit verify
    /// --file` checks) or CSV.
    Export(AuditExportArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditVerifyArgs {
    /// An export (`assent audit export --format jsonl`) to check instead of the server's
    /// log; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One entry per line, the JSON object `GET /v1/audit` serves, hash chain included.
    Jsonl,
    /// A header line and one row per entry; cells a spreadsheet would run as a formula
    /// (starting `=`, `+`, `-`, `@`) are written with a leading `'`.
    Csv,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Only entries at or after this time: RFC 3339 (`2026-12-01T00:00:00Z`) or an age
    /// (`24h`, `7days`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// `assent deliveries --status`: one delivery status, or every delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveryFilter {
    Pending,
    Delivered,
    Failed,
    All,
}

impl DeliveryFilter {
    pub fn status(self) -> Option<crate::protocol::DeliveryStatus> {
        use crate::protocol::DeliveryStatus as S;
        match self {
            DeliveryFilter::Pending => Some(S::Pending),
            DeliveryFilter::Delivered => Some(S::Delivered),
            DeliveryFilter::Failed => Some(S::Failed),
            DeliveryFilter::All => None,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeliveriesArgs {
    /// Which deliveries: pending, delivered, failed or all.
    #[arg(long, value_enum, default_value = "all")]
    pub status: DeliveryFilter,
    /// Only those of this webhook (its `name` in [[notify.webhooks]]).
    #[arg(long, value_name = "NAME")]
    pub webhook: Option<String>,
    /// Print the JSON object `GET /v1/deliveries` answers (every page in one:
    /// `deliveries` and `webhooks`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show ids whole instead of as a unique prefix.
    #[arg(long)]
    pub full_ids: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Command {
        List(ListArgs),
        Approve(ApproveArgs),
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("assent").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn status_takes_every_status_and_all() {
        let filter = |args: &[&str]| match parse(args) {
            Ok(Command::List(a)) => Some(a.status),
            _ => None,
        };
        assert_eq!(filter(&["list"]), Some(StatusFilter(Some(Status::Pending))));
        for st in Status::ALL {
            assert_eq!(
                filter(&["list", "--status", st.as_str()]),
                Some(StatusFilter(Some(st)))
            );
        }
        assert_eq!(
            filter(&["list", "--status", "all"]),
            Some(StatusFilter(None))
        );
        let e = parse(&["list", "--status", "done"])
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(
                "[possible values: pending, approved, rejected, expired, cancelled, all]"
            )),
            "{e:?}"
        );
    }

    #[test]
    fn scope_takes_the_wire_names() {
        let scope = |args: &[&str]| match parse(args) {
            Ok(Command::Approve(a)) => Some(a.scope),
            _ => None,
        };
        assert_eq!(scope(&["approve", "r1"]), Some(Scope::Once));
        assert_eq!(
            scope(&["approve", "r1", "--scope", "conversation"]),
            Some(Scope::Conversation)
        );
        assert_eq!(
            scope(&["approve", "r1", "--scope", "always"]),
            Some(Scope::Always)
        );
        assert_eq!(scope(&["approve", "r1", "--scope", "forever"]), None);
    }

    #[test]
    fn grant_limits_take_durations_and_counts() {
        let limits = |args: &[&str]| match parse(args) {
            Ok(Command::Approve(a)) => Some((a.grant_ttl, a.grant_max_uses)),
            _ => None,
        };
        let always = ["approve", "r1", "--scope", "always"];
        let with = |extra: &[&'static str]| {
            let mut v = always.to_vec();
            v.extend_from_slice(extra);
            limits(&v)
        };
        assert_eq!(with(&[]), Some((None, None)));
        assert_eq!(with(&["--grant-ttl", "1h"]), Some((Some(3600), None)));
        assert_eq!(with(&["--grant-ttl", "90"]), Some((Some(90), None)));
        assert_eq!(with(&["--grant-max-uses", "3"]), Some((None, Some(3))));
        assert_eq!(with(&["--grant-max-uses", "0"]), None);
        assert_eq!(with(&["--grant-ttl", "0s"]), None);
        assert_eq!(with(&["--grant-ttl", "100000d"]), None);
    }
}
