//! The `[policy]` table as an operator writes it, and its compilation into a [`Policy`]:
//! every rule is checked (name, globs, CEL condition and its variables, TTL) before any
//! is used, so a broken policy is refused whole, with the rule named.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
use serde::Deserialize;

use super::{Policy, Rule, VARIABLES};
use crate::protocol::{MAX_APPROVALS, PolicyAction, Risk, TimeoutAction};

/// `[policy]` as written in TOML.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// What a call that matches no rule gets.
    #[serde(default)]
    pub default: PolicyAction,
    /// Each rule is read on its own when the policy compiles, so an error names the rule.
    #[serde(default)]
    pub rules: Vec<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// Glob over the tool name: "order_tools.*", "*".
    #[serde(default = "star")]
    pub tool: String,
    /// Glob over the agent name.
    #[serde(default)]
    pub agent: Option<String>,
    /// CEL condition; the rule matches only when it is true.
    #[serde(default)]
    pub when: Option<String>,
    pub action: PolicyAction,
    /// Risk given to a matching request that declares none.
    #[serde(default)]
    pub risk: Option<Risk>,
    /// Default TTL of the requests this rule holds for a human, e.g. "1h".
    #[serde(default)]
    pub ttl: Option<String>,
    /// How long a held request waits before it escalates, e.g. "15m".
    #[serde(default)]
    pub escalate_after: Option<String>,
    /// What the end of a held request's TTL does: "expire" or "reject".
    #[serde(default)]
    pub on_timeout: Option<TimeoutAction>,
    /// How many different reviewers must approve a held request (the two-person rule);
    /// the token that filed it never counts. Only with action require_approval.
    #[serde(default)]
    pub approvals: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
}

fn star() -> String {
    "*".to_owned()
}

/// A file that holds only a `[policy]` table (what `[server] policy_file` names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy: PolicyConfig,
}

impl Policy {
    /// Compiles a `[policy]` table; `origin` names where it came from in errors.
    pub fn compile(cfg: &PolicyConfig, origin: &str) -> anyhow::Result<Policy> {
        let mut rules = Vec::with_capacity(cfg.rules.len());
        let mut names = std::collections::HashSet::new();
        for (i, table) in cfg.rules.iter().enumerate() {
            let named = table.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            let rc: RuleConfig =
                toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        anyhow::anyhow!("{origin}: rule #{} '{named}': {}", i + 1, e.message())
                    })?;
            let at = format!("{origin}: rule #{} '{}'", i + 1, rc.name);
            if rc.name.trim().is_empty() {
                bail!("{origin}: rule #{} has an empty name", i + 1);
            }
            if !names.insert(rc.name.clone()) {
                bail!("{at}: the name is used by an earlier rule; names must be unique");
            }
            let tool = glob(&rc.tool).with_context(|| format!("{at}: bad tool glob"))?;
            let agent = match &rc.agent {
                Some(a) => Some(glob(a).with_context(|| format!("{at}: bad agent glob"))?),
                None => None,
            };
            let when = match &rc.when {
                Some(src) => Some((
                    src.clone(),
                    compile_condition(src).with_context(|| at.clone())?,
                )),
                None => None,
            };
            let ttl = bounded(&at, "ttl", rc.ttl.as_deref())?;
            let escalate_after = bounded(&at, "escalate_after", rc.escalate_after.as_deref())?;
            let approvals = approvals(&at, rc.approvals, rc.action)?;
            rules.push(Rule {
                name: rc.name.clone(),
                tool_glob: rc.tool.clone(),
                tool,
                agent_glob: rc.agent.clone(),
                agent,
                when,
                action: rc.action,
                risk: rc.risk,
                ttl,
                escalate_after,
                on_timeout: rc.on_timeout,
                approvals,
                message: rc.message.clone(),
            });
        }
        Ok(Policy {
            default: cfg.default,
            rules,
        })
    }

    /// Reads and compiles a file holding a `[policy]` table.
    pub fn load_file(path: &Path) -> anyhow::Result<Policy> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        let file: PolicyFile = toml::from_str(&text)
            .with_context(|| format!("{}: not a valid policy file", path.display()))?;
        Policy::compile(&file.policy, &path.display().to_string())
    }
}

/// The duration `key` of a rule (`at` names it): at least 1 s and at most 366 days, the
/// bounds of a request's own ttl_seconds.
fn bounded(at: &str, key: &str, text: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let Some(t) = text else { return Ok(None) };
    let d = humantime::parse_duration(t)
        .with_context(|| format!("{at}: {key} '{t}' is not a duration (e.g. \"30m\", \"1h\")"))?;
    if d.as_secs() == 0 || d.as_secs() > crate::store::rules::MAX_TTL_SECONDS {
        bail!("{at}: {key} '{t}' must be at least 1s and at most 366 days");
    }
    Ok(Some(d))
}

