//! The SQLite store through the [`Store`] trait: expiry, grants, replays, paging and
//! reopening a file.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::DateTime;
use serde_json::json;

use super::{SqliteStore, Synchronous};
use crate::protocol::{ApprovalRequest, DecisionBody, EventKind, NewRequest, Risk, Scope, Status};
use crate::store::rules::SYSTEM_ACTOR;
use crate::store::{FileOptions, ListQuery, Store, StoreError, fixtures};

/// A store whose clock the test moves by hand.
fn store_at(start_ms: i64) -> (SqliteStore, Arc<AtomicI64>) {
    let t = Arc::new(AtomicI64::new(start_ms));
    let clock = Arc::clone(&t);
    let s = SqliteStore::open_in_memory()
        .unwrap()
        .with_clock(move || DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst)).unwrap());
    (s, t)
}

fn new(tool: &str, ttl: Option<u64>) -> NewRequest {
    NewRequest {
        agent: "bot".into(),
        conversation_id: Some("c1".into()),
        risk: Some(Risk::High),
        ttl_seconds: ttl,
        ..fixtures::new_request(tool, json!({"n": 1}))
    }
}

/// Files `new` as `filer` and returns the request.
async fn filed(s: &SqliteStore, filer: &str, new: NewRequest) -> ApprovalRequest {
    s.file(filer, new, FileOptions::default())
        .await
        .unwrap()
        .value
        .request
}

fn approve(req: &ApprovalRequest, scope: Scope) -> DecisionBody {
    DecisionBody {
        outcome: crate::protocol::Verdict::Approve,
        scope,
        reason: Some("ok".into()),
        notify_agent: true,
        args_hash: req.args_hash.clone(),
        grant_ttl_seconds: None,
        grant_max_uses: None,
        params: None,
    }
}

const T0: i64 = 1_700_000_000_000;

#[tokio::test]
async fn expiry_holds_on_every_operation_without_a_sweep() {
    let (s, clock) = store_at(T0);
    let r = filed(&s, "agent1", new("t", Some(10))).await;
    assert_eq!(r.expires_at.unwrap().timestamp_millis(), T0 + 10_000);
    clock.store(T0 + 9_999, Ordering::SeqCst);
    assert_eq!(s.get(&r.id).await.unwrap().value.status, Status::Pending);
    clock.store(T0 + 10_000, Ordering::SeqCst);
    // A decision arriving after the TTL meets an expired request, never approves it.
    let err = s.decide(&r.id, "alice", approve(&r, Scope::Once)).await;
    let Err(StoreError::Conflict { request, .. }) = err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(request.status, Status::Expired);
    // The failed call changed nothing; the next operation expires the request and
    // reports the event (once), so the server can publish it.
    assert_eq!(s.events_after(0, 100).await.unwrap().len(), 1);
    let got = s.get(&r.id).await.unwrap();
    assert_eq!(got.value.status, Status::Expired);
    assert_eq!(got.events.len(), 1);
    assert_eq!(got.events[0].kind, EventKind::RequestExpired);
    assert_eq!(s.get(&r.id).await.unwrap().events, vec![]);
    let evs = s.events_after(0, 100).await.unwrap();
    let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::RequestCreated, EventKind::RequestExpired]
    );
    let audit = s.audit_after(0, 10).await.unwrap().entries;
    assert_eq!(audit.last().unwrap().action, "expired");
    assert_eq!(audit.last().unwrap().actor, SYSTEM_ACTOR);
}

#[tokio::test]
async fn a_read_expires_and_reports_the_event() {
    let (s, clock) = store_at(T0);
    let r = filed(&s, "agent1", new("t", Some(1))).await;
    let sweep = s.expire_due().await.unwrap();
    assert_eq!(sweep.value.unwrap().timestamp_millis(), T0 + 1000);
    assert!(sweep.events.is_empty());
    clock.store(T0 + 5_000, Ordering::SeqCst);
    let got = s.get(&r.id).await.unwrap();
    assert_eq!(got.value.status, Status::Expired);
    assert_eq!(got.events.len(), 1);
    assert_eq!(got.events[0].kind, EventKind::RequestExpired);
    assert_eq!(s.expire_due().await.unwrap().value, None);
}

