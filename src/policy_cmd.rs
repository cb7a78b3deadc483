//! `assent policy check` and `assent policy explain`: try a policy before a server runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::GlobalOpts;
use crate::policy::{Call, Policy, parse_policy_text};
use crate::protocol::{PolicyAction, Risk};

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
    #[arg(long, value_parser = parse_risk)]
    pub risk: Option<Risk>,
    /// Policy file [default: the server config's policy].
    #[arg(long)]
    pub file: Option<PathBuf>,
}

fn parse_risk(s: &str) -> Result<Risk, String> {
    Risk::parse(s).ok_or_else(|| format!("'{s}' is not a risk: use low, medium, high or critical"))
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
            let origin = cfg
                .origin
                .as_ref()
                .map_or("the default config".to_owned(), |p| p.display().to_string());
            Ok((cfg.load_policy()?, origin))
        }
    }
}

pub fn main(g: &GlobalOpts, cmd: PolicyCommand) -> ExitCode {
    match run(g, cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assent policy: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(g: &GlobalOpts, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => {
            let (policy, origin) = load(g, file.as_ref())?;
            println!(
                "{origin}: ok, {} rule(s); calls that match none: {}",
                policy.len(),
                policy.default_action()
            );
            for line in policy.describe() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
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
            };
            let (verdict, steps) = policy.explain(&call);
            println!("policy: {origin}");
            for s in &steps {
                println!("  {}: {}", s.rule, s.outcome);
            }
            match &verdict.rule {
                Some(r) => println!("outcome: {} (rule '{r}')", verdict.action),
                None => println!("outcome: {} (no rule matched: the default)", verdict.action),
            }
            if let Some(m) = &verdict.message {
                println!("message: {m}");
            }
            if let Some(e) = &verdict.error {
                println!("note: {e}");
            }
            if verdict.action == PolicyAction::RequireApproval
                && let Some(ttl) = verdict.ttl
            {
                println!("ttl: {}", humantime::format_duration(ttl));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
