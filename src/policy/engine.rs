//! Policy: which calls need a human, decided by the backend at filing time.
//!
//! Rules are tried in order and the first match wins. A rule matches on tool and agent globs
//! and an optional condition in CEL (the `cel` crate), over `tool`, `agent`, `params`,
//! `conversation_id`, `run_id` and `risk`. A policy is compiled whole before it is used: a
//! rule that does not parse, names an unknown variable or has a bad glob refuses the whole
//! policy, so a server never runs half-configured. A condition that fails while it is being
//! evaluated fails closed: the call waits for a human.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};

use crate::protocol::{PolicyAction, Risk};

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

/// The facts about a call that rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tool: &'a str,
    pub agent: &'a str,
    pub params: &'a Value,
    pub conversation_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub risk: Option<Risk>,
    /// The name of the token that filed the call. Unlike `agent`, which the agent
    /// chooses, this is the identity the server authenticated.
    pub filed_by: Option<&'a str>,
}

/// What the policy says about one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub action: PolicyAction,
    /// The rule that decided; None when the default applied.
    pub rule: Option<String>,
    pub message: Option<String>,
    pub risk: Option<Risk>,
    pub ttl: Option<Duration>,
    /// Set when a condition failed to evaluate and the call failed closed.
    pub error: Option<String>,
}

/// Why one rule did or did not match, for `assent policy explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub rule: String,
    pub outcome: StepOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    ToolMismatch { glob: String },
    AgentMismatch { glob: String },
    ConditionFalse { when: String },
    ConditionError { when: String, error: String },
    Matched,
}

impl std::fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepOutcome::ToolMismatch { glob } => write!(f, "tool does not match '{glob}'"),
            StepOutcome::AgentMismatch { glob } => write!(f, "agent does not match '{glob}'"),
            StepOutcome::ConditionFalse { when } => write!(f, "condition `{when}` is false"),
            StepOutcome::ConditionError { when, error } => {
                write!(f, "condition `{when}` failed ({error}): fails closed")
            }
            StepOutcome::Matched => write!(f, "matched"),
        }
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
            let ttl = match &rc.ttl {
                Some(t) => {
                    let d = humantime::parse_duration(t).with_context(|| {
                        format!("{at}: ttl '{t}' is not a duration (e.g. \"30m\", \"1h\")")
                    })?;
                    // The same bounds as a request's own ttl_seconds.
                    if d.as_secs() == 0 || d.as_secs() > crate::store::rules::MAX_TTL_SECONDS {
                        bail!("{at}: ttl '{t}' must be at least 1s and at most 366 days");
                    }
                    Some(d)
                }
                None => None,
            };
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
                s.push(')');
                s
            })
            .collect()
    }

    /// What the policy decides for `call`.
    pub fn evaluate(&self, call: &Call<'_>) -> Verdict {
        self.run(call, None)
    }

    /// `evaluate`, plus why each rule before the deciding one did not match.
    pub fn explain(&self, call: &Call<'_>) -> (Verdict, Vec<Step>) {
        let mut steps = Vec::new();
        let v = self.run(call, Some(&mut steps));
        (v, steps)
    }

    fn run(&self, call: &Call<'_>, mut trace: Option<&mut Vec<Step>>) -> Verdict {
        // The CEL context is built lazily: most filings are decided by globs alone.
        let mut ctx: Option<cel::Context<'_, '_>> = None;
        // The first condition that could not be evaluated. Evaluation goes on past it, so
        // a later deny still denies (`rm -rf /` must not reach a queue because an
        // unrelated refund rule had no `amount` to read), but nothing later may let the
        // call through: it fails closed.
        let mut failed: Option<String> = None;
        for rule in &self.rules {
            let outcome = if !rule.tool.is_match(call.tool) {
                StepOutcome::ToolMismatch {
                    glob: rule.tool_glob.clone(),
                }
            } else if rule.agent.as_ref().is_some_and(|a| !a.is_match(call.agent)) {
                StepOutcome::AgentMismatch {
                    glob: rule.agent_glob.clone().unwrap_or_default(),
                }
            } else if let Some((src, program)) = &rule.when {
                let ctx = ctx.get_or_insert_with(|| context_for(call));
                match program.execute(ctx) {
                    Ok(cel::Value::Bool(true)) => StepOutcome::Matched,
                    Ok(cel::Value::Bool(false)) => {
                        StepOutcome::ConditionFalse { when: src.clone() }
                    }
                    Ok(other) => StepOutcome::ConditionError {
                        when: src.clone(),
                        error: format!("it gave {other:?}, not a bool"),
                    },
                    Err(e) => StepOutcome::ConditionError {
                        when: src.clone(),
                        error: e.to_string(),
                    },
                }
            } else {
                StepOutcome::Matched
            };
            if let StepOutcome::ConditionError { error, .. } = &outcome
                && failed.is_none()
            {
                failed = Some(format!(
                    "condition of rule '{}' failed to evaluate ({error}); held for a person",
                    rule.name
                ));
            }
            let matched = outcome == StepOutcome::Matched;
            if let Some(t) = trace.as_deref_mut() {
                t.push(Step {
                    rule: rule.name.clone(),
                    outcome,
                });
            }
            if matched {
                // After a failed condition nothing may let the call through: an allow or
                // audit rule is overruled (and has nothing to say about why the call is
                // held); a deny or require_approval rule stands as written.
                let overruled = failed.is_some()
                    && matches!(rule.action, PolicyAction::Allow | PolicyAction::Audit);
                return if overruled {
                    Verdict {
                        action: PolicyAction::RequireApproval,
                        rule: Some(rule.name.clone()),
                        message: None,
                        risk: None,
                        ttl: None,
                        error: failed,
                    }
                } else {
                    Verdict {
                        action: rule.action,
                        rule: Some(rule.name.clone()),
                        message: rule.message.clone(),
                        risk: rule.risk,
                        ttl: rule.ttl,
                        error: failed,
                    }
                };
            }
        }
        // No rule matched: the default, unless a failed condition forbids letting the
        // call through.
        let action = match (&failed, self.default) {
            (Some(_), PolicyAction::Allow | PolicyAction::Audit) => PolicyAction::RequireApproval,
            (_, default) => default,
        };
        Verdict {
            action,
            rule: None,
            message: None,
            risk: None,
            ttl: None,
            error: failed,
        }
    }
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

