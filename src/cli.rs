//! The headless reviewer CLI: list, show, approve, reject, grants, revoke, audit.

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// pending, approved, rejected, expired, cancelled or all.
    #[arg(long, default_value = "pending")]
    pub status: String,
    /// Stable JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    pub id: String,
    /// once, conversation or always.
    #[arg(long, default_value = "once")]
    pub scope: String,
    /// Tell the agent the decision's reason.
    #[arg(long)]
    pub notify: bool,
    /// Optional reason recorded with the approval.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RejectArgs {
    pub id: String,
    #[arg(long, required = true)]
    pub reason: String,
    #[arg(long)]
    pub notify: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GrantsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    pub grant_id: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[arg(long)]
    pub json: bool,
}

fn not_built(name: &str) -> ExitCode {
    eprintln!("assent {name}: not built yet");
    ExitCode::FAILURE
}

pub fn list(_g: &GlobalOpts, _a: ListArgs) -> ExitCode {
    not_built("list")
}
pub fn show(_g: &GlobalOpts, _a: ShowArgs) -> ExitCode {
    not_built("show")
}
pub fn approve(_g: &GlobalOpts, _a: ApproveArgs) -> ExitCode {
    not_built("approve")
}
pub fn reject(_g: &GlobalOpts, _a: RejectArgs) -> ExitCode {
    not_built("reject")
}
pub fn grants(_g: &GlobalOpts, _a: GrantsArgs) -> ExitCode {
    not_built("grants")
}
pub fn revoke(_g: &GlobalOpts, _a: RevokeArgs) -> ExitCode {
    not_built("revoke")
}
pub fn audit(_g: &GlobalOpts, _a: AuditArgs) -> ExitCode {
    not_built("audit")
}
