//! `POST /v1/hooks/claude-code` over real HTTP: Claude Code's documented hook inputs go in
//! as the body, the documented answers must come out, once a reviewer of the real server
//! decides; timeouts, retries, hang-ups, roles and bad bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The PermissionRequest input example from the Claude Code hooks reference, with fields
/// no version sends yet: unknown fields are ignored, never refused.
fn permission_request(session: &str) -> Value {
    json!({
        "session_id": session,
        "transcript_path": "/home/u/.claude/projects/x/abc123.jsonl",
        "cwd": "/repo",
        "permission_mode": "default",
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": "rm -rf node_modules", "description": "Remove node_modules"},
        "permission_suggestions": [{"type": "addRules",
            "rules": [{"toolName": "Bash", "ruleContent": "rm -rf node_modules"}],
            "behavior": "allow", "destination": "localSettings"}],
        "effort": {"level": "high"},
        "a_field_from_the_future": [1, {"x": null}]
    })
}

fn pre_tool_use_input(session: &str, tool_use_id: &str) -> Value {
    serde_json::from_str(&pre_tool_use(session, tool_use_id)).unwrap()
}

const HOOK: &str = "/v1/hooks/claude-code";

/// Posts `input` as Claude Code's http hook does, in a task: its answer, when it comes.
fn hook_call(
    agent: &Http,
    query: &str,
    input: &Value,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let agent = agent.clone();
    let path = format!("{HOOK}{query}");
    let input = input.clone();
    tokio::spawn(async move { agent.post(&path, &input).await })
}

/// The pending requests, once there are `n`.
async fn pending(reviewer: &Http, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} pending requests"),
        Duration::from_secs(10),
        || async {
            let (_, list) = reviewer.get("/v1/requests?status=pending").await;
            let rs = list["requests"].as_array().cloned().unwrap_or_default();
            (rs.len() == n).then_some(rs)
        },
    )
    .await
}