#[tokio::test]
async fn default_ttl_applies_only_without_ttl_seconds() {
    let (s, _) = store_at(T0);
    let opts = FileOptions {
        idempotency_key: None,
        default_ttl: Some(Duration::from_secs(60)),
        ..FileOptions::default()
    };
    let a = s.file("a", new("t", None), opts.clone()).await.unwrap();
    let b = s.file("a", new("t", Some(5)), opts).await.unwrap();
    assert_eq!(
        a.value.request.expires_at.unwrap().timestamp_millis(),
        T0 + 60_000
    );
    assert_eq!(
        b.value.request.expires_at.unwrap().timestamp_millis(),
        T0 + 5_000
    );
}

#[tokio::test]
async fn grants_cover_only_the_filing_token_and_their_scope() {
    let (s, _) = store_at(T0);
    let opts = FileOptions::default;
    let first = filed(&s, "agent1", new("t", None)).await;
    let same_conv = filed(&s, "agent1", new("t", None)).await;
    let mut other_conv = new("t", None);
    other_conv.conversation_id = Some("c2".into());
    let other_conv = filed(&s, "agent1", other_conv).await;
    let other_token = filed(&s, "agent2", new("t", None)).await;
    let other_tool = filed(&s, "agent1", new("u", None)).await;

    let w = s
        .decide(&first.id, "alice", approve(&first, Scope::Conversation))
        .await
        .unwrap();
    let kinds: Vec<_> = w.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::RequestDecided,
            EventKind::GrantCreated,
            EventKind::RequestDecided
        ]
    );
    let grant_id = w.value.decision.as_ref().unwrap().grant_id.clone().unwrap();
    let covered = w.events[2].request.as_ref().unwrap();
    assert_eq!(covered.id, same_conv.id);
    assert_eq!(
        covered.decision.as_ref().unwrap().grant_id.as_deref(),
        Some(grant_id.as_str())
    );
    assert_eq!(covered.decision.as_ref().unwrap().responder, "alice");
    for r in [&other_conv, &other_token, &other_tool] {
        assert_eq!(s.get(&r.id).await.unwrap().value.status, Status::Pending);
    }
    // A new filing in the conversation is born approved; revoking stops that.
    let born = s.file("agent1", new("t", None), opts()).await.unwrap();
    assert_eq!(born.value.request.status, Status::Approved);
    assert_eq!(born.events.len(), 1);
    let revoked = s.revoke_grant(&grant_id, "bob").await.unwrap();
    assert_eq!(revoked.value.revoked_by.as_deref(), Some("bob"));
    assert_eq!(revoked.events[0].kind, EventKind::GrantRevoked);
    let again = s.revoke_grant(&grant_id, "alice").await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.value.revoked_by.as_deref(), Some("bob"));
    let after = s.file("agent1", new("t", None), opts()).await.unwrap();
    assert_eq!(after.value.request.status, Status::Pending);
    assert!(s.grants().await.unwrap().grants.is_empty());
}

#[tokio::test]
async fn a_file_survives_reopening_with_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let id = {
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        let r = s
            .file("a", new("t", None), FileOptions::default())
            .await
            .unwrap();
        s.decide(
            &r.value.request.id,
            "alice",
            approve(&r.value.request, Scope::Always),
        )
        .await
        .unwrap();
        r.value.request.id
    };
    let s = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    assert_eq!(s.get(&id).await.unwrap().value.status, Status::Approved);
    assert_eq!(s.current_seq().await.unwrap(), 3);
    assert_eq!(s.grants().await.unwrap().grants.len(), 1);
    let next = s
        .file("a", new("t", None), FileOptions::default())
        .await
        .unwrap();
    assert_eq!(next.events[0].seq, 4);
    assert_eq!(next.value.request.status, Status::Approved);
}

#[tokio::test]
async fn replays_must_be_the_same_call() {
    let (s, _) = store_at(T0);
    let mut n = new("t", None);
    n.tool_call_id = Some("call-1".into());
    let first = s
        .file("agent1", n.clone(), FileOptions::default())
        .await
        .unwrap();
    assert!(first.value.created);
    let again = s
        .file("agent1", n.clone(), FileOptions::default())
        .await
        .unwrap();
    assert!(!again.value.created);
    assert!(again.events.is_empty());
    assert_eq!(again.value.request.id, first.value.request.id);
    let mut changed = n.clone();
    changed.params = json!({"n": 2});
    assert!(matches!(
        s.file("agent1", changed, FileOptions::default()).await,
        Err(StoreError::Invalid {
            code: "idempotency_mismatch",
            ..
        })
    ));
    // Another token's tool_call_id space is its own.
    let other = s.file("agent2", n, FileOptions::default()).await.unwrap();
    assert!(other.value.created);
}