/// A rule's `approvals`: 1 to [`MAX_APPROVALS`], and more than 1 only where a person
/// decides (an allow or deny rule has nobody to ask).
fn approvals(at: &str, n: Option<u32>, action: PolicyAction) -> anyhow::Result<u32> {
    let Some(n) = n else { return Ok(1) };
    if !(1..=MAX_APPROVALS).contains(&n) {
        bail!("{at}: approvals = {n} must be 1 to {MAX_APPROVALS}");
    }
    if n > 1 && action != PolicyAction::RequireApproval {
        bail!(
            "{at}: approvals = {n} applies to action \"require_approval\" only: a rule that \
             decides by itself asks nobody"
        );
    }
    Ok(n)
}

fn glob(pattern: &str) -> anyhow::Result<globset::GlobMatcher> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()?
        .compile_matcher())
}

fn compile_condition(src: &str) -> anyhow::Result<cel::Program> {
    let program = cel::Program::compile(src)
        .map_err(|e| anyhow::anyhow!("condition `{src}` does not compile: {e}"))?;
    let mut unknown = Vec::new();
    free_variables(program.expression(), &mut Vec::new(), &mut unknown);
    unknown.sort();
    unknown.dedup();
    if !unknown.is_empty() {
        bail!(
            "condition `{src}` uses unknown variable(s) {}; conditions may use {}",
            unknown.join(", "),
            VARIABLES.join(", ")
        );
    }
    Ok(program)
}

/// Identifiers the condition reads that no macro (`exists`, `all`, `map`…) binds: a typo
/// such as `amount` for `params.amount` is then refused when the policy loads, not found
/// at three in the morning when the first matching call fails closed.
fn free_variables<'e>(e: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<&'e str>) {
    match &e.expr {
        Expr::Ident(name)
            if !name.starts_with('@')
                && !bound.contains(&name.as_str())
                && !VARIABLES.contains(&name.as_str()) =>
        {
            out.push(name);
        }
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                free_variables(t, bound, out);
            }
            for a in &call.args {
                free_variables(a, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            free_variables(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(&c.iter_var);
            if let Some(v2) = &c.iter_var2 {
                bound.push(v2);
            }
            bound.push(&c.accu_var);
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(depth);
        }
        Expr::List(l) => {
            for el in &l.elements {
                free_variables(el, bound, out);
            }
        }
        Expr::Select(sel) => free_variables(&sel.operand, bound, out),
        Expr::Map(m) => entries(&m.entries, bound, out),
        Expr::Struct(st) => entries(&st.entries, bound, out),
        _ => {}
    }
}

fn entries<'e>(es: &'e [IdedEntryExpr], bound: &mut Vec<&'e str>, out: &mut Vec<&'e str>) {
    for entry in es {
        match &entry.expr {
            EntryExpr::StructField(f) => free_variables(&f.value, bound, out),
            EntryExpr::MapEntry(m) => {
                free_variables(&m.key, bound, out);
                free_variables(&m.value, bound, out);
            }
        }
    }
}

/// Parses `[policy]` from the text of a server config, for `assent policy check` on a
/// whole config file as well as on a policy-only file.
pub fn parse_policy_text(text: &str, origin: &str) -> anyhow::Result<Policy> {
    #[derive(Deserialize)]
    struct Any {
        policy: Option<PolicyConfig>,
    }
    let any: Any =
        toml::from_str(text).with_context(|| format!("{origin}: not valid TOML for a policy"))?;
    match any.policy {
        Some(p) => Policy::compile(&p, origin),
        None => bail!("{origin}: no [policy] table"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::policy;

    #[test]
    fn broken_policies_are_refused_with_the_rule_named() {
        let e =
            policy("[policy]\n[[policy.rules]]\nname='x'\nwhen='params.amount >'\naction='allow'")
                .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("test.toml") && msg.contains("'x'"), "{msg}");

        let e = policy("[policy]\n[[policy.rules]]\nname='x'\naction='approve'").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("approve") && msg.contains("rule #1 'x'"),
            "{msg}"
        );

        let e =
            policy("[policy]\n[[policy.rules]]\nname='z'\nttl='0s'\naction='allow'").unwrap_err();
        assert!(format!("{e:#}").contains("at least 1s"), "{e:#}");

        let e = policy("[policy]\n[[policy.rules]]\nname='x'\nwhen='amount > 3'\naction='allow'")
            .unwrap_err();
        assert!(format!("{e:#}").contains("unknown variable"), "{e:#}");

        let e =
            policy("[policy]\n[[policy.rules]]\nname='x'\ntool='[a'\naction='allow'").unwrap_err();
        assert!(format!("{e:#}").contains("glob"), "{e:#}");

        let e =
            policy("[policy]\n[[policy.rules]]\nname='x'\nttl='soon'\naction='allow'").unwrap_err();
        assert!(format!("{e:#}").contains("ttl"), "{e:#}");

        let e = policy("[policy]\n[[policy.rules]]\nname='x'\nescalate_after='0s'\naction='allow'")
            .unwrap_err();
        assert!(format!("{e:#}").contains("escalate_after"), "{e:#}");

        let e = policy("[policy]\n[[policy.rules]]\nname='x'\non_timeout='wait'\naction='allow'")
            .unwrap_err();
        assert!(format!("{e:#}").contains("rule #1 'x'"), "{e:#}");
    }
}