fn pre_tool_use_answer(decision: &str, reason: &str) -> Value {
    json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
        "permissionDecision": decision, "permissionDecisionReason": reason}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_tool_use_is_filed_as_the_command_hook_files_it_and_allowed_once_approved() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let call = hook_call(
        &agent,
        "?wait=30",
        &pre_tool_use_input("sess-1", "toolu_01A"),
    );
    let r = pending(&alice, 1).await.remove(0);
    assert_eq!(r["tool"], "Bash");
    assert_eq!(
        r["params"],
        json!({"command": "npm test", "description": "Run the tests"})
    );
    assert_eq!(r["agent"], "claude-code");
    assert_eq!(r["filed_by"], "agent1");
    assert_eq!(r["conversation_id"], "sess-1");
    assert_eq!(r["tool_call_id"], "toolu_01A");
    assert_eq!(r["reason"], "Run the tests (cwd: /repo)");
    let (st, _) = alice.decide(&r, "approve", "once").await;
    assert_eq!(st, StatusCode::OK);
    let (st, answer) = call.await.unwrap();
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        pre_tool_use_answer("allow", "Approved by alice in assent")
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_denies_with_the_reason_only_when_the_agent_is_told() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    for (n, (notify, said)) in [
        (true, "use npm ci instead"),
        (false, "Rejected by reviewer"),
    ]
    .into_iter()
    .enumerate()
    {
        let call = hook_call(
            &agent,
            "?agent=cc-test",
            &pre_tool_use_input("s", &format!("toolu_{n}")),
        );
        let r = pending(&alice, 1).await.remove(0);
        assert_eq!(r["agent"], "cc-test");
        let body = json!({"outcome": "reject", "reason": "use npm ci instead",
            "notify_agent": notify, "args_hash": r["args_hash"]});
        let (st, _) = alice.decide_with(&r, &body).await;
        assert_eq!(st, StatusCode::OK);
        let (st, answer) = call.await.unwrap();
        assert_eq!(st, StatusCode::OK);
        assert_eq!(answer, pre_tool_use_answer("deny", said));
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grants_approval_says_it_was_the_grant() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let first = hook_call(&agent, "", &pre_tool_use_input("sess-g", "toolu_1"));
    let r = pending(&alice, 1).await.remove(0);
    let (st, _) = alice.decide(&r, "approve", "conversation").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        first.await.unwrap().1,
        pre_tool_use_answer("allow", "Approved by alice in assent")
    );
    // The next call of the session is approved at filing by the grant, not by alice.
    let (st, answer) = agent
        .post(HOOK, &pre_tool_use_input("sess-g", "toolu_2"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert_eq!(
        answer["hookSpecificOutput"]["permissionDecision"], "allow",
        "{answer}"
    );
    assert!(
        reason.starts_with("Approved by grant ")
            && reason.ends_with(" (alice, conversation) in assent"),
        "{reason}"
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_request_with_unknown_fields_is_allowed_or_denied() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let call = hook_call(&agent, "", &permission_request("abc123"));
    let r = pending(&alice, 1).await.remove(0);
    assert_eq!(r["tool_call_id"], Value::Null);
    assert_eq!(r["conversation_id"], "abc123");
    assert_eq!(r["reason"], "Remove node_modules (cwd: /repo)");
    alice.decide(&r, "approve", "once").await;
    assert_eq!(
        call.await.unwrap(),
        (
            StatusCode::OK,
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "allow"}}})
        )
    );
    let call = hook_call(&agent, "", &permission_request("abc123"));
    let r = pending(&alice, 1).await.remove(0);
    let body = json!({"outcome": "reject", "reason": "not on Fridays", "notify_agent": true,
        "args_hash": r["args_hash"]});
    alice.decide_with(&r, &body).await;
    assert_eq!(
        call.await.unwrap().1,
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
            "decision": {"behavior": "deny", "message": "not on Fridays"}}})
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_its_own_timeout_pre_tool_use_is_denied_and_permission_request_left_to_claude_code() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let (st, answer) = agent
        .post(
            &format!("{HOOK}?wait=1"),
            &pre_tool_use_input("s", "toolu_t"),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let out = &answer["hookSpecificOutput"];
    assert_eq!(out["permissionDecision"], "deny", "{answer}");
    assert!(
        out["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("No reviewer decided in assent within 1s"),
        "{answer}"
    );
    let (st, answer) = agent
        .post(&format!("{HOOK}?wait=1"), &permission_request("s"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(answer, json!({}), "no decision: Claude Code's dialog stays");
    // Both were taken off the reviewers' queue.
    let (_, list) = alice.get("/v1/requests?status=cancelled").await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 2, "{list}");
    assert!(pending(&alice, 0).await.is_empty());
    // A retry of the timed-out PreToolUse call finds its cancelled request: denied again,
    // nothing filed anew.
    let (_, again) = agent
        .post(
            &format!("{HOOK}?wait=1"),
            &pre_tool_use_input("s", "toolu_t"),
        )
        .await;
    assert_eq!(again["hookSpecificOutput"]["permissionDecision"], "deny");
    let (_, all) = alice.get("/v1/requests?status=all").await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_the_same_call_waits_on_the_same_request() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let input = pre_tool_use_input("s", "toolu_same");
    let first = hook_call(&agent, "?wait=30", &input);
    let r = pending(&alice, 1).await.remove(0);
    let retry = hook_call(&agent, "?wait=30", &input);
    // Give the retry time to file: it must find the same request, not file a second.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pending(&alice, 1).await[0]["id"], r["id"]);
    alice.decide(&r, "approve", "once").await;
    let allow = pre_tool_use_answer("allow", "Approved by alice in assent");
    assert_eq!(first.await.unwrap().1, allow);
    assert_eq!(retry.await.unwrap().1, allow);
    // Once decided, another retry is answered at once with the same decision.
    let (_, again) = agent.post(HOOK, &input).await;
    assert_eq!(again, allow);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_hangs_up_has_its_request_cancelled() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let rb = agent
        .request(Method::POST, &format!("{HOOK}?wait=30"))
        .json(&pre_tool_use_input("s", "toolu_gone"))
        .timeout(Duration::from_millis(500));
    assert!(rb.send().await.unwrap_err().is_timeout());
    let cancelled = eventually(
        "the hung-up call's request cancelled",
        Duration::from_secs(10),
        || async {
            let (_, list) = alice.get("/v1/requests?status=cancelled").await;
            list["requests"]
                .as_array()
                .and_then(|rs| rs.first().cloned())
        },
    )
    .await;
    assert_eq!(cancelled["tool_call_id"], "toolu_gone");
    assert_eq!(cancelled["status"], "cancelled");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_at_filing_as_for_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "no-rm"
tool = "Bash"
when = 'params.command.startsWith("rm ")'
action = "deny"
message = "never rm here"
"#;
    let srv =
        TestServer::start_from_file(&write_config(dir.path(), "", Some(policy)).unwrap()).await;
    let agent = srv.http(AGENT1);
    let (st, answer) = agent.post(HOOK, &permission_request("p")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
            "decision": {"behavior": "deny", "message": "never rm here"}}})
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_roles_and_bad_bodies_are_refused_with_the_apis_errors() {
    let srv = TestServer::start().await;
    let input = pre_tool_use_input("s", "toolu_x");
    let (st, e) = srv.http(ALICE).post(HOOK, &input).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"]["code"], "forbidden");
    let (st, e) = srv.anonymous().post(HOOK, &input).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["code"], "unauthorized");
    let agent = srv.http(AGENT1);
    for (body, status, code) in [
        (b"[1]".to_vec(), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            b"{\"x\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            br#"{"hook_event_name":"PreToolUse"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unsupported_hook_event",
        ),
        (
            br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"n":1,"n":2}}"#
                .to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_key",
        ),
    ] {
        let (st, e) = agent.post_raw(HOOK, body.clone()).await;
        assert_eq!(st, status, "{}: {e}", String::from_utf8_lossy(&body));
        assert_eq!(e["error"]["code"], code, "{e}");
        assert!(!error_message(&e).is_empty());
    }
    let (st, e) = agent.post(&format!("{HOOK}?wait=soon"), &input).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "bad_query");
    let (st, e) = agent
        .send(agent.request(Method::POST, HOOK).body(input.to_string()))
        .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    // Nothing was filed by any of them.
    let (_, all) = srv.http(ALICE).get("/v1/requests?status=all").await;
    assert_eq!(all["requests"], json!([]));
    srv.shutdown().await;
}

