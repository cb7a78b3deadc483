//! The two-person rule: who may give one of the approvals a request needs, when the last
//! one decides it, and what scope and grant the approvals together make.

use super::*;
use crate::protocol::{ApprovalRequest, DecisionBody, Scope, Status, Verdict};
use crate::store::{StoreError, fixtures};

fn two() -> ApprovalRequest {
    ApprovalRequest {
        approvals_required: 2,
        conversation_id: Some("c1".into()),
        ..fixtures::request("r1", Status::Pending)
    }
}

/// A decision on any of these requests: they all hold the fixture's params.
fn body(outcome: Verdict, scope: Scope) -> DecisionBody {
    DecisionBody {
        outcome,
        scope,
        reason: None,
        notify_agent: false,
        args_hash: two().args_hash,
        grant_ttl_seconds: None,
        grant_max_uses: None,
        params: None,
    }
}

/// Runs `body` from `who` on `r` the way both stores do; the grant it makes, if any.
fn decide(
    r: &mut ApprovalRequest,
    who: &str,
    body: &DecisionBody,
) -> Result<Option<crate::protocol::Grant>, StoreError> {
    match plan_decision(r, who, body, now_millis())? {
        DecisionPlan::Replay => Ok(None),
        DecisionPlan::AddApproval(a) => {
            add_approval(r, a);
            Ok(None)
        }
        DecisionPlan::Apply(mut d) => {
            let g = conclude(r, &mut d, body);
            apply_decision(r, d);
            Ok(g)
        }
    }
}

#[test]
fn the_first_approval_leaves_it_pending_and_the_second_decides() {
    let mut r = two();
    let once = body(Verdict::Approve, Scope::Once);
    assert_eq!(decide(&mut r, "alice", &once).unwrap(), None);
    assert_eq!(r.status, Status::Pending);
    assert_eq!(r.decision, None);
    assert_eq!(r.approvals_progress().as_deref(), Some("1/2"));
    assert_eq!(r.approvals_missing(), 1);
    decide(&mut r, "bob", &once).unwrap();
    assert_eq!(r.status, Status::Approved);
    let d = r.decision.as_ref().unwrap();
    assert_eq!(d.responder, "bob");
    let who: Vec<&str> = r.approvals.iter().map(|a| a.responder.as_str()).collect();
    assert_eq!(who, ["alice", "bob"]);
}

