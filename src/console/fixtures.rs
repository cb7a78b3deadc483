//! Test data with fixed times, so snapshots and assertions never depend on the clock.
//! The one place the console's tests build values of the wire types (requests, grants,
//! decisions, events, identities, policy matches) and the client's errors.

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Msg;
use super::effect::Effect;
use super::keymap::Keymap;
use super::model::{Drawn, Entry, Settings, State};
use super::update::update;
use super::view;
use crate::client::ClientError;
use crate::protocol::{
    ApprovalRequest, Decision, Event, EventKind, Grant, Identity, Outcome, PolicyAction,
    PolicyMatch, Risk, Role, Scope, Status,
};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn ago(secs: i64) -> DateTime<Utc> {
    now() - chrono::Duration::seconds(secs)
}

pub fn state(width: u16, height: u16) -> State {
    State::new(
        Settings {
            backend: "http://127.0.0.1:7878".into(),
            bell: true,
            no_color: true,
            keymap: Keymap::default(),
        },
        now(),
        width,
        height,
    )
}

pub fn req(id: &str, tool: &str, agent: &str, age_secs: i64, params: Value) -> ApprovalRequest {
    ApprovalRequest {
        id: id.into(),
        status: Status::Pending,
        tool: tool.into(),
        args_hash: crate::protocol::args_hash(&params),
        params,
        reason: None,
        agent: agent.into(),
        conversation_id: None,
        run_id: None,
        tool_call_id: None,
        risk: None,
        filed_by: agent.into(),
        created_at: ago(age_secs),
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

/// A small realistic queue: a refund, an email, a db delete.
pub fn queue() -> Vec<ApprovalRequest> {
    let mut refund = req(
        "req-1",
        "order_tools.process_refund",
        "order-manager",
        250,
        json!({"order_id": "A-1001", "amount": 250, "currency": "EUR", "note": "damaged"}),
    );
    refund.reason = Some("Customer reports a damaged item".into());
    refund.risk = Some(Risk::Medium);
    refund.conversation_id = Some("conv-77".into());
    refund.run_id = Some("run-5".into());
    refund.tool_call_id = Some("call-9".into());
    refund.expires_at = Some(now() + chrono::Duration::seconds(45));
    let mut email = req(
        "req-2",
        "email.send",
        "support-bot",
        70,
        json!({"to": "jane@example.com", "subject": "Your refund", "body": "Hello Jane,\nyour refund is on its way."}),
    );
    email.reason = Some("Reply to ticket #4411".into());
    email.risk = Some(Risk::Low);
    email.expires_at = Some(now() + chrono::Duration::seconds(600));
    let mut delete = req(
        "req-3",
        "db.delete",
        "janitor",
        10,
        json!({"table": "sessions", "where": "last_seen < now() - interval '90 days'"}),
    );
    delete.reason = Some("Nightly cleanup".into());
    delete.risk = Some(Risk::Critical);
    vec![refund, email, delete]
}

/// A whole list of pending requests, in one page.
pub fn listed(requests: Vec<ApprovalRequest>) -> Msg {
    Msg::PendingPage {
        requests,
        first: true,
        last: true,
    }
}

pub fn loaded(width: u16, height: u16) -> State {
    let mut s = state(width, height);
    update(&mut s, listed(queue()));
    s
}

/// The queued request `id` (the test fails if it is not in the queue).
pub fn entry<'a>(s: &'a State, id: &str) -> &'a Entry {
    match s.queue().get(id) {
        Some(e) => e,
        None => panic!("{id} is not in the queue"),
    }
}

pub fn decided(
    mut r: ApprovalRequest,
    outcome: Outcome,
    scope: Scope,
    by: &str,
) -> ApprovalRequest {
    r.status = match outcome {
        Outcome::Approved => Status::Approved,
        Outcome::Rejected => Status::Rejected,
    };
    r.decision = Some(Box::new(Decision {
        approval_token: None,
        approved_params: None,
        approved_args_hash: None,
        outcome,
        scope,
        reason: None,
        notify_agent: false,
        responder: by.into(),
        decided_at: now(),
        grant_id: None,
        via: Default::default(),
    }));
    r
}