/// The rules of Codex's PermissionRequest hook output, as its generated schema states them
/// (openai/codex, codex-rs/hooks/schema/generated/permission-request.command.output.schema.json,
/// read at commit 2219e3df): no fields but its own at each level, `hookEventName` required,
/// `behavior` allow or deny, `message` a string. Restated here, not copied.
fn codex_permission_request_output() -> jsonschema::Validator {
    jsonschema::draft7::new(&json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "continue": {"type": "boolean"},
            "stopReason": {"type": "string"},
            "suppressOutput": {"type": "boolean"},
            "systemMessage": {"type": "string"},
            "hookSpecificOutput": {
                "type": "object",
                "additionalProperties": false,
                "required": ["hookEventName"],
                "properties": {
                    "hookEventName": {"enum": ["PreToolUse", "PermissionRequest", "PostToolUse",
                        "SessionStart", "UserPromptSubmit", "Stop"]},
                    "decision": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["behavior"],
                        "properties": {
                            "behavior": {"enum": ["allow", "deny"]},
                            "message": {"type": "string"},
                            "interrupt": {"type": "boolean", "const": false},
                            "updatedPermissions": {"type": "array"},
                            "addDirectories": {"type": "array"}
                        }
                    }
                }
            }
        }
    }))
    .unwrap()
}

/// Codex's PermissionRequest input (the example of the pull request that added the hook,
/// openai/codex): what Codex sends for a shell approval, with its own `turn_id` and `model`.
fn codex_permission_request() -> Value {
    json!({
        "session_id": "019a-codex-session",
        "turn_id": "turn-1",
        "transcript_path": "/path/to/transcript.jsonl",
        "cwd": "/path/to/cwd",
        "hook_event_name": "PermissionRequest",
        "model": "gpt-5",
        "permission_mode": "default",
        "tool_name": "Bash",
        "tool_input": {"command": "rm -f /tmp/example"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_permission_request_input_and_every_answer_fit_codexs_schema() {
    let srv = TestServer::start().await;
    let (agent, alice) = (srv.http(AGENT1), srv.http(ALICE));
    let codex = codex_permission_request_output();
    let mut answers = vec![];
    for verdict in ["approve", "reject"] {
        let call = hook_call(&agent, "?agent=codex", &codex_permission_request());
        let r = pending(&alice, 1).await.remove(0);
        assert_eq!(r["tool"], "Bash");
        assert_eq!(r["params"], json!({"command": "rm -f /tmp/example"}));
        assert_eq!(r["conversation_id"], "019a-codex-session");
        assert_eq!(r["reason"], "cwd: /path/to/cwd");
        alice.decide(&r, verdict, "once").await;
        answers.push(call.await.unwrap().1);
    }
    let (_, none) = agent
        .post(&format!("{HOOK}?wait=0"), &codex_permission_request())
        .await;
    answers.push(none);
    assert_eq!(
        answers[0]["hookSpecificOutput"]["decision"]["behavior"],
        "allow"
    );
    assert_eq!(
        answers[1]["hookSpecificOutput"]["decision"]["behavior"],
        "deny"
    );
    assert_eq!(answers[2], json!({}));
    for a in &answers {
        let errors: Vec<String> = codex.iter_errors(a).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{a} is not Codex output: {errors:?}");
    }
    // The restated rules are not vacuous: an "ask", which Codex has no use for, fails them.
    let ask = json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
        "decision": {"behavior": "ask"}}});
    assert!(!codex.is_valid(&ask));
    srv.shutdown().await;
}