#[test]
fn the_same_reviewer_twice_is_a_conflict_and_changes_nothing() {
    let mut r = two();
    let once = body(Verdict::Approve, Scope::Once);
    decide(&mut r, "alice", &once).unwrap();
    let before = r.clone();
    for b in [once.clone(), body(Verdict::Approve, Scope::Always)] {
        match plan_decision(&r, "alice", &b, now_millis()) {
            Err(StoreError::Conflict {
                code: "already_approved",
                message,
                request,
            }) => {
                assert!(message.contains("approved it already"), "{message}");
                assert_eq!(*request, before);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_filer_never_counts_but_may_reject() {
    let r = two();
    let filer = r.filed_by.clone();
    assert!(matches!(
        plan_decision(
            &r,
            &filer,
            &body(Verdict::Approve, Scope::Once),
            now_millis()
        ),
        Err(StoreError::Forbidden(_))
    ));
    let mut r2 = r.clone();
    let reject = DecisionBody {
        reason: Some("no".into()),
        ..body(Verdict::Reject, Scope::Once)
    };
    decide(&mut r2, &filer, &reject).unwrap();
    assert_eq!(r2.status, Status::Rejected);
}

#[test]
fn one_rejection_ends_it_even_after_an_approval() {
    let mut r = two();
    decide(&mut r, "alice", &body(Verdict::Approve, Scope::Once)).unwrap();
    let reject = DecisionBody {
        reason: Some("too much".into()),
        ..body(Verdict::Reject, Scope::Once)
    };
    decide(&mut r, "bob", &reject).unwrap();
    assert_eq!(r.status, Status::Rejected);
    assert_eq!(r.decision.as_ref().unwrap().responder, "bob");
}

#[test]
fn a_grant_needs_every_approver_to_choose_its_scope() {
    // Mixed: once and always, or conversation and always: approved once, no grant.
    for (first, second) in [
        (Scope::Once, Scope::Always),
        (Scope::Always, Scope::Once),
        (Scope::Conversation, Scope::Always),
    ] {
        let mut r = two();
        decide(&mut r, "alice", &body(Verdict::Approve, first)).unwrap();
        let g = decide(&mut r, "bob", &body(Verdict::Approve, second)).unwrap();
        assert_eq!(g, None, "{first} then {second}");
        let d = r.decision.as_ref().unwrap();
        assert_eq!((d.scope, d.grant_id.as_ref()), (Scope::Once, None));
        // Each approver's own choice is kept.
        assert_eq!(r.approvals[0].scope, first);
        assert_eq!(r.approvals[1].scope, second);
    }
    // Both always: a grant both made, with the tighter of the limits they asked for.
    let mut r = two();
    let a = DecisionBody {
        grant_ttl_seconds: Some(3600),
        grant_max_uses: Some(10),
        ..body(Verdict::Approve, Scope::Always)
    };
    let b = DecisionBody {
        grant_ttl_seconds: Some(600),
        ..body(Verdict::Approve, Scope::Always)
    };
    decide(&mut r, "alice", &a).unwrap();
    let g = decide(&mut r, "bob", &b).unwrap().expect("a grant");
    assert_eq!(g.approvers, ["alice", "bob"]);
    assert_eq!(g.created_by, "bob");
    assert_eq!(g.max_uses, Some(10));
    let d = r.decision.as_ref().unwrap();
    assert_eq!(
        g.expires_at,
        Some(d.decided_at + chrono::TimeDelta::seconds(600))
    );
    assert_eq!(d.scope, Scope::Always);
    assert_eq!(d.grant_id.as_deref(), Some(g.id.as_str()));
}

#[test]
fn one_persons_grant_never_covers_a_request_that_needs_two() {
    let mut one = fixtures::request("r0", Status::Pending);
    one.conversation_id = Some("c1".into());
    let mut d = match plan_decision(
        &one,
        "alice",
        &body(Verdict::Approve, Scope::Always),
        now_millis(),
    ) {
        Ok(DecisionPlan::Apply(d)) => d,
        other => panic!("{other:?}"),
    };
    let g = conclude(&mut one, &mut d, &body(Verdict::Approve, Scope::Always)).unwrap();
    assert_eq!(g.approvers_count(), 1);
    let reach = GrantScope::of_grant(&g, &one.filed_by, now_millis()).unwrap();
    assert!(reach.covers(&one));
    assert!(!reach.covers(&two()));
    // A grant two made covers both.
    let mut r = two();
    decide(&mut r, "alice", &body(Verdict::Approve, Scope::Always)).unwrap();
    let g2 = decide(&mut r, "bob", &body(Verdict::Approve, Scope::Always))
        .unwrap()
        .unwrap();
    let reach = GrantScope::of_grant(&g2, &r.filed_by, now_millis()).unwrap();
    assert!(reach.covers(&two()) && reach.covers(&one));
    // What it approves says both made it.
    match grant_decision(&g2, now_millis()).via {
        crate::protocol::Via::Grant { granted_by, .. } => assert_eq!(granted_by, "alice, bob"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_edit_is_refused_where_several_must_approve() {
    let r = two();
    let edit = DecisionBody {
        params: Some(serde_json::json!({"changed": true})),
        ..body(Verdict::Approve, Scope::Once)
    };
    assert!(matches!(
        plan_decision(&r, "alice", &edit, now_millis()),
        Err(StoreError::Invalid {
            code: "invalid_edit",
            ..
        })
    ));
}

#[test]
fn a_partial_approval_is_audited_as_its_approver_chose_it() {
    let mut r = two();
    let b = DecisionBody {
        reason: Some("looks right".into()),
        ..body(Verdict::Approve, Scope::Always)
    };
    decide(&mut r, "alice", &b).unwrap();
    let e = request_audit(&r, RequestAction::ApprovalAdded, now_millis());
    assert_eq!(e.action, "approval_added");
    assert_eq!(e.actor, "alice");
    assert_eq!(e.scope, Some(Scope::Always));
    assert_eq!(e.reason.as_deref(), Some("looks right"));
    assert_eq!(e.outcome.as_deref(), Some("approved"));
    assert_eq!(e.grant_id, None);
}