#[tokio::test]
async fn list_pages_in_filing_order() {
    let (s, _) = store_at(T0);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(filed(&s, "a", new("t", None)).await.id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list(ListQuery {
                status: Some(Status::Pending),
                limit: 2,
                cursor,
                newest: false,
                max_bytes: usize::MAX,
                params_max_bytes: None,
            })
            .await
            .unwrap()
            .value;
        assert_eq!(page.seq, 5);
        seen.extend(page.requests.into_iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids);

    // Newest first, paged the same way.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list(ListQuery {
                status: None,
                limit: 2,
                cursor,
                newest: true,
                max_bytes: usize::MAX,
                params_max_bytes: None,
            })
            .await
            .unwrap()
            .value;
        seen.extend(page.requests.into_iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    assert!(matches!(
        s.list(ListQuery {
            status: None,
            limit: 2,
            cursor: Some("x".into()),
            newest: false,
            max_bytes: usize::MAX,
            params_max_bytes: None,
        })
        .await,
        Err(StoreError::BadInput(_))
    ));
}

#[tokio::test]
async fn a_filing_is_approved_by_the_oldest_grant_that_covers_it() {
    let (s, _) = store_at(T0);
    let in_conv = |c: &str| NewRequest {
        conversation_id: Some(c.into()),
        ..new("t", None)
    };
    let mut grant_ids = Vec::new();
    for (conv, scope) in [("c2", Scope::Conversation), ("c3", Scope::Always)] {
        let r = filed(&s, "agent1", in_conv(conv)).await;
        let decided = s.decide(&r.id, "alice", approve(&r, scope)).await.unwrap();
        grant_ids.push(decided.value.decision.unwrap().grant_id.unwrap());
    }
    // The older conversation grant is a candidate (same token, agent and tool) that does
    // not cover c1; the newer "always" grant does.
    let grant_of = |r: ApprovalRequest| r.decision.and_then(|d| d.grant_id);
    let c1 = filed(&s, "agent1", in_conv("c1")).await;
    assert_eq!(c1.status, Status::Approved);
    assert_eq!(grant_of(c1).as_ref(), Some(&grant_ids[1]));
    // In c2 both cover it: the older wins.
    let c2 = filed(&s, "agent1", in_conv("c2")).await;
    assert_eq!(grant_of(c2).as_ref(), Some(&grant_ids[0]));
    // Neither covers a call without a conversation but the "always" one.
    let none = filed(
        &s,
        "agent1",
        NewRequest {
            conversation_id: None,
            ..new("t", None)
        },
    )
    .await;
    assert_eq!(grant_of(none).as_ref(), Some(&grant_ids[1]));
}

/// Every decision says how it was made, on the request, in its events and in the audit
/// log: the approval that makes a grant is the person's; what the grant then approves,
/// pending or filed later, is the grant's, though it carries the same responder.
#[tokio::test]
async fn every_decision_records_how_it_was_made() {
    use crate::protocol::{PolicyAction, PolicyMatch, Via};
    let (s, _) = store_at(T0);
    let first = filed(&s, "agent1", new("t", None)).await;
    let pending = filed(&s, "agent1", new("t", None)).await;
    let w = s
        .decide(&first.id, "alice", approve(&first, Scope::Conversation))
        .await
        .unwrap();
    let made = w.value.decision.clone().unwrap();
    assert_eq!(made.via, Via::Person);
    let grant_id = made.grant_id.clone().unwrap();
    let by_grant = Via::Grant {
        grant_id: grant_id.clone(),
        granted_by: "alice".into(),
        scope: Scope::Conversation,
    };
    // The pending request the new grant approved, in its event and as read back.
    let covered = w.events[2].request.clone().unwrap();
    assert_eq!(covered.id, pending.id);
    assert_eq!(covered.decision.unwrap().via, by_grant);
    let read = s.get(&pending.id).await.unwrap().value.decision.unwrap();
    assert_eq!(read.via, by_grant);
    assert_eq!(read.responder, "alice");
    // Born approved by the grant.
    let born = filed(&s, "agent1", new("t", None)).await;
    assert_eq!(born.decision.unwrap().via, by_grant);
    // Born approved by the policy.
    let policy = PolicyMatch {
        rule: Some("reads".into()),
        action: PolicyAction::Allow,
        message: None,
        error: None,
    };
    let opts = FileOptions {
        policy: Some(policy),
        ..FileOptions::default()
    };
    let allowed = s.file("agent1", new("u", None), opts).await.unwrap();
    let by_policy = Via::Policy {
        rule: Some("reads".into()),
        action: PolicyAction::Allow,
    };
    let d = allowed.value.request.decision.unwrap();
    assert_eq!(
        (d.via, d.responder.as_str()),
        (by_policy.clone(), "policy:reads")
    );
    // The audit log tells them apart; entries that decide nothing carry no `via`.
    let audit = s.audit_after(0, 100).await.unwrap().entries;
    let decided: Vec<(&str, Option<&Via>)> = audit
        .iter()
        .filter(|e| e.action == "decided")
        .map(|e| (e.request_id.as_deref().unwrap_or(""), e.via.as_ref()))
        .collect();
    assert_eq!(
        decided,
        [
            (first.id.as_str(), Some(&Via::Person)),
            (pending.id.as_str(), Some(&by_grant)),
            (born.id.as_str(), Some(&by_grant)),
            (allowed.value.request.id.as_str(), Some(&by_policy)),
        ]
    );
    assert!(
        audit
            .iter()
            .filter(|e| e.action != "decided")
            .all(|e| e.via.is_none())
    );
}

