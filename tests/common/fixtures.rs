//! Test literals of the wire types, built in one place: the filings and decisions the
//! tests send, so that a test says only how its value differs. Changes when a wire type
//! gains or loses a field.

use assent::protocol::{DecisionBody, NewRequest, Scope, Verdict};
use serde_json::{Value, json};

/// A filing of `tool` by `agent` with `params`, and nothing else.
pub fn call(tool: &str, agent: &str, params: Value) -> NewRequest {
    NewRequest {
        tool: tool.to_owned(),
        params,
        reason: None,
        agent: agent.to_owned(),
        conversation_id: None,
        run_id: None,
        tool_call_id: None,
        risk: None,
        ttl_seconds: None,
    }
}

/// A filing of `tool` by `agent` with a refund's params and a reason.
pub fn new_request(tool: &str, agent: &str) -> NewRequest {
    NewRequest {
        reason: Some("damaged item".to_owned()),
        ..call(tool, agent, json!({"order_id": "A-1001", "amount": 250}))
    }
}

/// `new` in `conversation`.
pub fn in_conversation(conversation: &str, new: NewRequest) -> NewRequest {
    NewRequest {
        conversation_id: Some(conversation.to_owned()),
        ..new
    }
}

/// A refund of 250 by `agent`, with a reason.
pub fn refund(agent: &str) -> NewRequest {
    new_request("order_tools.process_refund", agent)
}

/// `outcome` for the call with `args_hash`, for this call only, without a reason, the
/// agent not told.
pub fn decision(outcome: Verdict, args_hash: &str) -> DecisionBody {
    DecisionBody {
        outcome,
        scope: Scope::Once,
        reason: None,
        notify_agent: false,
        args_hash: args_hash.to_owned(),
        grant_ttl_seconds: None,
        grant_max_uses: None,
        params: None,
    }
}

/// As [`decision`], with a reason the agent is told or not.
pub fn decision_because(
    outcome: Verdict,
    reason: &str,
    notify_agent: bool,
    args_hash: &str,
) -> DecisionBody {
    DecisionBody {
        reason: Some(reason.to_owned()),
        notify_agent,
        ..decision(outcome, args_hash)
    }
}

/// `value` as the JSON it goes over the wire as.
pub fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("wire types serialize")
}

/// A Claude Code PreToolUse hook input (a Bash call) in `session`, as Claude Code sends it.
pub fn pre_tool_use(session: &str, tool_use_id: &str) -> String {
    json!({
        "session_id": session,
        "transcript_path": "/home/u/.claude/projects/x/s.jsonl",
        "cwd": "/repo",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "npm test", "description": "Run the tests"},
        "tool_use_id": tool_use_id
    })
    .to_string()
}

/// A policy whose refunds over 100 need two different reviewers (the two-person rule);
/// every other call the default one.
pub const TWO_PERSON_POLICY: &str = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "big-refunds"
tool = "order_tools.process_refund"
when = "params.amount > 100"
action = "require_approval"
approvals = 2
"#;
