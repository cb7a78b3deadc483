//! The headless reviewer CLI: list, show, approve, reject, grants, revoke, audit,
//! deliveries.
//!
//! Human output is a compact table fitted to the terminal (80 columns when piped; `COLUMNS`
//! overrides); `--json` output is the protocol's own objects (docs/api.md), so it stays as
//! stable as the API: `list` and `grants` print one JSON array, `show` one object,
//! `audit --json` one entry per line (JSON lines). Tables show ids shortened to a unique
//! prefix (`--full-ids` shows them whole); every command taking an id accepts such a prefix.
//!
//! - `args`: the flags, as `--help` shows them
//! - `commands`: what each command asks the backend and prints
//! - `resolve`: id prefixes to whole ids
//! - `lists` and `table`: the tables of `list`, `grants`, `audit`, and their fitting
//! - `render`: `show`'s text, the answers of approve, reject and revoke, `--json`
//! - `deliveries`: `assent deliveries`, the webhook outbox (admin)
//! - `failure`: exit codes and error messages (the exit codes are listed there)

mod args;
mod audit_log;
mod commands;
mod deliveries;
mod failure;
mod lists;
mod render;
mod resolve;
pub mod table;

pub use args::{
    ApproveArgs, AuditArgs, DeliveriesArgs, DeliveryFilter, GrantsArgs, ListArgs, RejectArgs,
    RevokeArgs, ShowArgs, StatusFilter,
};
pub use commands::{approve, audit, deliveries, grants, list, reject, revoke, show, write_stdout};
pub use failure::{
    EXIT_AUTH, EXIT_CHAIN_BROKEN, EXIT_CONFLICT, EXIT_FAILURE, EXIT_INVALID, EXIT_NOT_FOUND,
    EXIT_UNREACHABLE, NO_TOKEN, exit_code, explain,
};
pub use lists::{Layout, audit_table, grants_table, requests_table};
pub use render::request_text;

#[cfg(test)]
mod fixtures {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use crate::protocol::{ApprovalRequest, Status};

    /// A pending refund with a control sequence in its params, as an agent might send.
    pub fn req(id: &str, reason: &str, created: DateTime<Utc>) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            status: Status::Pending,
            tool: "order_tools.process_refund".into(),
            params: json!({"order_id": "A-1001", "note": "x\u{1b}[2Jy"}),
            args_hash: crate::protocol::args_hash(&json!({})),
            reason: Some(reason.into()),
            agent: "order-manager".into(),
            conversation_id: Some("conv-1".into()),
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "om".into(),
            created_at: created,
            expires_at: None,
            policy: None,
            decision: None,
            params_truncated: false,
            params_size: None,
            escalate_at: None,
            escalated_at: None,
            on_timeout: Default::default(),
            approvals_required: 1,
            approvals: Vec::new(),
        }
    }
}