fn context_for(call: &Call<'_>) -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::default();
    ctx.add_variable_from_value("params", cel_value(call.params));
    ctx.add_variable_from_value("tool", call.tool.to_owned());
    ctx.add_variable_from_value("agent", call.agent.to_owned());
    ctx.add_variable_from_value("conversation_id", opt_str(call.conversation_id));
    ctx.add_variable_from_value("run_id", opt_str(call.run_id));
    ctx.add_variable_from_value("risk", opt_str(call.risk.map(|r| r.as_str())));
    ctx.add_variable_from_value("filed_by", opt_str(call.filed_by));
    ctx
}

/// JSON to CEL with every integer as CEL `int`, as Kubernetes does: `cel::to_value`
/// makes positive JSON integers `uint`, and `uint + 100` (an `int` literal) then has no
/// overload, so any condition doing arithmetic on a parameter would always fail.
fn cel_value(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(std::sync::Arc::new(s.clone())),
        Value::Array(items) => {
            cel::Value::List(std::sync::Arc::new(items.iter().map(cel_value).collect()))
        }
        Value::Object(map) => {
            let m: std::collections::HashMap<String, cel::Value> =
                map.iter().map(|(k, x)| (k.clone(), cel_value(x))).collect();
            cel::Value::from(m)
        }
    }
}

