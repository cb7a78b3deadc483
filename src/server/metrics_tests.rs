//! The metrics' own tests: what each event counts, and that no label names anyone.

use super::*;
use crate::protocol::Status;
use crate::protocol::{Decision, PolicyAction, PolicyMatch, Scope};
use crate::store::fixtures;

/// The statuses a request leaves pending for; used by the tests to tell the counters apart.
const FINAL: [Status; 4] = [
    Status::Approved,
    Status::Rejected,
    Status::Expired,
    Status::Cancelled,
];

fn decided(via: Via, scope: Scope, after_s: i64) -> ApprovalRequest {
    let mut r = fixtures::request("r1", Status::Approved);
    r.decision = Some(Box::new(Decision {
        outcome: Outcome::Approved,
        scope,
        reason: None,
        notify_agent: false,
        responder: "alice".into(),
        decided_at: r.created_at + chrono::Duration::seconds(after_s),
        grant_id: None,
        via,
        approval_token: None,
        approved_params: None,
        approved_args_hash: None,
    }));
    r
}

fn event(kind: EventKind, r: ApprovalRequest) -> Event {
    Event {
        seq: 1,
        kind,
        at: r.created_at,
        request: Some(r),
        grant: None,
        database_id: None,
    }
}

fn text(m: &Metrics) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
    out
}

#[test]
fn filings_count_by_birth_status_and_policy_action() {
    let m = Metrics::new();
    let pending = fixtures::request("a", Status::Pending);
    let mut allowed = fixtures::request("b", Status::Approved);
    allowed.policy = Some(PolicyMatch {
        rule: Some("reads".into()),
        action: PolicyAction::Allow,
        message: None,
        error: None,
    });
    m.observe(&[
        event(EventKind::RequestCreated, pending.clone()),
        event(EventKind::RequestCreated, pending),
        event(EventKind::RequestCreated, allowed),
    ]);
    let t = text(&m);
    assert!(
        t.contains(
            r#"assent_requests_filed_total{outcome="pending",policy_action="require_approval"} 2"#
        ),
        "{t}"
    );
    assert!(
        t.contains(r#"assent_requests_filed_total{outcome="approved",policy_action="allow"} 1"#),
        "{t}"
    );
}

#[test]
fn decisions_count_by_scope_and_via_and_time_to_decision_is_observed() {
    let m = Metrics::new();
    let grant = Via::Grant {
        grant_id: "g1".into(),
        granted_by: "alice".into(),
        scope: Scope::Conversation,
    };
    m.observe(&[
        event(
            EventKind::RequestDecided,
            decided(Via::Person, Scope::Once, 3),
        ),
        event(
            EventKind::RequestDecided,
            decided(grant, Scope::Conversation, 0),
        ),
    ]);
    let t = text(&m);
    assert!(
        t.contains(r#"assent_decisions_total{outcome="approved",scope="once",via="person"} 1"#),
        "{t}"
    );
    assert!(
        t.contains(
            r#"assent_decisions_total{outcome="approved",scope="conversation",via="grant"} 1"#
        ),
        "{t}"
    );
    // 3 s falls in the bucket above 2 s and not in the one at 2 s.
    assert!(
        t.contains(r#"assent_time_to_decision_seconds_bucket{le="2.0",via="person"} 0"#),
        "{t}"
    );
    assert!(
        t.contains(r#"assent_time_to_decision_seconds_bucket{le="4.0",via="person"} 1"#),
        "{t}"
    );
    assert!(
        t.contains(r#"assent_time_to_decision_seconds_sum{via="person"} 3.0"#),
        "{t}"
    );
}

#[test]
fn no_label_carries_an_id_or_a_name() {
    let m = Metrics::new();
    for status in FINAL {
        let mut r = decided(Via::Person, Scope::Once, 1);
        r.status = status;
        m.observe(&[
            event(EventKind::RequestCreated, r.clone()),
            event(EventKind::RequestDecided, r),
        ]);
    }
    let t = text(&m);
    for secret in ["r1", "alice", "agent1", "sha256"] {
        assert!(!t.contains(secret), "{secret} in {t}");
    }
}

#[test]
fn the_scrape_token_is_compared_by_digest() {
    let s = ScrapeToken::new(Some("scrape-secret"));
    assert!(s.matches("scrape-secret"));
    assert!(!s.matches("scrape-secre"));
    assert!(!ScrapeToken::new(None).matches(""));
    assert!(!ScrapeToken::new(Some("")).matches(""));
    assert!(!format!("{s:?}").contains("secret\""));
}

#[test]
fn escalations_and_timeout_rejections_are_counted() {
    let m = Metrics::new();
    let mut r = fixtures::request("r1", Status::Pending);
    m.observe(&[event(EventKind::RequestEscalated, r.clone())]);
    r.status = Status::Rejected;
    let mut timed_out = decided(Via::Timeout, Scope::Once, 60);
    timed_out.status = Status::Rejected;
    if let Some(d) = timed_out.decision.as_mut() {
        d.outcome = Outcome::Rejected;
    }
    m.observe(&[event(EventKind::RequestDecided, timed_out)]);
    let t = text(&m);
    assert!(t.contains("assent_requests_escalated_total 1"), "{t}");
    assert!(
        t.contains(r#"assent_decisions_total{outcome="rejected",scope="once",via="timeout"} 1"#),
        "{t}"
    );
}