pub fn event(kind: EventKind, seq: u64, r: ApprovalRequest) -> Msg {
    Msg::Event(Box::new(
        Event {
            seq,
            kind,
            at: now(),
            request: Some(r),
            grant: None,
            database_id: None,
        }
        .into(),
    ))
}

/// An active `always` grant of `tool` to `agent`, made by alice a minute ago.
pub fn grant(id: &str, tool: &str, agent: &str) -> Grant {
    Grant {
        id: id.into(),
        scope: Scope::Always,
        agent: agent.into(),
        tool: tool.into(),
        conversation_id: None,
        created_by: "alice".into(),
        created_at: ago(60),
        source_request_id: None,
        revoked_at: None,
        revoked_by: None,
        expires_at: None,
        max_uses: None,
        uses: 0,
        expired_at: None,
        approvers: Vec::new(),
    }
}

/// An active grant of the fixture refund tool to order-manager in conversation `conv`,
/// made by alice five minutes ago.
pub fn conversation_grant(id: &str, conv: &str) -> Grant {
    Grant {
        scope: Scope::Conversation,
        conversation_id: Some(conv.into()),
        created_at: ago(300),
        ..grant(id, "order_tools.process_refund", "order-manager")
    }
}

/// A connection the backend refused: what proves a decision was not sent.
pub fn refused() -> ClientError {
    network_error(crate::client::CONNECT_FAILED)
}

/// The answer to the decision sent on request `id`.
pub fn answer(id: &str, result: Result<ApprovalRequest, ClientError>) -> Msg {
    Msg::Decided {
        id: id.into(),
        result,
    }
}

/// The backend's refusal of a call, with the request it is about when there is one.
pub fn api_error(
    status: u16,
    code: &str,
    message: &str,
    request: Option<ApprovalRequest>,
) -> ClientError {
    ClientError::Api {
        status,
        code: code.into(),
        message: message.into(),
        request: request.map(Box::new),
    }
}

/// A call that did not reach the backend, or whose answer never came.
pub fn network_error(detail: &str) -> ClientError {
    ClientError::Network {
        url: "http://127.0.0.1:7878".into(),
        detail: detail.into(),
    }
}

pub fn reviewer(name: &str) -> Identity {
    Identity {
        name: name.into(),
        role: Role::Reviewer,
    }
}

/// The policy rule `rule` with `action`, and its message if any.
pub fn policy(rule: &str, action: PolicyAction, message: Option<&str>) -> PolicyMatch {
    PolicyMatch {
        rule: Some(rule.into()),
        action,
        message: message.map(str::to_owned),
        error: None,
    }
}

/// What `assent gate -- rm -rf '/tmp/old builds'` files from /srv/app: a `shell.exec` with
/// argv and cwd, high risk, from the `deploy-bot`.
pub fn gate_request(id: &str, age_secs: i64) -> ApprovalRequest {
    let mut r = req(
        id,
        "shell.exec",
        "deploy-bot",
        age_secs,
        json!({"argv": ["rm", "-rf", "/tmp/old builds"], "cwd": "/srv/app"}),
    );
    r.reason = Some("free disk space before the release".into());
    r.risk = Some(Risk::High);
    r
}

/// A tool name of 32 columns, as long as a name the queue must never cut at 120 columns.
pub const LONG_TOOL: &str = "billing.subscriptions.cancel_all";

/// A request whose parameters fill many rows of the detail (60 fields).
pub fn long_request(id: &str) -> ApprovalRequest {
    let params: serde_json::Map<String, Value> = (0..60)
        .map(|i| (format!("field_{i:02}"), json!(format!("value {i}"))))
        .collect();
    req(id, "crm.bulk_update", "crm-bot", 20, Value::Object(params))
}

/// Draws `state` as the driver does (the view, then `Msg::Drawn` back into `update`) and
/// returns the screen as text, one line per row.
pub fn frame(state: &mut State) -> String {
    let mut t = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
    let mut drawn = Drawn::default();
    t.draw(|f| drawn = view::draw(state, f)).unwrap();
    update(state, Msg::Drawn(drawn));
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// A key pressed with the screen in front of the reviewer (a frame drawn first); an
/// uppercase letter comes with Shift, as a terminal sends it.
pub fn press(state: &mut State, c: char) -> Vec<Effect> {
    frame(state);
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(state, Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)))
}