fn opt_str(s: Option<&str>) -> cel::Value {
    match s {
        Some(s) => cel::Value::from(s.to_owned()),
        None => cel::Value::Null,
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
    use super::*;
    use serde_json::json;

    fn policy(toml_text: &str) -> anyhow::Result<Policy> {
        parse_policy_text(toml_text, "test.toml")
    }

    fn call<'a>(tool: &'a str, agent: &'a str, params: &'a Value) -> Call<'a> {
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

    const EXAMPLE: &str = r#"
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

    #[test]
    fn first_match_wins_in_order() {
        let p = policy(EXAMPLE).unwrap();
        let big = json!({"amount": 1500});
        let v = p.evaluate(&call("order_tools.process_refund", "om", &big));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert_eq!(v.rule.as_deref(), Some("big-refunds"));
        assert_eq!(v.risk, Some(Risk::High));
        assert_eq!(v.ttl, Some(Duration::from_secs(3600)));

        let small = json!({"amount": 20});
        let v = p.evaluate(&call("order_tools.process_refund", "om", &small));
        assert_eq!(v.action, PolicyAction::Allow);
        assert_eq!(v.rule.as_deref(), Some("small-refunds"));
    }

    #[test]
    fn each_action_is_reachable() {
        let p = policy(EXAMPLE).unwrap();
        let rm = json!({"argv": ["rm", "-rf", "/"]});
        let v = p.evaluate(&call("shell.exec", "ops", &rm));
        assert_eq!(v.action, PolicyAction::Deny);
        assert_eq!(v.message.as_deref(), Some("Deleting / is never allowed."));

        let v = p.evaluate(&call("email.send", "intern-7", &json!({})));
        assert_eq!(v.action, PolicyAction::Audit);

        let v = p.evaluate(&call("email.send", "ops", &json!({})));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert_eq!(v.rule, None);
    }

    #[test]
    fn float_amounts_compare_with_int_literals() {
        let p = policy(EXAMPLE).unwrap();
        let v = p.evaluate(&call(
            "order_tools.process_refund",
            "om",
            &json!({"amount": 1000.5}),
        ));
        assert_eq!(v.rule.as_deref(), Some("big-refunds"), "{v:?}");
    }

    #[test]
    fn evaluation_errors_fail_closed() {
        let p = policy(EXAMPLE).unwrap();
        // No `amount`: the big-refunds condition cannot be evaluated, so the later
        // small-refunds allow must not let the call through.
        let v = p.evaluate(&call("order_tools.process_refund", "om", &json!({"x": 1})));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert_eq!(v.rule.as_deref(), Some("small-refunds"));
        assert!(
            v.error
                .as_deref()
                .is_some_and(|e| e.contains("big-refunds")),
            "{v:?}"
        );
        // The allow rule's words, risk and TTL say nothing about why the call is held.
        assert_eq!((v.message, v.risk, v.ttl), (None, None, None));

        let p = policy(
            "[policy]\ndefault='allow'\n[[policy.rules]]\nname='nb'\nwhen='params.amount'\naction='allow'",
        )
        .unwrap();
        let v = p.evaluate(&call("t", "a", &json!({"amount": 3})));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert!(v.error.is_some());
    }

    #[test]
    fn a_later_deny_still_denies_after_an_earlier_condition_failed() {
        let p = policy(
            r#"[policy]
[[policy.rules]]
name = "small-ok"
when = "params.amount < 100"
action = "allow"
[[policy.rules]]
name = "never-rm"
tool = "shell.*"
when = "params.argv[0] == 'rm'"
action = "deny"
message = "no"
"#,
        )
        .unwrap();
        let rm = json!({"argv": ["rm", "-rf", "/"]});
        let v = p.evaluate(&call("shell.exec", "ops", &rm));
        assert_eq!(v.action, PolicyAction::Deny, "{v:?}");
        assert_eq!(v.rule.as_deref(), Some("never-rm"));
        // Nothing matched after the failure: held, with the note saying why.
        let v = p.evaluate(&call("shell.exec", "ops", &json!({"argv": ["ls"]})));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert!(v.error.is_some());
    }

    #[test]
    fn arithmetic_on_json_integers_works() {
        let p = policy(
            "[policy]\n[[policy.rules]]\nname='sum'\nwhen='params.amount + 100 > 1000 && params.qty * 2 == 6'\naction='deny'",
        )
        .unwrap();
        let v = p.evaluate(&call("t", "a", &json!({"amount": 5000, "qty": 3})));
        assert_eq!(v.action, PolicyAction::Deny, "{v:?}");
        assert_eq!(v.error, None);
    }

    #[test]
    fn filed_by_is_the_authenticated_token() {
        let p = policy(
            "[policy]\n[[policy.rules]]\nname='trusted'\nwhen=\"filed_by == 'ci-bot'\"\naction='allow'",
        )
        .unwrap();
        let params = json!({});
        let spoofed = call("deploy", "ci-bot", &params);
        assert_eq!(p.evaluate(&spoofed).action, PolicyAction::RequireApproval);
        let real = Call {
            filed_by: Some("ci-bot"),
            ..spoofed
        };
        assert_eq!(p.evaluate(&real).action, PolicyAction::Allow);
    }

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
    }

    #[test]
    fn explain_says_why_earlier_rules_did_not_match() {
        let p = policy(EXAMPLE).unwrap();
        let params = json!({"amount": 5});
        let (v, steps) = p.explain(&call("order_tools.process_refund", "om", &params));
        assert_eq!(v.rule.as_deref(), Some("small-refunds"));
        assert_eq!(steps.len(), 3);
        assert!(matches!(steps[0].outcome, StepOutcome::ToolMismatch { .. }));
        assert!(matches!(
            steps[1].outcome,
            StepOutcome::ConditionFalse { .. }
        ));
        assert_eq!(steps[2].outcome, StepOutcome::Matched);
    }

    #[test]
    fn conditions_see_every_variable() {
        let p = policy(
            r#"[policy]
[[policy.rules]]
name = "all"
when = "tool == 't' && agent == 'a' && conversation_id == 'c' && run_id == null && risk == 'low' && params.k == 'v'"
action = "allow"
"#,
        )
        .unwrap();
        let params = json!({"k": "v"});
        let c = Call {
            conversation_id: Some("c"),
            risk: Some(Risk::Low),
            ..call("t", "a", &params)
        };
        assert_eq!(p.evaluate(&c).action, PolicyAction::Allow);
    }
}
