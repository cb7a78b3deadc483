//! An event of the stream as the console reads it: the protocol's `Event`, but with its
//! request's parameters kept as the JSON text the server sent, not parsed into a tree.
//! A queued request keeps its parameters as text anyway (`model::entry`): parsing them
//! into B-tree maps on arrival, only to write them out again as text and drop the tree,
//! was most of the cost of taking in a stream event (issue 10: 10,000 events in 10 ms).
//! The protocol's own types stay as they are; this mirror of `ApprovalRequest` (and of its
//! `Decision`) differs in that field and in reading its times by `timestamp::Time`
//! (chrono's general parser was a fifth of the cost of reading an event), and a test holds
//! the two to the same fields.

use std::ops::Deref;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::timestamp::Time;
use crate::protocol::{
    Approval, ApprovalRequest, Decision, Event, Outcome, PolicyMatch, Risk, Scope, Status,
    TimeoutAction, Via,
};

/// A stream event, its request's parameters as text (`params`, None without a request).
#[derive(Debug, Clone)]
pub struct Streamed {
    /// The event, its request's `params` null.
    event: Event,
    params: Option<Box<RawValue>>,
}

impl Deref for Streamed {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

impl From<Event> for Streamed {
    /// An event made in this process (the demo, tests): its parameters written as text,
    /// as the server would send them.
    fn from(mut event: Event) -> Streamed {
        let params = event.request.as_mut().map(|r| {
            let v = std::mem::take(&mut r.params);
            serde_json::value::to_raw_value(&v).unwrap_or_else(|_| RawValue::NULL.to_owned())
        });
        Streamed { event, params }
    }
}

impl Streamed {
    /// Reads an event from the text of its SSE `data:` field.
    pub fn read(data: &str) -> Result<Streamed, serde_json::Error> {
        let wire: WireEvent = serde_json::from_str(data)?;
        let (request, params) = match wire.request {
            Some(r) => {
                let (req, params) = r.split();
                (Some(req), Some(params))
            }
            None => (None, None),
        };
        Ok(Streamed {
            event: Event {
                seq: wire.seq,
                kind: wire.kind,
                at: wire.at.0,
                request,
                grant: wire.grant,
                database_id: wire.database_id,
            },
            params,
        })
    }

    /// Takes the event's request out, and its parameters' text, leaving the rest where
    /// it is: the console takes an event in from its boxed message, and moving the whole
    /// event (near a kilobyte) out of the box and apart was a measurable part of that.
    pub fn take_request(&mut self) -> (Option<ApprovalRequest>, Option<Box<str>>) {
        let params = self.params.take().map(Box::<str>::from);
        (self.event.request.take(), params)
    }

