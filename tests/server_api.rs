//! The approval API over real HTTP: filing, reading, listing, deciding, cancelling,
//! roles and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::Verdict;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_get_list_decide_round_trip() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);

    let req = agent.file(&refund("order-manager")).await;
    assert_eq!(req["status"], "pending");
    assert_eq!(req["filed_by"], "agent1");
    assert_eq!(
        req["args_hash"],
        assent::protocol::args_hash(&json!({"amount": 250, "order_id": "A-1001"}))
    );

    let (st, got) = agent.fetch(&req).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, req);

    let (st, list) = alice.get("/v1/requests?status=pending").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["requests"].as_array().unwrap().len(), 1);
    assert_eq!(list["seq"], 1);

    let (st, decided) = alice.decide(&req, "approve", "once").await;
    assert_eq!(st, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decision"]["responder"], "alice");
    assert_eq!(decided["decision"]["outcome"], "approved");

    let (_, list) = alice.get("/v1/requests?status=pending").await;
    assert!(list["requests"].as_array().unwrap().is_empty());
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_whoami() {
    let srv = TestServer::start().await;
    let (st, h) = srv.anonymous().get("/healthz").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    for (name, role, tok) in IDENTITIES {
        let (st, me) = srv.http(tok).get("/v1/whoami").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(me["name"], name);
        assert_eq!(me["role"], json!(role));
    }
    // A plain client with the bearer as a default header, as any HTTP library sends it.
    let me: Value = srv
        .http(BOB)
        .client
        .get(format!("{}/v1/whoami", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "bob");
    // The crate's client agrees with the wire format.
    let me = srv.api(ROOT).whoami().await.unwrap();
    assert_eq!(me.role, assent::protocol::Role::Admin);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_unknown_tokens_get_401_and_wrong_roles_403() {
    let srv = TestServer::start().await;
    let req = srv.http(AGENT1).file(&refund("bot")).await;

    let resp = srv
        .anonymous()
        .request(reqwest::Method::GET, "/v1/requests")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(error_message(&body).contains("Bearer"));

    let (st, body) = srv.http("not-a-real-token").get("/v1/whoami").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(error_message(&body).contains("not known"));
    // A token prefix is not the token.
    let (st, _) = srv.http("alice-token-000").get("/v1/whoami").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = srv
        .anonymous()
        .send(
            srv.anonymous()
                .request(reqwest::Method::GET, "/v1/whoami")
                .header("authorization", format!("Basic {ALICE}")),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    // An agent token cannot decide, list, stream, read grants or the audit log.
    let (st, body) = agent.decide(&req, "approve", "once").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(error_message(&body).contains("reviewer"));
    for path in ["/v1/requests", "/v1/grants", "/v1/audit", "/v1/events"] {
        let (st, _) = agent.get(path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
    }
    let (st, _) = agent.delete("/v1/grants/x").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A reviewer cannot file, wait or cancel.
    let (st, _) = alice.post("/v1/requests", &refund("bot")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = alice.wait(&req, 0).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = alice.cancel(&req).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Another agent cannot read this agent's request; a reviewer and an admin can.
    let (st, _) = srv.http(AGENT2).fetch(&req).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = alice.fetch(&req).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = srv.http(ROOT).fetch(&req).await;
    assert_eq!(st, StatusCode::OK);
    // Nothing of the refused calls changed the request.
    let (_, now) = alice.fetch(&req).await;
    assert_eq!(now, req);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_can_do_both_sides() {
    let srv = TestServer::start().await;
    let root = srv.http(ROOT);
    let req = root.file(&refund("ops")).await;
    assert_eq!(req["filed_by"], "root");
    let (st, d) = root.decide(&req, "reject", "once").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["status"], "rejected");
    assert_eq!(d["decision"]["responder"], "root");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_routes_are_json_404s() {
    let srv = TestServer::start().await;
    let alice = srv.http(ALICE);
    let (st, body) = alice.get("/v1/requests/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(error_message(&body).contains("nope"));
    let (st, _) = alice
        .post(
            "/v1/requests/nope/decision",
            &json!({"outcome": "approve", "args_hash": "sha256:00"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = srv
        .http(AGENT1)
        .post_empty("/v1/requests/nope/cancel")
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = srv
        .http(AGENT1)
        .get("/v1/requests/nope/wait?timeout_s=1")
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = alice.delete("/v1/grants/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = alice.get("/v1/nothing-here").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (st, body) = alice.delete("/v1/requests").await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_returns_every_field_and_validates() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let resp = agent
        .request(reqwest::Method::POST, "/v1/requests")
        .json(&json!({
            "tool": "db.delete", "agent": "cleaner", "params": {"table": "users", "where": {"id": 7}},
            "reason": "GDPR request", "conversation_id": "conv-1", "run_id": "run-9",
            "tool_call_id": "call-1", "risk": "critical", "ttl_seconds": 600,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let r: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/requests/{}", r["id"].as_str().unwrap())
    );
    for (k, v) in [
        ("tool", json!("db.delete")),
        ("agent", json!("cleaner")),
        ("reason", json!("GDPR request")),
        ("conversation_id", json!("conv-1")),
        ("run_id", json!("run-9")),
        ("tool_call_id", json!("call-1")),
        ("risk", json!("critical")),
        ("status", json!("pending")),
        ("decision", Value::Null),
    ] {
        assert_eq!(r[k], v, "{k}");
    }
    let created = chrono::DateTime::parse_from_rfc3339(r["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(r["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 600);
    // Ids are time-sortable UUIDv7s.
    let id = uuid::Uuid::parse_str(r["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);

    for (body, needle) in [
        (json!({"tool": "", "agent": "a"}), "tool"),
        (json!({"tool": "t", "agent": " "}), "agent"),
        (
            json!({"tool": "t", "agent": "a", "ttl_seconds": 0}),
            "ttl_seconds",
        ),
        (json!({"tool": "x".repeat(300), "agent": "a"}), "tool"),
    ] {
        let (st, e) = agent.post("/v1/requests", &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(error_message(&e).contains(needle), "{e}");
    }
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_with_a_clear_message() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let (st, e) = agent
        .post_raw("/v1/requests", br#"{"tool": "t", "agent": "#.to_vec())
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "malformed_json");
    let msg = error_message(&e);
    assert!(
        msg.contains("not valid JSON") && msg.contains("line 1"),
        "{msg}"
    );

    let (st, e) = agent
        .post("/v1/requests", &json!({"tool": 5, "agent": "a"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("tool"), "{e}");
    let (st, e) = agent.post("/v1/requests", &json!({"agent": "a"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("missing field `tool`"), "{e}");
    let (st, e) = agent
        .post(
            "/v1/requests",
            &json!({"tool": "t", "agent": "a", "colour": "red"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("colour"), "{e}");
    let (st, e) = agent
        .post(
            "/v1/requests",
            &json!({"tool": "t", "agent": "a", "risk": "extreme"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // Without a JSON content type: 415 saying which header to send.
    let (st, e) = agent
        .send(
            agent
                .request(reqwest::Method::POST, "/v1/requests")
                .body(r#"{"tool":"t","agent":"a"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(error_message(&e).contains("Content-Type"));

    let req = agent.file(&refund("bot")).await;
    let alice = srv.http(ALICE);
    let (st, e) = alice
        .decide_with(&req, &json!({"outcome": "maybe", "args_hash": "x"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("maybe"), "{e}");
    let (st, e) = alice.get("/v1/requests?status=done").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("done"));
    let (st, _) = alice.get("/v1/requests?limit=lots").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = alice.get("/v1/requests?limit=0").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, e) = alice.get("/v1/requests?cursor=zzz").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("cursor"));
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let srv = TestServer::start_configured(|c| c.max_body_bytes = 4096).await;
    let agent = srv.http(AGENT1);
    let big = json!({"tool": "t", "agent": "a", "params": {"blob": "x".repeat(5000)}});
    let (st, e) = agent.post("/v1/requests", &big).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e["error"]["code"], "payload_too_large");
    assert!(error_message(&e).contains("4096"));
    // Just under the limit is fine.
    let ok = json!({"tool": "t", "agent": "a", "params": {"blob": "x".repeat(3000)}});
    let (st, _) = agent.post("/v1/requests", &ok).await;
    assert_eq!(st, StatusCode::CREATED);
    // The default limit is 1 MiB.
    let srv2 = TestServer::start().await;
    let huge = json!({"tool": "t", "agent": "a", "params": {"blob": "x".repeat(1024 * 1024)}});
    let (st, _) = srv2.http(AGENT1).post("/v1/requests", &huge).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    srv.shutdown().await;
    srv2.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_is_idempotent_by_tool_call_id_and_idempotency_key() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let mut body = refund("bot");
    body.tool_call_id = Some("toolu_01".into());
    let first = agent.file(&body).await;
    let (st, again) = agent.post("/v1/requests", &body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again, first);
    // The same call id with other arguments is a client bug, not a replay.
    let mut changed = body.clone();
    changed.params["amount"] = json!(2500);
    let (st, e) = agent.post("/v1/requests", &changed).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["code"], "idempotency_mismatch");
    // Another token has its own call ids.
    let (st, _) = srv.http(AGENT2).post("/v1/requests", &body).await;
    assert_eq!(st, StatusCode::CREATED);

    let keyed = |key: &str| {
        agent
            .request(reqwest::Method::POST, "/v1/requests")
            .header("Idempotency-Key", key)
            .json(&refund("bot"))
    };
    let (st, a) = agent.send(keyed("key-1")).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, b) = agent.send(keyed("key-1")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(a["id"], b["id"]);
    let (st, c) = agent.send(keyed("key-2")).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_ne!(a["id"], c["id"]);

    // A replay after the decision returns the decided request, not a new one.
    srv.http(ALICE).decide(&first, "reject", "once").await;
    let (st, replay) = agent.post("/v1/requests", &body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(replay["status"], "rejected");

    // Through the crate client too.
    let api = srv.api(AGENT1);
    let mut new = new_request("t", "bot");
    new.tool_call_id = Some("toolu_02".into());
    let f1 = api.file(&new, None).await.unwrap();
    let f2 = api.file(&new, None).await.unwrap();
    assert!(f1.created && !f2.created);
    assert_eq!(f1.request.id, f2.request.id);

    let (_, all) = srv.http(ALICE).get("/v1/requests?status=all").await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 5);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_pages_and_reports_the_sequence() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = agent
            .file(&json!({"tool": "t", "agent": "a", "params": {"i": i}}))
            .await;
        ids.push(r);
    }
    alice.decide(&ids[1], "approve", "once").await;
    alice.decide(&ids[2], "reject", "once").await;
    srv.http(AGENT1).cancel(&ids[3]).await;

    let names = |v: &Value| -> Vec<String> {
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |i: usize| ids[i]["id"].as_str().unwrap().to_owned();

    // Default: pending, oldest first.
    let (_, pending) = alice.get("/v1/requests").await;
    assert_eq!(names(&pending), [id(0), id(4), id(5), id(6)]);
    assert_eq!(pending["seq"], 10);
    let (_, approved) = alice.get("/v1/requests?status=approved").await;
    assert_eq!(names(&approved), [id(1)]);
    let (_, rejected) = alice.get("/v1/requests?status=rejected").await;
    assert_eq!(names(&rejected), [id(2)]);
    let (_, cancelled) = alice.get("/v1/requests?status=cancelled").await;
    assert_eq!(names(&cancelled), [id(3)]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/requests?status=all&limit=3".to_owned(),
            Some(c) => format!("/v1/requests?status=all&limit=3&cursor={c}"),
        };
        let (st, page) = alice.get(&path).await;
        assert_eq!(st, StatusCode::OK);
        pages += 1;
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..7).map(id).collect::<Vec<_>>());

    let all = srv.api(ALICE).list_all(None).await.unwrap();
    assert_eq!(all.requests.len(), 7);

    // order=newest: newest filed first, paged backwards, with a status filter too.
    let (st, page) = alice
        .get("/v1/requests?status=all&limit=3&order=newest")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(names(&page), [id(6), id(5), id(4)]);
    let c = page["next_cursor"].as_str().unwrap();
    let (_, page) = alice
        .get(&format!(
            "/v1/requests?status=all&limit=3&order=newest&cursor={c}"
        ))
        .await;
    assert_eq!(names(&page), [id(3), id(2), id(1)]);
    let (_, pending) = alice.get("/v1/requests?order=newest").await;
    assert_eq!(names(&pending), [id(6), id(5), id(4), id(0)]);
    let (_, oldest) = alice.get("/v1/requests?order=oldest").await;
    assert_eq!(names(&oldest), [id(0), id(4), id(5), id(6)]);
    let newest = srv.api(ALICE).list_newest(None, 2).await.unwrap();
    let got: Vec<&str> = newest.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, [id(6), id(5)]);
    assert!(newest.next_cursor.is_some(), "older ones exist");
    let (st, e) = alice.get("/v1/requests?order=sideways").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(error_message(&e).contains("newest"));
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_conflicts_and_idempotent_repeats() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let bob = srv.http(BOB);
    let req = agent.file(&refund("bot")).await;

    // A stale or forged args_hash is refused and changes nothing.
    let forged = assent::protocol::args_hash(&json!({"amount": 2500}));
    let (st, e) = alice
        .decide_with(&req, &json!({"outcome": "approve", "args_hash": forged}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["code"], "args_hash_mismatch");
    // Conversation scope needs a conversation.
    let (st, e) = alice.decide(&req, "approve", "conversation").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&e).contains("conversation_id"));
    // A rejection cannot have a wider scope.
    let (st, _) = alice.decide(&req, "reject", "always").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, still) = alice.fetch(&req).await;
    assert_eq!(still["status"], "pending");

    let body = json!({"outcome": "reject", "reason": "amount too high", "notify_agent": true,
                      "args_hash": req["args_hash"]});
    let (st, d) = alice.decide_with(&req, &body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["status"], "rejected");
    assert_eq!(d["decision"]["reason"], "amount too high");
    assert_eq!(d["decision"]["notify_agent"], true);
    assert_eq!(d["decision"]["scope"], "once");
    assert_eq!(d["decision"]["grant_id"], Value::Null);

    // The same decision again by the same reviewer: 200, unchanged.
    let (st, again) = alice.decide_with(&req, &body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again, d);
    // Another reviewer, or another decision: 409 with the request as it stands.
    let (st, e) = bob.decide_with(&req, &body).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["request"], d);
    assert!(error_message(&e).contains("alice"));
    let (st, _) = alice.decide(&req, "approve", "once").await;
    assert_eq!(st, StatusCode::CONFLICT);

    // The crate client surfaces the 409's request.
    let err = srv
        .api(BOB)
        .decide(
            req["id"].as_str().unwrap(),
            &decision(Verdict::Approve, req["args_hash"].as_str().unwrap()),
        )
        .await
        .unwrap_err();
    match err {
        assent::client::ClientError::Api {
            status: 409,
            request: Some(r),
            ..
        } => {
            assert_eq!(r.decision.unwrap().responder, "alice");
        }
        other => panic!("expected a 409 with the request, got {other:?}"),
    }
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_concurrent_deciders_exactly_one_wins() {
    let extra: Vec<(String, String)> = (0..50)
        .map(|i| (format!("reviewer{i:02}"), format!("reviewer-token-{i:04}")))
        .collect();
    let toks = extra.clone();
    let srv = TestServer::start_configured(move |c| {
        for (name, tok) in &toks {
            c.tokens
                .push(token_config(name, assent::protocol::Role::Reviewer, tok));
        }
    })
    .await;
    let req = srv.http(AGENT1).file(&refund("bot")).await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for (i, (_, tok)) in extra.iter().enumerate() {
        let http = srv.http(tok);
        let req = req.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let outcome = if i % 2 == 0 { "approve" } else { "reject" };
            http.decide(&req, outcome, "once").await
        }));
    }
    let mut ok = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (st, body) = t.await.unwrap();
        match st {
            StatusCode::OK => ok.push(body),
            StatusCode::CONFLICT => {
                conflicts += 1;
                assert_ne!(body["request"]["status"], "pending");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok.len(), 1);
    assert_eq!(conflicts, 49);
    let (_, now) = srv.http(ALICE).fetch(&req).await;
    assert_eq!(now, ok[0]);
    // Exactly one decision is in the audit log.
    let (_, audit) = srv.http(ALICE).get("/v1/audit").await;
    let decided = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "decided")
        .count();
    assert_eq!(decided, 1);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_by_filer_or_admin_only() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    let a = agent.file(&refund("bot")).await;
    let b = agent.file(&refund("bot")).await;

    let (st, e) = srv.http(AGENT2).cancel(&a).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(error_message(&e).contains("filed"));
    let (st, c) = agent.cancel(&a).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(c["status"], "cancelled");
    let (st, e) = agent.cancel(&a).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["request"]["status"], "cancelled");
    // A cancelled request cannot be decided.
    let (st, e) = srv.http(ALICE).decide(&a, "approve", "once").await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(error_message(&e).contains("cancelled"));

    let (st, c) = srv.http(ROOT).cancel(&b).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(c["status"], "cancelled");
    let cancelled = srv.api(AGENT1).cancel(b["id"].as_str().unwrap()).await;
    assert_eq!(cancelled.unwrap_err().status(), Some(409));

    let (_, audit) = srv.http(ALICE).get("/v1/audit").await;
    let actors: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "cancelled")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["agent1", "root"]);
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_every_change_and_pages() {
    let srv = TestServer::start_configured(|c| c.default_ttl = None).await;
    let agent = srv.http(AGENT1);
    let alice = srv.http(ALICE);
    let body = in_conversation("c-1", refund("bot"));
    let r1 = agent.file(&body).await;
    let (_, d) = alice
        .decide_with(
            &r1,
            &json!({"outcome": "approve", "scope": "conversation", "reason": "fine",
                    "args_hash": r1["args_hash"]}),
        )
        .await;
    let grant_id = d["decision"]["grant_id"].as_str().unwrap().to_owned();
    let r2 = agent.file(&body).await;
    assert_eq!(r2["status"], "approved");
    srv.http(BOB)
        .delete(&format!("/v1/grants/{grant_id}"))
        .await;
    let mut short = refund("bot");
    short.ttl_seconds = Some(1);
    let r3 = agent.file(&short).await;
    let (_, expired) = agent.wait(&r3, 5).await;
    assert_eq!(expired["status"], "expired");

    let (st, page) = alice.get("/v1/audit").await;
    assert_eq!(st, StatusCode::OK);
    let entries = page["entries"].as_array().unwrap();
    let summary: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("filed", "agent1"),
        ("decided", "alice"),
        ("grant_created", "alice"),
        ("filed", "agent1"),
        ("decided", "alice"),
        ("grant_revoked", "bob"),
        ("filed", "agent1"),
        ("expired", "system"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(summary, expect);
    let decided = &entries[1];
    assert_eq!(decided["request_id"], r1["id"]);
    assert_eq!(decided["tool"], "order_tools.process_refund");
    assert_eq!(decided["agent"], "bot");
    assert_eq!(decided["outcome"], "approved");
    assert_eq!(decided["scope"], "conversation");
    assert_eq!(decided["reason"], "fine");
    assert_eq!(decided["args_hash"], r1["args_hash"]);
    assert_eq!(decided["grant_id"], json!(grant_id));
    assert_eq!(entries[4]["grant_id"], json!(grant_id));
    assert_eq!(page["next_after"], Value::Null);

    // Paging: limit and after.
    let (_, p1) = alice.get("/v1/audit?limit=3").await;
    assert_eq!(p1["entries"].as_array().unwrap().len(), 3);
    let next = p1["next_after"].as_u64().unwrap();
    assert_eq!(next, entries[2]["seq"].as_u64().unwrap());
    let (_, p2) = alice
        .get(&format!("/v1/audit?after={next}&limit=100"))
        .await;
    assert_eq!(p2["entries"].as_array().unwrap().len(), 5);
    assert_eq!(p2["entries"][0], entries[3]);
    let page = srv.api(ALICE).audit(Some(next), 2).await.unwrap();
    assert_eq!(page.entries.len(), 2);
    assert!(page.next_after.is_some());
    srv.shutdown().await;
}
}

each_store! {
#[tokio::test]
async fn array_bodies_and_inexact_numbers_are_refused() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    // serde would fill the struct by position from an array; the API takes objects only.
    let (status, body) = agent
        .post(
            "/v1/requests",
            &serde_json::json!(["arr.tool", {"x": 1}, null, "order-manager"]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body");

    // An integer beyond 2^53 would be shown and hashed rounded: refused, not rewritten.
    let (status, body) = agent
        .post_raw(
            "/v1/requests",
            br#"{"tool":"payments.transfer","agent":"a","params":{"cents":123456789012345678901234567890}}"#
                .to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "inexact_number");
    assert!(error_message(&body).contains("params.cents"));
    let (status, _) = agent
        .post_raw(
            "/v1/requests",
            br#"{"tool":"t","agent":"a","params":{"ok":9007199254740992,"f":0.1}}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    srv.shutdown().await;
}
}

each_store! {
/// PostgreSQL cannot keep a NUL in a text column (it answered 500 there, while SQLite kept
/// it): both stores refuse one in a name, an id or a reason with the same 422, and a NUL
/// inside params (a JSON escape in stored text) is kept on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_text_field_is_refused_alike() {
    let srv = TestServer::start().await;
    let agent = srv.http(AGENT1);
    for (field, value) in [
        ("tool", json!("db.read\u{0}x")),
        ("agent", json!("agent\u{0}")),
        ("reason", json!("because\u{0}")),
        ("conversation_id", json!("c\u{0}1")),
    ] {
        let mut body = json!({"tool": "db.read", "agent": "a", "params": {"q": 1}});
        body[field] = value;
        let (st, err) = agent.post("/v1/requests", &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {err}");
        assert_eq!(err["error"]["code"], "invalid_request", "{field}: {err}");
    }
    let kept = agent
        .file(&json!({"tool": "db.read", "agent": "a", "params": {"q": "x\u{0}y"}}))
        .await;
    assert_eq!(kept["params"]["q"], "x\u{0}y");
    let (st, err) = srv
        .http(ALICE)
        .decide_with(
            &kept,
            &json!({"outcome": "reject", "args_hash": kept["args_hash"], "reason": "no\u{0}"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (_, still) = agent.fetch(&kept).await;
    assert_eq!(still["status"], "pending");
    srv.shutdown().await;
}
}