/// A request still pending at its `escalate_at` escalates once, whatever sweeps run; the
/// sweep wakes for it; its TTL's end with `reject` is the system's rejection.
#[tokio::test]
async fn escalation_is_once_and_a_timeout_rejects_as_the_system() {
    use crate::protocol::{TimeoutAction, Via};
    let (s, clock) = store_at(T0);
    let opts = FileOptions {
        escalate_after: Some(Duration::from_secs(5)),
        on_timeout: TimeoutAction::Reject,
        ..FileOptions::default()
    };
    let r = s
        .file("agent1", new("t", Some(10)), opts)
        .await
        .unwrap()
        .value
        .request;
    let at = DateTime::from_timestamp_millis(T0 + 5_000);
    assert_eq!(r.escalate_at, at);
    assert_eq!(r.on_timeout, TimeoutAction::Reject);
    // The sweep wakes for the escalation, the sooner of the two.
    assert_eq!(s.expire_due().await.unwrap().value, at);
    clock.store(T0 + 5_000, Ordering::SeqCst);
    let w = s.expire_due().await.unwrap();
    let kinds: Vec<EventKind> = w.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::RequestEscalated]);
    assert_eq!(w.value, DateTime::from_timestamp_millis(T0 + 10_000));
    // Other operations do not escalate, and later sweeps find it escalated.
    assert!(s.get(&r.id).await.unwrap().events.is_empty());
    assert!(s.expire_due().await.unwrap().events.is_empty());
    let got = s.get(&r.id).await.unwrap().value;
    assert_eq!(got.escalated_at, at);
    assert_eq!(got.status, Status::Pending);
    // At its TTL's end any operation rejects it, as the system.
    clock.store(T0 + 10_000, Ordering::SeqCst);
    let w = s.get(&r.id).await.unwrap();
    assert_eq!(w.events.len(), 1);
    assert_eq!(w.events[0].kind, EventKind::RequestDecided);
    let d = w.value.decision.unwrap();
    assert_eq!(
        (w.value.status, d.responder.as_str(), d.via),
        (Status::Rejected, SYSTEM_ACTOR, Via::Timeout)
    );
    assert_eq!(d.reason.as_deref(), Some("approval_timeout"));
    let audit = s.audit_after(0, 100).await.unwrap().entries;
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["filed", "escalated", "decided"]);
    assert!(audit[1..].iter().all(|e| e.actor == SYSTEM_ACTOR));
    assert_eq!(s.expire_due().await.unwrap().value, None);
}

/// A request born decided neither escalates nor times out.
#[tokio::test]
async fn a_request_born_decided_has_no_escalation() {
    use crate::protocol::{PolicyAction, PolicyMatch, TimeoutAction};
    let (s, _) = store_at(T0);
    let opts = FileOptions {
        escalate_after: Some(Duration::from_secs(5)),
        on_timeout: TimeoutAction::Reject,
        policy: Some(PolicyMatch {
            rule: Some("reads".into()),
            action: PolicyAction::Allow,
            message: None,
            error: None,
        }),
        ..FileOptions::default()
    };
    let r = s.file("agent1", new("t", None), opts).await.unwrap();
    let r = r.value.request;
    assert_eq!((r.escalate_at, r.on_timeout), (None, TimeoutAction::Expire));
}
