//! Edit, then approve (issue 15): a reviewer approves edited params; the request keeps
//! what it filed and was shown, the decision and the audit carry both hashes, the approval
//! token the edit's, and every agent-side path runs the edit: the wait API, the gate, the
//! command hook and the HTTP hook. The real server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{DecisionBody, Scope, Verdict, args_hash};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// The claims of an approval token (its signature is tests/token.rs's business).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&b64(payload)).unwrap()
}

/// The approval of `r` (as the server returned it) with `params` in place of its own.
fn edited(r: &Value, params: &Value) -> Value {
    json!({"outcome": "approve", "args_hash": r["args_hash"], "params": params})
}

each_store! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_approval_keeps_the_request_and_records_the_edit() {
    let s = TestServer::start().await;
    let (agent, alice) = (s.http(AGENT1), s.http(ALICE));
    let r = agent.file(&refund("order-manager")).await;
    let edit = json!({"order_id": "A-1001", "amount": 25});
    let (st, d) = alice.decide_with(&r, &edited(&r, &edit)).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["status"], "approved");
    // The request keeps what it filed, and what the reviewer was shown.
    assert_eq!(d["params"], r["params"]);
    assert_eq!(d["args_hash"], r["args_hash"]);
    assert_eq!(d["decision"]["approved_params"], edit);
    let edit_hash = args_hash(&edit);
    assert_eq!(d["decision"]["approved_args_hash"], edit_hash.as_str());
    // The tool runs the edit: the token is of its hash.
    let token = d["decision"]["approval_token"].as_str().unwrap();
    assert_eq!(claims(token)["args_hash"], edit_hash.as_str());
    // The agent's wait returns the edit, token and all.
    let (st, waited) = agent.wait(&r, 5).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(waited["decision"]["approved_params"], edit);
    assert_eq!(
        claims(waited["decision"]["approval_token"].as_str().unwrap())["args_hash"],
        edit_hash.as_str()
    );
    // The audit shows both hashes.
    let (_, audit) = alice.get("/v1/audit").await;
    let decided = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "decided")
        .unwrap()
        .clone();
    assert_eq!(decided["args_hash"], r["args_hash"]);
    assert_eq!(decided["approved_args_hash"], edit_hash.as_str());
    // Sent again, the same edit is a replay; without it, a conflict.
    let (st, again) = alice.decide_with(&r, &edited(&r, &edit)).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    let plain = json!({"outcome": "approve", "args_hash": r["args_hash"]});
    assert_eq!(alice.decide_with(&r, &plain).await.0, StatusCode::CONFLICT);
    // The chain holds over the new field.
    let (st, v) = alice.get("/v1/audit").await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_never_makes_a_grant_nor_rejects() {
    let s = TestServer::start().await;
    let (agent, alice) = (s.http(AGENT1), s.http(ALICE));
    let r = agent
        .file(&in_conversation("c-1", refund("order-manager")))
        .await;
    let edit = json!({"order_id": "A-1001", "amount": 1});
    for scope in ["conversation", "always"] {
        let mut body = edited(&r, &edit);
        body["scope"] = json!(scope);
        let (st, v) = alice.decide_with(&r, &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], "edited_grant", "{v}");
    }
    let mut body = edited(&r, &edit);
    body["outcome"] = json!("reject");
    body["reason"] = json!("no");
    let (st, v) = alice.decide_with(&r, &body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_edit");
    // The hash must be of what was shown, not of the edit.
    let body = json!({"outcome": "approve", "args_hash": args_hash(&edit), "params": edit});
    let (st, v) = alice.decide_with(&r, &body).await;
    assert_eq!(v["error"]["code"], "args_hash_mismatch", "{st} {v}");
    assert_eq!(agent.fetch(&r).await.1["status"], "pending");
    let (_, grants) = alice.get("/v1/grants").await;
    assert_eq!(grants["grants"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_params_are_checked_as_filed_params_are() {
    let s = TestServer::start().await;
    let (agent, alice) = (s.http(AGENT1), s.http(ALICE));
    let r = agent.file(&refund("order-manager")).await;
    let hash = r["args_hash"].as_str().unwrap().to_owned();
    let deep = "[".repeat(70) + &"]".repeat(70);
    for (params, code) in [
        (r#"{"a": 1, "a": 2}"#.to_owned(), "duplicate_key"),
        (r#"{"n": 12345678901234567890}"#.to_owned(), "inexact_number"),
        (deep, "params_too_deep"),
    ] {
        let body = format!(r#"{{"outcome":"approve","args_hash":"{hash}","params":{params}}}"#);
        let path = format!("/v1/requests/{}/decision", r["id"].as_str().unwrap());
        let (st, v) = alice.post_raw(&path, body.into_bytes()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {v}");
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    assert_eq!(agent.fetch(&r).await.1["status"], "pending");
}
}

/// The approval of `r` with `params` in place of its own, as a body.
fn edit_body(r: &assent::protocol::ApprovalRequest, params: Value) -> DecisionBody {
    DecisionBody {
        scope: Scope::Once,
        params: Some(params),
        ..decision(Verdict::Approve, &r.args_hash)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_runs_the_edited_command_and_says_so_first() {
    let s = Serve::start().await;
    let cmd: Vec<String> = ["sh", "-c", "echo as filed"].map(String::from).to_vec();
    let mut args = vec!["gate", "--"];
    args.extend(cmd.iter().map(String::as_str));
    let run = start(assent(&s.url, Some(AGENT1), &args), None, 30);
    let r = s.pending(1).await.remove(0);
    let dir = s.dir.to_string_lossy().into_owned();
    let edit = json!({"argv": ["sh", "-c", "echo as edited; pwd"], "cwd": dir});
    s.decide(&r.id, &edit_body(&r, edit)).await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let here = std::fs::canonicalize(&s.dir).unwrap();
    assert_eq!(out.stdout, format!("as edited\n{}\n", here.display()));
    assert!(
        out.stderr.contains(
            "the reviewer edited the command; running instead: sh -c 'echo as edited; pwd'"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_refuses_an_edit_that_is_no_command() {
    let s = Serve::start().await;
    let run = start(
        assent(&s.url, Some(AGENT1), &["gate", "--", "echo", "hi"]),
        None,
        30,
    );
    let r = s.pending(1).await.remove(0);
    s.decide(&r.id, &edit_body(&r, json!({"argv": []}))).await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(5), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("edited params the gate cannot run"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_hook_answers_with_the_edit_as_updated_input() {
    let s = Serve::start().await;
    let edit = json!({"command": "npm test -- --bail"});
    let run = start(
        assent(&s.url, Some(AGENT1), &["hook", "claude-code"]),
        Some(&pre_tool_use("sess-1", "toolu_01")),
        30,
    );
    let r = s.pending(1).await.remove(0);
    s.decide(&r.id, &edit_body(&r, edit.clone())).await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow");
    assert_eq!(v["hookSpecificOutput"]["updatedInput"], edit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_hook_answers_with_the_edit_as_updated_input() {
    let s = TestServer::start().await;
    let (agent, alice) = (s.http(AGENT1), s.http(ALICE));
    let input: Value = serde_json::from_str(&pre_tool_use("sess-2", "toolu_02")).unwrap();
    let call = {
        let agent = agent.clone();
        tokio::spawn(async move { agent.post("/v1/hooks/claude-code?wait=20", &input).await })
    };
    let r = eventually(
        "a pending request",
        std::time::Duration::from_secs(10),
        || async {
            let (_, list) = alice.get("/v1/requests?status=pending").await;
            list["requests"].as_array().and_then(|a| a.first().cloned())
        },
    )
    .await;
    let edit = json!({"command": "ls"});
    let (st, v) = alice.decide_with(&r, &edited(&r, &edit)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, answer) = call.await.unwrap();
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "allow");
    assert_eq!(answer["hookSpecificOutput"]["updatedInput"], edit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_takes_a_params_file() {
    let s = Serve::start().await;
    let r = s.file(&refund("order-manager")).await;
    let file = s.dir.join("edit.json");
    std::fs::write(&file, r#"{"order_id": "A-1001", "amount": 5}"#).unwrap();
    let f = file.to_str().unwrap();
    // A grant from an edit is refused before anything is sent.
    let out = finish(
        assent(
            &s.url,
            Some(ALICE),
            &["approve", &r.id, "--params-file", f, "--scope", "always"],
        ),
        None,
        30,
    )
    .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let out = finish(
        assent(&s.url, Some(ALICE), &["approve", &r.id, "--params-file", f]),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("with edited params"), "{}", out.stdout);
    let got = s.api(ALICE).get(&r.id).await.unwrap();
    let d = got.decision.unwrap();
    assert_eq!(
        d.approved_params,
        Some(json!({"order_id": "A-1001", "amount": 5}))
    );
    // A file with a repeated key is refused as a filing's params would be.
    let r2 = s.file(&refund("order-manager")).await;
    std::fs::write(&file, r#"{"amount": 5, "amount": 6}"#).unwrap();
    let out = finish(
        assent(
            &s.url,
            Some(ALICE),
            &["approve", &r2.id, "--params-file", f],
        ),
        None,
        30,
    )
    .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("twice"), "{}", out.stderr);
}
