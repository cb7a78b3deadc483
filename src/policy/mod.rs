//! Policy: which calls need a human, decided by the backend at filing time, and the
//! `assent policy` command that tries a policy before a server runs it.
//!
//! Rules are tried in order and the first match wins. A rule matches on tool and agent globs
//! and an optional condition in CEL (the `cel` crate), over `tool`, `agent`, `params`,
//! `conversation_id`, `run_id` and `risk`. A policy is compiled whole before it is used: a
//! rule that does not parse, names an unknown variable or has a bad glob refuses the whole
//! policy, so a server never runs half-configured. A condition that fails while it is being
//! evaluated fails closed: the call waits for a human.
//!
//! - `compile`: the `[policy]` table as written, and its compilation into a [`Policy`]
//! - `evaluate`: what a compiled policy says about one call, and why ([`Ruling`], [`Step`])
//! - `cmd`: `assent policy check` and `assent policy explain`
//!
//! This file holds the compiled policy itself, which the other two share.

pub mod cmd;
mod compile;
mod evaluate;

use std::time::Duration;

pub use compile::{PolicyConfig, RuleConfig, parse_policy_text};
pub use evaluate::{Call, Ruling, Step, StepOutcome};

use crate::protocol::{PolicyAction, Risk, TimeoutAction};

/// The variables a condition may use; anything else is refused when the policy compiles.
pub const VARIABLES: [&str; 7] = [
    "tool",
    "agent",
    "params",
    "conversation_id",
    "run_id",
    "risk",
    "filed_by",
];

struct Rule {
    name: String,
    tool_glob: String,
    tool: globset::GlobMatcher,
    agent_glob: Option<String>,
    agent: Option<globset::GlobMatcher>,
    when: Option<(String, cel::Program)>,
    action: PolicyAction,
    risk: Option<Risk>,
    ttl: Option<Duration>,
    escalate_after: Option<Duration>,
    on_timeout: Option<TimeoutAction>,
    /// How many different reviewers must approve what it holds (the two-person rule).
    approvals: u32,
    message: Option<String>,
}

/// A compiled policy, ready to evaluate. Cheap to share behind an `Arc`.
pub struct Policy {
    default: PolicyAction,
    rules: Vec<Rule>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("default", &self.default)
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Policy {
    /// A policy with no rules: every call waits for a human, as without a policy.
    pub fn require_all() -> Policy {
        Policy {
            default: PolicyAction::RequireApproval,
            rules: Vec::new(),
        }
    }

    pub fn default_action(&self) -> PolicyAction {
        self.default
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as one line each, for `assent policy check`.
    pub fn describe(&self) -> Vec<String> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s = format!(
                    "{:>3}. {} → {} (tool {}",
                    i + 1,
                    r.name,
                    r.action,
                    r.tool_glob
                );
                if let Some(a) = &r.agent_glob {
                    s.push_str(&format!(", agent {a}"));
                }
                if let Some((w, _)) = &r.when {
                    s.push_str(&format!(", when {w}"));
                }
                if let Some(risk) = r.risk {
                    s.push_str(&format!(", risk {risk}"));
                }
                if let Some(ttl) = r.ttl {
                    s.push_str(&format!(", ttl {}", humantime::format_duration(ttl)));
                }
                if let Some(after) = r.escalate_after {
                    let after = humantime::format_duration(after);
                    s.push_str(&format!(", escalate_after {after}"));
                }
                if let Some(t) = r.on_timeout {
                    s.push_str(&format!(", on_timeout {t}"));
                }
                if r.approvals > 1 {
                    s.push_str(&format!(", approvals {}", r.approvals));
                }
                s.push(')');
                s
            })
            .collect()
    }
}

/// The policies and calls the engine's unit tests share.
#[cfg(test)]
mod fixtures {
    use serde_json::Value;

    use super::{Call, Policy, parse_policy_text};

    pub fn policy(toml_text: &str) -> anyhow::Result<Policy> {
        parse_policy_text(toml_text, "test.toml")
    }

    pub fn call<'a>(tool: &'a str, agent: &'a str, params: &'a Value) -> Call<'a> {
        Call {
            tool,
            agent,
            params,
            conversation_id: None,
            run_id: None,
            risk: None,
            filed_by: None,
        }
    }

    pub const EXAMPLE: &str = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "never-rm-root"
tool = "shell.*"
when = "params.argv.exists(a, a == '/') && params.argv[0] == 'rm'"
action = "deny"
message = "Deleting / is never allowed."

[[policy.rules]]
name = "big-refunds"
tool = "order_tools.process_refund"
agent = "*"
when = "params.amount > 1000"
action = "require_approval"
risk = "high"
ttl = "1h"
escalate_after = "15m"
on_timeout = "reject"
message = "Refunds over $1000 need a manager."

[[policy.rules]]
name = "small-refunds"
tool = "order_tools.process_refund"
action = "allow"

[[policy.rules]]
name = "new-agent"
agent = "intern-*"
action = "audit"
"#;
}
