//! What a compiled policy says about one call: the first rule that matches, with a
//! condition that cannot be evaluated failing closed, and for `assent policy explain`,
//! why each rule before it did not match.

use std::time::Duration;

use serde_json::Value;

use super::Policy;
use crate::protocol::{PolicyAction, Risk, TimeoutAction};

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
pub struct Ruling {
    pub action: PolicyAction,
    /// The rule that decided; None when the default applied.
    pub rule: Option<String>,
    pub message: Option<String>,
    pub risk: Option<Risk>,
    pub ttl: Option<Duration>,
    /// How long a held call waits before it escalates (the rule's `escalate_after`).
    pub escalate_after: Option<Duration>,
    /// What the end of a held call's TTL does (the rule's `on_timeout`).
    pub on_timeout: Option<TimeoutAction>,
    /// How many different reviewers must approve a held call (the rule's `approvals`).
    pub approvals: u32,
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
    /// What the policy decides for `call`.
    pub fn evaluate(&self, call: &Call<'_>) -> Ruling {
        self.run(call, None)
    }

    /// `evaluate`, plus why each rule before the deciding one did not match.
    pub fn explain(&self, call: &Call<'_>) -> (Ruling, Vec<Step>) {
        let mut steps = Vec::new();
        let v = self.run(call, Some(&mut steps));
        (v, steps)
    }

    fn run(&self, call: &Call<'_>, mut trace: Option<&mut Vec<Step>>) -> Ruling {
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
                    Ruling {
                        action: PolicyAction::RequireApproval,
                        rule: Some(rule.name.clone()),
                        message: None,
                        risk: None,
                        ttl: None,
                        escalate_after: None,
                        on_timeout: None,
                        approvals: 1,
                        error: failed,
                    }
                } else {
                    Ruling {
                        action: rule.action,
                        rule: Some(rule.name.clone()),
                        message: rule.message.clone(),
                        risk: rule.risk,
                        ttl: rule.ttl,
                        escalate_after: rule.escalate_after,
                        on_timeout: rule.on_timeout,
                        approvals: rule.approvals,
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
        Ruling {
            action,
            rule: None,
            message: None,
            risk: None,
            ttl: None,
            escalate_after: None,
            on_timeout: None,
            approvals: 1,
            error: failed,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{EXAMPLE, call, policy};
    use super::*;

    #[test]
    fn first_match_wins_in_order() {
        let p = policy(EXAMPLE).unwrap();
        let big = json!({"amount": 1500});
        let v = p.evaluate(&call("order_tools.process_refund", "om", &big));
        assert_eq!(v.action, PolicyAction::RequireApproval);
        assert_eq!(v.rule.as_deref(), Some("big-refunds"));
        assert_eq!(v.risk, Some(Risk::High));
        assert_eq!(v.ttl, Some(Duration::from_secs(3600)));
        assert_eq!(v.escalate_after, Some(Duration::from_secs(15 * 60)));
        assert_eq!(v.on_timeout, Some(TimeoutAction::Reject));

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
