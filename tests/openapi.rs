//! `GET /v1/openapi.json`: an OpenAPI 3.1 description that covers every route the server
//! serves, every status and error code docs/api.md names, and that the harness's response
//! validator (tests/common/openapi.rs, run on every answer `Http` receives) can fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::openapi::{SPEC, check, template_of};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every (method, path template) the description has.
fn operations() -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in SPEC["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                ops.push((m.to_owned(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_is_served_without_a_token_as_openapi_3_1() {
    let srv = TestServer::start().await;
    let (st, served) = srv.anonymous().get("/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(served, *SPEC, "served as the harness checks against");
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": served["components"]["securitySchemes"]["bearer"]["description"]})
    );
    srv.shutdown().await;
}

/// Each described operation is served: a call of it never gets the router's own answer
/// for a path it does not have (404 "no endpoint") or a method the path does not take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_described_route_is_served() {
    let srv = TestServer::start().await;
    let root = srv.http(ROOT);
    let ops = operations();
    assert!(ops.len() >= 15, "{ops:?}");
    for (method, path) in &ops {
        let concrete = path.replace("{id}", "0193a3f2-7b1c-7cc0-9d1e-0123456789ab");
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let rb = root.request(m, &concrete);
        // An event stream would not end, and the metrics are not JSON: their status and
        // headers say enough.
        if path == "/v1/events" || path == "/metrics" {
            let resp = rb.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            continue;
        }
        let (st, body) = root.send(rb).await;
        assert_ne!(
            st,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        if st == StatusCode::NOT_FOUND {
            assert!(
                !error_message(&body).starts_with("no endpoint"),
                "{method} {path} is described but not served: {body}"
            );
        }
    }
    srv.shutdown().await;
}

/// The other half: a route cannot be served without being described, because the
/// router is built only from `assent::server::openapi::routes`, where utoipa-axum's
/// `routes!` registers each handler with its description. This fails when someone adds a
/// route to the router the plain axum way, which would bypass the description.
#[test]
fn no_route_is_added_outside_the_described_table() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server");
    let mut files = vec![];
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 5, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for call in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            ".merge(",
        ] {
            assert!(
                !text.contains(call),
                "{} calls {call}: add the route with `.routes(routes!(handler))` in \
                 src/server/openapi.rs, with a #[utoipa::path] on the handler",
                f.display()
            );
        }
    }
    let table = std::fs::read_to_string(format!("{dir}/openapi.rs")).unwrap();
    let routes = table.matches(".routes(routes!(").count();
    assert!(routes >= 14, "{routes} routes! calls");
}

/// Every status and error code in docs/api.md's table of errors is in the description.
#[test]
fn every_documented_error_code_and_status_is_described() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let table: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("## Errors"))
        .skip_while(|l| !l.starts_with("| Status"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() > 15, "{table:?}");
    let spec = SPEC.to_string();
    let mut statuses = std::collections::BTreeSet::new();
    for (_, item) in SPEC["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            if let Some(r) = op.get("responses").and_then(Value::as_object) {
                statuses.extend(r.keys().cloned());
            }
        }
    }
    // The router answers 405 itself, for any path: described as every operation's
    // `default`, which names its code.
    if statuses.contains("default") {
        statuses.insert("405".to_owned());
    }
    for row in table {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (status, codes) = (cells[1], cells[2]);
        assert!(
            statuses.contains(status),
            "status {status} is not described ({statuses:?})"
        );
        for code in codes.split('`').skip(1).step_by(2) {
            assert!(
                spec.contains(&format!("`{code}`")),
                "error code {code} is not named in the description"
            );
        }
    }
}

