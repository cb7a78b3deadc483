//! Test values of the wire types the store and the server tests build on: one plain
//! filing and one plain request, which each test adjusts with struct update syntax.

use serde_json::Value;

use super::rules::now_millis;
use crate::protocol::{ApprovalRequest, NewRequest, Status};

/// A filing of `tool` by agent `a` with `params`, and nothing optional set.
pub fn new_request(tool: &str, params: Value) -> NewRequest {
    NewRequest {
        tool: tool.into(),
        params,
        reason: None,
        agent: "a".into(),
        conversation_id: None,
        run_id: None,
        tool_call_id: None,
        risk: None,
        ttl_seconds: None,
    }
}

/// Request `id` in `status`: a call of tool `t` by agent `a` with `{}`, filed now by
/// the token `agent1`.
pub fn request(id: &str, status: Status) -> ApprovalRequest {
    let params = serde_json::json!({});
    ApprovalRequest {
        id: id.into(),
        status,
        tool: "t".into(),
        args_hash: crate::protocol::args_hash(&params),
        params,
        reason: None,
        agent: "a".into(),
        conversation_id: None,
        run_id: None,
        tool_call_id: None,
        risk: None,
        filed_by: "agent1".into(),
        created_at: now_millis(),
        expires_at: None,
        decision: None,
        policy: None,
        params_truncated: false,
        params_size: None,
        escalate_at: None,
        escalated_at: None,
        on_timeout: Default::default(),
        approvals_required: 1,
        approvals: Vec::new(),
    }
}