    /// Takes the event's grant out (see [`Streamed::take_request`]).
    pub fn take_grant(&mut self) -> Option<crate::protocol::Grant> {
        self.event.grant.take()
    }
}

/// The parameters' text parsed (for the History, which keeps requests whole); null for
/// text that is not JSON.
pub fn parse_params(text: Option<&str>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[derive(Deserialize)]
struct WireEvent {
    seq: u64,
    #[serde(rename = "type")]
    kind: crate::protocol::EventKind,
    at: Time,
    #[serde(default)]
    request: Option<WireRequest>,
    #[serde(default)]
    grant: Option<crate::protocol::Grant>,
    #[serde(default)]
    database_id: Option<String>,
}

/// `ApprovalRequest` with `params` as raw text: the same fields, the same defaults.
#[derive(Deserialize)]
struct WireRequest {
    id: String,
    status: Status,
    tool: String,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    args_hash: String,
    #[serde(default)]
    reason: Option<String>,
    agent: String,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    risk: Option<Risk>,
    #[serde(default)]
    filed_by: String,
    created_at: Time,
    #[serde(default)]
    expires_at: Option<Time>,
    #[serde(default)]
    decision: Option<WireDecision>,
    #[serde(default)]
    policy: Option<PolicyMatch>,
    #[serde(default)]
    params_truncated: bool,
    #[serde(default)]
    params_size: Option<u64>,
    #[serde(default)]
    escalate_at: Option<Time>,
    #[serde(default)]
    escalated_at: Option<Time>,
    #[serde(default)]
    on_timeout: TimeoutAction,
    #[serde(default = "one")]
    approvals_required: u32,
    #[serde(default)]
    approvals: Vec<Approval>,
}

fn one() -> u32 {
    1
}

/// `Decision`, its time read by [`Time`]: the same fields, the same defaults.
#[derive(Deserialize)]
struct WireDecision {
    outcome: Outcome,
    scope: Scope,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    notify_agent: bool,
    responder: String,
    decided_at: Time,
    #[serde(default)]
    grant_id: Option<String>,
    #[serde(default)]
    via: Via,
    #[serde(default)]
    approval_token: Option<String>,
    #[serde(default)]
    approved_params: Option<serde_json::Value>,
    #[serde(default)]
    approved_args_hash: Option<String>,
}

impl WireDecision {
    fn into_decision(self) -> Decision {
        Decision {
            outcome: self.outcome,
            scope: self.scope,
            reason: self.reason,
            notify_agent: self.notify_agent,
            responder: self.responder,
            decided_at: self.decided_at.0,
            grant_id: self.grant_id,
            via: self.via,
            approval_token: self.approval_token,
            approved_params: self.approved_params,
            approved_args_hash: self.approved_args_hash,
        }
    }
}

impl WireRequest {
    fn split(self) -> (ApprovalRequest, Box<RawValue>) {
        let params = self.params.unwrap_or_else(|| RawValue::NULL.to_owned());
        let req = ApprovalRequest {
            id: self.id,
            status: self.status,
            tool: self.tool,
            params: serde_json::Value::Null,
            args_hash: self.args_hash,
            reason: self.reason,
            agent: self.agent,
            conversation_id: self.conversation_id,
            run_id: self.run_id,
            tool_call_id: self.tool_call_id,
            risk: self.risk,
            filed_by: self.filed_by,
            created_at: self.created_at.0,
            expires_at: self.expires_at.map(|t| t.0),
            decision: self
                .decision
                .map(|d| Box::new(WireDecision::into_decision(d))),
            policy: self.policy,
            params_truncated: self.params_truncated,
            params_size: self.params_size,
            escalate_at: self.escalate_at.map(|t| t.0),
            escalated_at: self.escalated_at.map(|t| t.0),
            on_timeout: self.on_timeout,
            approvals_required: self.approvals_required,
            approvals: self.approvals,
        };
        (req, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures;
    use crate::protocol::{EventKind, Outcome, PolicyAction, Scope};
    use serde_json::json;

    /// Every field the protocol's request has, set: the mirror must read each one back.
    fn full_request() -> ApprovalRequest {
        let mut r = fixtures::req("r1", "t", "a", 30, json!({"b": [1, 2.5, "x"], "a": null}));
        r.reason = Some("why".into());
        r.conversation_id = Some("c".into());
        r.run_id = Some("run".into());
        r.tool_call_id = Some("call".into());
        r.risk = Some(Risk::High);
        r.expires_at = Some(fixtures::now());
        r.policy = Some(fixtures::policy(
            "p",
            PolicyAction::RequireApproval,
            Some("m"),
        ));
        r.params_truncated = true;
        r.escalate_at = Some(fixtures::now());
        r.escalated_at = Some(fixtures::now());
        r.on_timeout = TimeoutAction::Reject;
        r.params_size = Some(12);
        r.approvals_required = 2;
        r.approvals = vec![Approval {
            responder: "bob".into(),
            approved_at: fixtures::now(),
            scope: Scope::Always,
            reason: Some("ok".into()),
            grant_ttl_seconds: Some(60),
            grant_max_uses: Some(3),
        }];
        let mut r = fixtures::decided(r, Outcome::Approved, Scope::Once, "alice");
        if let Some(d) = r.decision.as_mut() {
            d.reason = Some("fine".into());
            d.notify_agent = true;
            d.grant_id = Some("g1".into());
            d.approval_token = Some("jwt".into());
            d.approved_params = Some(json!({"b": [1]}));
            d.approved_args_hash = Some("h".into());
            d.decided_at += chrono::Duration::nanoseconds(123_456_789);
        }
        r
    }

    #[test]
    fn the_mirror_reads_every_field_of_a_request_and_keeps_the_params_as_sent() {
        let req = full_request();
        let ev = Event {
            seq: 7,
            kind: EventKind::RequestDecided,
            at: fixtures::now(),
            request: Some(req.clone()),
            grant: None,
            database_id: Some("db".into()),
        };
        let data = serde_json::to_string(&ev).unwrap();
        // (A field added to the protocol's request breaks `WireRequest::split`, which
        // names every one: the mirror cannot fall behind silently.)
        let sent = serde_json::to_value(&req).unwrap();
        let mut s = Streamed::read(&data).unwrap();
        let (request, params) = s.take_request();
        let mut back = Event { request, ..s.event };
        let params = params.unwrap();
        assert_eq!(&*params, r#"{"a":null,"b":[1,2.5,"x"]}"#);
        if let Some(r) = back.request.as_mut() {
            r.params = parse_params(Some(&params));
        }
        assert_eq!(back, ev);
        assert_eq!(
            serde_json::to_value(back.request.unwrap()).unwrap(),
            sent,
            "the same request, field for field"
        );
    }

    #[test]
    fn an_event_made_here_reads_as_one_from_the_wire() {
        let req = fixtures::req("r1", "t", "a", 0, json!({"x": "y"}));
        let ev = Event {
            seq: 1,
            kind: EventKind::RequestCreated,
            at: fixtures::now(),
            request: Some(req),
            grant: None,
            database_id: None,
        };
        let mut wire = Streamed::read(&serde_json::to_string(&ev).unwrap()).unwrap();
        let mut here = Streamed::from(ev);
        assert_eq!(wire.event, here.event);
        assert_eq!(wire.take_request().1, here.take_request().1);
        // No request, no params.
        let grant = Event {
            seq: 2,
            kind: EventKind::GrantCreated,
            at: fixtures::now(),
            request: None,
            grant: Some(fixtures::grant("g", "t", "a")),
            database_id: None,
        };
        let mut s = Streamed::read(&serde_json::to_string(&grant).unwrap()).unwrap();
        assert_eq!(s.kind, EventKind::GrantCreated);
        assert!(s.take_request().1.is_none());
    }
}
