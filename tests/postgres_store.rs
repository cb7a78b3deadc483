//! The PostgreSQL store through the `Store` trait, several stores (as several instances
//! would hold) on one database: migrations run once and refuse a newer schema, sequence
//! numbers commit in order, one decider of many wins, concurrent filings of one call make
//! one request, and each request expires once. The HTTP behaviour both stores share is
//! in the server suites, which run on each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use assent::protocol::{Scope, Status, Verdict};
use assent::store::postgres::PgStore;
use assent::store::{FileOptions, Store};
use common::*;

/// A fresh database, or None (skip).
async fn db(test: &str) -> Option<String> {
    common::postgres::fresh_database(test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once_and_share_the_database_id() {
    let Some(url) = db("migrate_once").await else {
        return;
    };
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PgStore::open(&url, None).await.unwrap() })
    });
    let stores = futures::future::join_all(opens).await;
    let ids: Vec<String> = stores
        .into_iter()
        .map(|s| s.unwrap().database_id().to_owned())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    uuid::Uuid::parse_str(&ids[0]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_and_foreign_databases_are_refused() {
    let Some(url) = db("refused").await else {
        return;
    };
    drop(PgStore::open(&url, None).await.unwrap());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("UPDATE schema_version SET version = 99")
        .await
        .unwrap();
    let err = format!("{:#}", PgStore::open(&url, None).await.unwrap_err());
    assert!(err.contains("newer than this assent"), "{err}");

    let Some(foreign) = db("refused_foreign").await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&foreign, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("CREATE TABLE t (x INT)")
        .await
        .unwrap();
    let err = format!("{:#}", PgStore::open(&foreign, None).await.unwrap_err());
    assert!(err.contains("not an assent database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_is_never_shown() {
    let shown = assent::store::postgres::redact("postgres://u:s3cret@127.0.0.1:1/db");
    assert_eq!(shown, "postgres://u:***@127.0.0.1:1/db");
    // Nothing listens on port 1: the error names the URL, without the password.
    let err = format!(
        "{:#}",
        PgStore::open("postgres://u:s3cret@127.0.0.1:1/db", None)
            .await
            .unwrap_err()
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("u:***@127.0.0.1:1"), "{err}");
}

/// How many events of `kind` the log holds (of its first 1,000).
async fn count(s: &PgStore, kind: &str) -> usize {
    let events = s.events_after(0, 1000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.kind.as_str() == kind)
        .count()
}

/// Two stores on one database, as two instances hold.
async fn two(test: &str) -> Option<(Arc<PgStore>, Arc<PgStore>)> {
    let url = db(test).await?;
    let a = PgStore::open(&url, None).await.unwrap();
    let b = PgStore::open(&url, None).await.unwrap();
    Some((Arc::new(a), Arc::new(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequence_numbers_commit_in_order_across_writers() {
    let Some((a, b)) = two("seq_order").await else {
        return;
    };
    // A reader polls the log while 8 writers over both stores file: every read must
    // continue the last one with no gap (a gap would be an event that committed late).
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                for _ in 0..25 {
                    s.file("agent1", refund("bot"), FileOptions::default())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let a = Arc::clone(&a);
        tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..2000 {
                for ev in a.events_after(last, 50).await.unwrap() {
                    assert_eq!(ev.seq, last + 1, "a gap after {last}");
                    last = ev.seq;
                }
                if last == 200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            last
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), 200);
    assert_eq!(b.current_seq().await.unwrap(), 200);
    // The audit log commits in order too: 200 filings.
    assert_eq!(a.audit_after(0, 1000).await.unwrap().entries.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_50_deciders_over_two_instances_one_wins() {
    let Some((a, b)) = two("deciders").await else {
        return;
    };
    let r = a
        .file("agent1", refund("bot"), FileOptions::default())
        .await
        .unwrap()
        .value
        .request;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let (id, hash) = (r.id.clone(), r.args_hash.clone());
            tokio::spawn(async move {
                let who = format!("reviewer{i}");
                let verdict = if i % 3 == 0 {
                    Verdict::Reject
                } else {
                    Verdict::Approve
                };
                s.decide(&id, &who, decision(verdict, &hash))
                    .await
                    .map(|w| w.value)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        if let Ok(req) = t.await.unwrap() {
            winners.push(req.decision.unwrap().responder);
        }
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let decided = count(&a, "request.decided").await;
    assert_eq!(decided, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_filings_of_one_call_make_one_request() {
    let Some((a, b)) = two("idempotent").await else {
        return;
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                let mut new = refund("bot");
                new.tool_call_id = Some("call-1".into());
                s.file("agent1", new, FileOptions::default())
                    .await
                    .unwrap()
                    .value
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let f = t.await.unwrap();
        created += usize::from(f.created);
        ids.push(f.request.id);
    }
    ids.dedup();
    assert_eq!((ids.len(), created), (1, 1), "{ids:?}");
}

/// Filings of different tools run side by side in one batch (`writer.rs`'s lanes), so
/// two that reuse one tool_call_id race for its unique index inside the batch's
/// transaction. That aborts the transaction; the batch runs again, each write alone:
/// one is filed, the others are refused as a replay that does not match, and nothing
/// else of the batch is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_side_by_side_that_race_for_one_key_are_answered_as_alone() {
    let Some(url) = db("lanes_race").await else {
        return;
    };
    let s = Arc::new(PgStore::open(&url, None).await.unwrap());
    for round in 0..4 {
        let call = format!("call-{round}");
        // The first 8 keep the writer busy, so that the others queue for one batch; of
        // those, half reuse the call id and half are plain filings beside them.
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let (s, call) = (Arc::clone(&s), call.clone());
                tokio::spawn(async move {
                    let mut new = new_request(&format!("tools.t{i}"), "bot");
                    if i >= 8 && i % 2 == 0 {
                        new.tool_call_id = Some(call);
                    }
                    s.file("agent1", new, FileOptions::default()).await
                })
            })
            .collect();
        let (mut created, mut mismatched) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(w) => created += usize::from(w.value.created),
                Err(e) => {
                    assert!(e.to_string().contains("already filed"), "{e}");
                    mismatched += 1;
                }
            }
        }
        assert_eq!((created, mismatched), (17, 7), "round {round}");
    }
    let created = count(&s, "request.created").await;
    assert_eq!(created, 68);
    assert_eq!(s.audit_after(0, 1000).await.unwrap().entries.len(), 68);
}

/// Decisions of many requests in one batch, each request's in one lane: the refused
/// ones (decided already, unknown) are answered as such and change nothing, the others
/// commit, each request decided once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_beside_decisions_in_one_batch_change_nothing() {
    let Some(url) = db("lanes_refusals").await else {
        return;
    };
    let s = Arc::new(PgStore::open(&url, None).await.unwrap());
    let mut filed = Vec::new();
    for i in 0..12 {
        let new = new_request(&format!("tools.t{i}"), "bot");
        filed.push(
            s.file("agent1", new, FileOptions::default())
                .await
                .unwrap()
                .value
                .request,
        );
    }
    let tasks: Vec<_> = filed
        .iter()
        .flat_map(|r| {
            (0..3).map(|k| {
                let s = Arc::clone(&s);
                let (id, hash) = (r.id.clone(), r.args_hash.clone());
                tokio::spawn(async move {
                    let id = if k == 2 { format!("{id}x") } else { id };
                    s.decide(
                        &id,
                        &format!("reviewer{k}"),
                        decision(Verdict::Approve, &hash),
                    )
                    .await
                    .map(|w| w.value)
                })
            })
        })
        .collect();
    let (mut won, mut late, mut unknown) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(req) => {
                assert_eq!(req.status, Status::Approved);
                won += 1;
            }
            Err(assent::store::StoreError::NotFound(_)) => unknown += 1,
            Err(_) => late += 1,
        }
    }
    assert_eq!((won, late, unknown), (12, 12, 12));
    let decided = count(&s, "request.decided").await;
    assert_eq!(decided, 12);
    // Filed, then decided: 24 entries, chained.
    let audit = s.audit_after(0, 1000).await.unwrap();
    assert_eq!(audit.entries.len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_expires_once_whichever_instance_sweeps() {
    let Some((a, b)) = two("expiry").await else {
        return;
    };
    let mut new = refund("bot");
    new.ttl_seconds = Some(1);
    let r = a
        .file("agent1", new, FileOptions::default())
        .await
        .unwrap()
        .value
        .request;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sweeps: Vec<_> = (0..10)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move { s.expire_due().await.unwrap().events.len() })
        })
        .collect();
    let mut expired = 0;
    for s in sweeps {
        expired += s.await.unwrap();
    }
    assert_eq!(expired, 1);
    assert_eq!(b.get(&r.id).await.unwrap().value.status, Status::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_made_on_one_instance_approves_what_the_other_files() {
    let Some((a, b)) = two("grant").await else {
        return;
    };
    let conv = |n: &str| in_conversation("c1", refund(n));
    let first = a
        .file("agent1", conv("bot"), FileOptions::default())
        .await
        .unwrap()
        .value
        .request;
    let waiting = b
        .file("agent1", conv("bot"), FileOptions::default())
        .await
        .unwrap()
        .value
        .request;
    let mut body = decision(Verdict::Approve, &first.args_hash);
    body.scope = Scope::Conversation;
    a.decide(&first.id, "alice", body).await.unwrap();
    // Filed on B before the grant: approved by it. Filed on B after: born approved.
    assert_eq!(
        b.get(&waiting.id).await.unwrap().value.status,
        Status::Approved
    );
    let later = b
        .file("agent1", conv("bot"), FileOptions::default())
        .await
        .unwrap()
        .value
        .request;
    assert_eq!(later.status, Status::Approved);
    assert_eq!(a.grants().await.unwrap().grants.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_pages_with_its_cursor_and_reports_the_sequence() {
    let Some((a, _)) = two("list").await else {
        return;
    };
    for _ in 0..3 {
        a.file("agent1", refund("bot"), FileOptions::default())
            .await
            .unwrap();
    }
    let q = |cursor: Option<String>| assent::store::ListQuery {
        status: Some(Status::Pending),
        limit: 2,
        cursor,
        newest: false,
        max_bytes: 1 << 20,
        params_max_bytes: None,
    };
    let first = a.list(q(None)).await.unwrap().value;
    assert_eq!((first.requests.len(), first.seq), (2, 3));
    let second = a.list(q(first.next_cursor.clone())).await.unwrap().value;
    assert_eq!((second.requests.len(), second.next_cursor), (1, None));
}
