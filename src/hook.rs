//! `assent hook claude-code`: a Claude Code command hook that routes permission
//! prompts to human reviewers.

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum HookCommand {
    /// Claude Code hook adapter (PermissionRequest or PreToolUse; JSON on stdin and stdout).
    ClaudeCode(ClaudeCodeArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ClaudeCodeArgs {
    /// Agent name on the requests.
    #[arg(long, default_value = "claude-code")]
    pub agent: String,
    /// On timeout or an unreachable backend: ask (hand back to Claude Code's prompt) or deny.
    #[arg(long, default_value = "ask")]
    pub on_timeout: String,
    /// Longest wait for a decision, in seconds (keep below the hook's own timeout).
    #[arg(long, default_value_t = 540)]
    pub wait: u64,
}

pub fn main(_g: &GlobalOpts, _h: HookCommand) -> ExitCode {
    eprintln!("assent hook: not built yet");
    ExitCode::FAILURE
}