/// The validator the harness runs on every answer: it refuses what the description does
/// not allow, so a passing suite means something.
#[test]
fn the_harness_validator_fails_on_a_wrong_answer() {
    let good = json!({"name": "alice", "role": "reviewer"});
    assert_eq!(check("GET", "/v1/whoami", 200, &good), Ok(()));
    let wrong_enum = json!({"name": "alice", "role": "superuser"});
    assert!(check("GET", "/v1/whoami", 200, &wrong_enum).is_err());
    let missing = json!({"name": "alice"});
    assert!(check("GET", "/v1/whoami", 200, &missing).is_err());
    // A status the operation does not list is its `default`: an error body, or a failure.
    let err = check("GET", "/healthz", 418, &json!({})).unwrap_err();
    assert!(err.contains("error"), "{err}");
    // A path the description has, with a method it does not: only the router's 405.
    assert!(check("PUT", "/v1/whoami", 200, &good).is_err());
    assert!(
        check(
            "PUT",
            "/v1/whoami",
            405,
            &json!({"error": {"code": "method_not_allowed", "message": "x"}})
        )
        .is_ok()
    );
    // An error body that is not the API's.
    assert!(check("GET", "/v1/whoami", 401, &json!({"error": "nope"})).is_err());
    assert!(
        check(
            "GET",
            "/v1/whoami",
            401,
            &json!({"error": {"code": "unauthorized", "message": "x"}})
        )
        .is_ok()
    );
    // A request whose decision says it was made by nothing known.
    let mut req = json!({
        "id": "0193a3f2-7b1c-7cc0-9d1e-0123456789ab", "status": "approved", "tool": "Bash",
        "params": {"command": "ls"}, "args_hash": "sha256:00", "reason": null, "agent": "cc",
        "conversation_id": "s", "run_id": null, "tool_call_id": "t", "risk": "low",
        "filed_by": "agent1", "created_at": "2026-12-01T19:13:09.123Z", "expires_at": null,
        "decision": {"outcome": "approved", "scope": "once", "reason": null,
            "notify_agent": false, "responder": "alice", "decided_at": "2026-12-01T19:13:10Z",
            "grant_id": null, "via": {"kind": "person"}},
        "policy": null
    });
    assert_eq!(check("GET", "/v1/requests/{id}", 200, &req), Ok(()));
    req["decision"]["via"] = json!({"kind": "magic"});
    assert!(check("GET", "/v1/requests/x", 200, &req).is_err());
    req["decision"]["via"] = json!({"kind": "person"});
    req["status"] = json!("maybe");
    assert!(check("GET", "/v1/requests/x", 200, &req).is_err());
    // Paths are matched to their templates; an unknown path is the router's 404.
    assert_eq!(
        template_of("/v1/requests/abc/wait").as_deref(),
        Some("/v1/requests/{id}/wait")
    );
    assert_eq!(template_of("/v1/requests").as_deref(), Some("/v1/requests"));
    assert_eq!(template_of("/v2/nothing"), None);
    assert!(
        check(
            "GET",
            "/v2/nothing",
            404,
            &json!({"error": {"code": "not_found", "message": "x"}})
        )
        .is_ok()
    );
    assert!(check("GET", "/v2/nothing", 200, &json!({})).is_err());
}

/// The hook endpoint's answers are the shapes Claude Code documents, as the description
/// says: each one validates, and a made-up decision does not.
#[test]
fn the_hook_answers_are_described_exactly() {
    let p = "/v1/hooks/claude-code";
    for ok in [
        json!({}),
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}),
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": "no"}}}),
        json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", "permissionDecisionReason": "r"}}),
    ] {
        assert_eq!(check("POST", p, 200, &ok), Ok(()), "{ok}");
    }
    for bad in [
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "ask"}}}),
        json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "maybe", "permissionDecisionReason": "r"}}),
        json!({"hookSpecificOutput": {"hookEventName": "PostToolUse"}}),
    ] {
        assert!(check("POST", p, 200, &bad).is_err(), "{bad}");
    }
}

/// The check is wired into the harness: an answer the description does not allow fails
/// the test that received it. A stand-in for a server that drifted from its description
/// (a role the API does not have) answers here; the real server is tested everywhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the OpenAPI description does not allow")]
async fn an_answer_that_does_not_fit_fails_the_test_that_got_it() {
    let drifted = axum::Router::new().route(
        "/v1/whoami",
        axum::routing::get(|| async { axum::Json(json!({"name": "x", "role": "superuser"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, drifted).await });
    Http::new(&url, None).get("/v1/whoami").await;
}
