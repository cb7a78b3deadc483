//! `assent policy check` and `assent policy explain`: try a policy before a server runs it.
//!
//! Exit codes: 0 the policy compiled (and, for explain, the call was evaluated);
//! [`EXIT_REFUSED`] otherwise, and for clap's own usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Call, Policy, parse_policy_text};
use crate::GlobalOpts;
use crate::protocol::{PolicyAction, Risk};

/// The policy could not be read or does not compile, the call's `--params` is not JSON,
/// or the output could not be written; stderr says which.
pub const EXIT_REFUSED: u8 = 2;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy (a policy file, or a server config with [policy]) and print its rules.
    Check {
        /// The file to check [default: the server config's policy].
        file: Option<PathBuf>,
    },
    /// Which rule a call would match, the outcome, and why the rules before it did not match.
    Explain(ExplainArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub tool: String,
    #[arg(long)]
    pub agent: String,
    /// The call's parameters, as JSON.
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long)]
    pub conversation: Option<String>,
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long, value_enum)]
    pub risk: Option<Risk>,
    /// The name of the token that files the call (the `filed_by` variable).
    #[arg(long)]
    pub filed_by: Option<String>,
    /// Policy file [default: the server config's policy].
    #[arg(long)]
    pub file: Option<PathBuf>,
}

fn load(g: &GlobalOpts, file: Option<&PathBuf>) -> anyhow::Result<(Policy, String)> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let origin = path.display().to_string();
            // A server config's other tables are allowed here: check only its policy.
            let policy = parse_policy_text(&text, &origin).or_else(|first| {
                let cfg = crate::config::Config::parse(&text, path).map_err(|_| first)?;
                cfg.load_policy()
            })?;
            Ok((policy, origin))
        }
        None => {
            let cfg = g.load_config()?;
            let Some(origin) = cfg.origin.as_ref().map(|p| p.display().to_string()) else {
                anyhow::bail!(
                    "no config file found, so there is no policy to check: pass a policy file \
                     (assent policy check FILE) or --config FILE"
                );
            };
            Ok((cfg.load_policy()?, origin))
        }
    }
}

pub fn main(g: &GlobalOpts, cmd: PolicyCommand) -> ExitCode {
    match run(g, cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assent policy: {e:#}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

fn run(g: &GlobalOpts, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    let text = render(g, cmd)?;
    // One write; a reader that went away (`| head`) is not an error worth a panic.
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}

fn render(g: &GlobalOpts, cmd: PolicyCommand) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    match cmd {
        PolicyCommand::Check { file } => {
            let (policy, origin) = load(g, file.as_ref())?;
            let _ = writeln!(
                out,
                "{origin}: ok, {} rule(s); calls that match none: {}",
                policy.len(),
                policy.default_action()
            );
            for line in policy.describe() {
                let _ = writeln!(out, "{line}");
            }
            Ok(out)
        }
        PolicyCommand::Explain(a) => {
            let (policy, origin) = load(g, a.file.as_ref())?;
            let params: serde_json::Value = serde_json::from_str(&a.params)
                .map_err(|e| anyhow::anyhow!("--params is not valid JSON: {e}"))?;
            let call = Call {
                tool: &a.tool,
                agent: &a.agent,
                params: &params,
                conversation_id: a.conversation.as_deref(),
                run_id: a.run.as_deref(),
                risk: a.risk,
                filed_by: a.filed_by.as_deref(),
            };
            let (ruling, steps) = policy.explain(&call);
            let _ = writeln!(out, "policy: {origin}");
            for s in &steps {
                let _ = writeln!(out, "  {}: {}", s.rule, s.outcome);
            }
            match &ruling.rule {
                Some(r) => {
                    let _ = writeln!(out, "outcome: {} (rule '{r}')", ruling.action);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "outcome: {} (no rule matched: the default)",
                        ruling.action
                    );
                }
            }
            if let Some(m) = &ruling.message {
                let _ = writeln!(out, "message: {m}");
            }
            if let Some(e) = &ruling.error {
                let _ = writeln!(out, "note: {e}");
            }
            if ruling.action == PolicyAction::RequireApproval {
                if let Some(ttl) = ruling.ttl {
                    let _ = writeln!(out, "ttl: {}", humantime::format_duration(ttl));
                }
                if let Some(after) = ruling.escalate_after {
                    let after = humantime::format_duration(after);
                    let _ = writeln!(out, "escalate_after: {after}");
                }
                if let Some(t) = ruling.on_timeout {
                    let _ = writeln!(out, "on_timeout: {t}");
                }
                if ruling.approvals > 1 {
                    let _ = writeln!(out, "approvals: {} different reviewers", ruling.approvals);
                }
            }
            Ok(out)
        }
    }
}
