//! `assent gate`: put a command behind a human approval.

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Tool name the request is filed under.
    #[arg(long, default_value = "shell.exec")]
    pub tool: String,
    /// Agent name [default: the token's name].
    #[arg(long)]
    pub agent: Option<String>,
    /// Why the command should run, shown to the reviewer.
    #[arg(long)]
    pub reason: Option<String>,
    /// Conversation id, so "approve for conversation" can cover later calls.
    #[arg(long)]
    pub conversation: Option<String>,
    /// low, medium, high or critical.
    #[arg(long)]
    pub risk: Option<String>,
    /// Time to live of the request, e.g. 10m.
    #[arg(long)]
    pub ttl: Option<String>,
    /// The command to run once approved.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn main(_g: &GlobalOpts, _a: GateArgs) -> ExitCode {
    eprintln!("assent gate: not built yet");
    ExitCode::from(2)
}
