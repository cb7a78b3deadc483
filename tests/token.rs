//! Approval tokens (issue 16) against the real server: issued for every kind of approval,
//! verified offline with the served JWKS (by the crate's verifier, by `assent token
//! verify`, and by PyJWT), refused for anything else, kept across a key rotation until
//! they expire, and never shown to another agent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assent::protocol::{ApprovalRequest, Scope, Status, Verdict};
use assent::token::verify::{Expect, Refusal, verify};
use common::*;
use jsonwebtoken::jwk::JwkSet;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The issuer the tests' servers are named.
const ISSUER: &str = "assent-test";

/// A server named [`ISSUER`] with the test policy (`safe.*` is allowed at filing) and
/// `keys` added to its `[server]` table.
async fn server(tmp: &Path, keys: &str) -> TestServer {
    let cfg = write_config(
        tmp,
        &format!("name = \"{ISSUER}\"\n{keys}"),
        Some(&test_policy().unwrap()),
    )
    .unwrap();
    TestServer::start_from_file(&cfg).await
}

async fn jwks(url: &str) -> JwkSet {
    let answer = reqwest::get(format!("{url}/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "the JWKS needs no token");
    answer.json().await.unwrap()
}

fn token_of(r: &ApprovalRequest) -> String {
    r.decision
        .as_ref()
        .and_then(|d| d.approval_token.clone())
        .unwrap_or_else(|| panic!("no approval token on {} ({})", r.id, r.status))
}

/// What a tool about to run `r` checks.
fn expect(r: &ApprovalRequest) -> Expect {
    Expect {
        tool: Some(r.tool.clone()),
        params: Some(r.params.clone()),
        issuer: Some(ISSUER.to_owned()),
    }
}

async fn approve(s: &TestServer, r: &ApprovalRequest, scope: Scope) -> ApprovalRequest {
    let mut body = decision(Verdict::Approve, &r.args_hash);
    body.scope = scope;
    s.decide(&r.id, &body).await
}

#[tokio::test]
async fn a_person_a_grant_and_the_policy_each_give_a_token_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path(), "").await;
    let keys = jwks(&s.url).await;
    let agent = s.api(AGENT1);

    // A person: the decision's answer, a read, the wait and the list all carry it.
    let filed = s.file(&new_request("payments.charge", "om")).await;
    assert!(filed.decision.is_none());
    let decided = approve(&s, &filed, Scope::Once).await;
    let token = token_of(&decided);
    let claims = verify(&token, &keys, &expect(&decided)).unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.jti.as_str(),
            claims.agent.as_str()
        ),
        (filed.id.as_str(), filed.id.as_str(), "om")
    );
    assert_eq!(claims.args_hash, filed.args_hash);
    assert_eq!(claims.exp - claims.iat, 300, "five minutes by default");
    assert_eq!(
        token_of(&agent.get(&filed.id).await.unwrap()),
        token,
        "deterministic"
    );
    assert_eq!(token_of(&agent.wait(&filed.id, 1).await.unwrap()), token);
    let listed = s
        .api(ALICE)
        .list(Some(Status::Approved), None, None)
        .await
        .unwrap();
    assert_eq!(token_of(&listed.requests[0]), token);

    // A grant: a pending request it approves when it is made, and one filed after.
    let conv = |tool: &str| in_conversation("c1", call(tool, "om", json!({"n": 1})));
    let first = s.file(&conv("mail.send")).await;
    let pending = s.file(&conv("mail.send")).await;
    approve(&s, &first, Scope::Conversation).await;
    let by_grant = s.settled(&pending.id).await;
    assert!(matches!(
        by_grant.decision.as_ref().unwrap().via,
        assent::protocol::Via::Grant { .. }
    ));
    verify(&token_of(&by_grant), &keys, &expect(&by_grant)).unwrap();
    let later = s.file(&conv("mail.send")).await;
    assert_eq!(later.status, Status::Approved, "born approved by the grant");
    verify(&token_of(&later), &keys, &expect(&later)).unwrap();

    // The policy: born approved, the filing's answer has the token.
    let allowed = s
        .file(&call("safe.read", "om", json!({"path": "/tmp"})))
        .await;
    assert_eq!(allowed.status, Status::Approved);
    verify(&token_of(&allowed), &keys, &expect(&allowed)).unwrap();

    // A rejection has none.
    let other = s.file(&call("db.query", "om", json!({"q": 1}))).await;
    let rejected = s
        .decide(&other.id, &decision(Verdict::Reject, &other.args_hash))
        .await;
    assert!(rejected.decision.unwrap().approval_token.is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn other_params_another_tool_another_key_and_a_tampered_payload_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path(), "").await;
    let keys = jwks(&s.url).await;
    let r = s
        .file(&call("safe.write", "om", json!({"path": "/tmp/a", "n": 2})))
        .await;
    let token = token_of(&r);

    let mut e = expect(&r);
    e.params = Some(json!({"path": "/etc/passwd", "n": 2}));
    assert!(matches!(
        verify(&token, &keys, &e),
        Err(Refusal::OtherParams { .. })
    ));
    let mut e = expect(&r);
    e.tool = Some("safe.delete".into());
    assert!(matches!(
        verify(&token, &keys, &e),
        Err(Refusal::OtherTool { .. })
    ));

    // Another server's key (its own database, its own key) is not in this JWKS.
    let tmp2 = tempfile::tempdir().unwrap();
    let other = server(tmp2.path(), "").await;
    let foreign = token_of(
        &other
            .file(&call("safe.write", "om", json!({"path": "/tmp/a", "n": 2})))
            .await,
    );
    assert!(matches!(
        verify(&foreign, &keys, &expect(&r)),
        Err(Refusal::UnknownKey { .. })
    ));
    other.shutdown().await;

    // The payload changed to approve other params: the signature no longer matches.
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&b64(rest.split('.').next().unwrap())).unwrap();
    claims["args_hash"] = json!(assent::protocol::args_hash(
        &json!({"path": "/etc/passwd", "n": 2})
    ));
    let tampered = format!(
        "{head}.{}.{sig}",
        b64_encode(&serde_json::to_vec(&claims).unwrap())
    );
    assert_eq!(
        verify(&tampered, &keys, &Expect::default()),
        Err(Refusal::BadSignature)
    );
    s.shutdown().await;
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn b64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// `assent token verify` with the server's JWKS (from --url), its exit code and stderr.
async fn verify_cli(url: &str, token: &str, tool: &str, params: &Path) -> Out {
    let params = params.to_str().unwrap();
    let args = [
        "token",
        "verify",
        token,
        "--tool",
        tool,
        "--params-file",
        params,
        "--issuer",
        ISSUER,
    ];
    finish(assent(url, None, &args), None, 30).await
}

fn params_file(dir: &Path, name: &str, params: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(params).unwrap()).unwrap();
    p
}

#[tokio::test]
async fn the_cli_names_each_refusal_with_its_exit_code_and_an_expired_token_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path(), "approval_token_ttl = \"2s\"").await;
    let params = json!({"path": "/tmp/b", "mode": "w"});
    let r = s.file(&call("safe.write", "om", params.clone())).await;
    let token = token_of(&r);
    let same = params_file(
        tmp.path(),
        "same.json",
        &json!({"mode": "w", "path": "/tmp/b"}),
    );
    let other = params_file(
        tmp.path(),
        "other.json",
        &json!({"path": "/tmp/c", "mode": "w"}),
    );

    let ok = verify_cli(&s.url, &token, "safe.write", &same).await;
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let claims: Value = serde_json::from_str(ok.stdout.trim()).unwrap();
    assert_eq!(claims["sub"], json!(r.id));

    let out = verify_cli(&s.url, &token, "safe.write", &other).await;
    assert_eq!(out.code, Some(15), "{}", out.stderr);
    assert!(out.stderr.contains("for other params"), "{}", out.stderr);
    let out = verify_cli(&s.url, &token, "safe.delete", &same).await;
    assert_eq!(out.code, Some(14), "{}", out.stderr);
    assert!(out.stderr.contains("for another tool"), "{}", out.stderr);
    let out = verify_cli(&s.url, "x.y.z", "safe.write", &same).await;
    assert_eq!(out.code, Some(10), "{}", out.stderr);

    // exp = the approval + 2 s, checked to the second with no leeway.
    let keys = jwks(&s.url).await;
    let expired = eventually("the token to expire", Duration::from_secs(6), || async {
        matches!(
            verify(&token, &keys, &expect(&r)),
            Err(Refusal::Expired { .. })
        )
        .then_some(())
    });
    expired.await;
    let out = verify_cli(&s.url, &token, "safe.write", &same).await;
    assert_eq!(out.code, Some(13), "{}", out.stderr);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    // Once expired it is no longer put on the request.
    let now = s.api(AGENT1).get(&r.id).await.unwrap();
    assert!(now.decision.unwrap().approval_token.is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn a_rotated_key_still_verifies_its_tokens_and_the_key_outlives_a_restart() {
    let (_dir, db) = temp_db();
    let mut cfg = server_config(db.to_str().unwrap());
    cfg.name = ISSUER.into();
    let s = TestServer::start_with(cfg.clone()).await;
    let before = jwks(&s.url).await;
    assert_eq!(before.keys.len(), 1);
    let old_kid = before.keys[0].common.key_id.clone().unwrap();
    let r = s
        .file(&new_request("order_tools.process_refund", "om"))
        .await;
    let old_token = token_of(&approve(&s, &r, Scope::Once).await);

    // Only an admin rotates; through the CLI as through the API.
    let denied = finish(assent(&s.url, Some(ALICE), &["token", "rotate"]), None, 30).await;
    assert_eq!(denied.code, Some(3), "{}", denied.stderr);
    let rotated = finish(assent(&s.url, Some(ROOT), &["token", "rotate"]), None, 30).await;
    assert_eq!(rotated.code, Some(0), "{}", rotated.stderr);
    let answer: Value = serde_json::from_str(rotated.stdout.trim()).unwrap();
    let new_kid = answer["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(answer["previous"], json!(old_kid));

    let after = jwks(&s.url).await;
    let kids: Vec<_> = after
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(
        kids,
        [new_kid.clone(), old_kid.clone()],
        "the old key stays while its tokens live"
    );
    verify(&old_token, &after, &expect(&r)).unwrap();
    // The same approval read now is signed by the new key, with the same claims.
    let resigned = token_of(&s.api(ALICE).get(&r.id).await.unwrap());
    assert_eq!(
        jsonwebtoken::decode_header(&resigned).unwrap().kid,
        Some(new_kid.clone())
    );
    let (a, b) = (
        verify(&resigned, &after, &expect(&r)).unwrap(),
        verify(&old_token, &after, &expect(&r)).unwrap(),
    );
    assert_eq!(a, b);
    s.shutdown().await;

    // The keys are in the database: a restart signs with the rotated key, still publishing both.
    let s = TestServer::start_with(cfg).await;
    let again = jwks(&s.url).await;
    assert_eq!(again.keys[0].common.key_id, Some(new_kid));
    verify(&old_token, &again, &expect(&r)).unwrap();
    s.shutdown().await;
}

#[tokio::test]
async fn a_key_file_signs_and_cannot_be_rotated_through_the_api() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let tmp = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    std::fs::write(tmp.path().join("signing.pem"), pem.as_bytes()).unwrap();
    let s = server(tmp.path(), "signing_key_file = \"signing.pem\"").await;
    let keys = jwks(&s.url).await;
    let x = key.verifying_key().to_bytes();
    assert_eq!(
        keys.keys[0].common.key_id,
        Some(assent::token::keys::thumbprint(&x))
    );
    let r = s.file(&call("safe.read", "om", json!({}))).await;
    verify(&token_of(&r), &keys, &expect(&r)).unwrap();
    let (status, body) = s.http(ROOT).post_empty("/v1/keys/rotate").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_message(&body).contains("signing_key_file"), "{body}");
    s.shutdown().await;
}

#[tokio::test]
async fn another_agent_never_sees_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path(), "").await;
    let mut stream = SseStream::open(&s.url, ALICE, Some(0)).await;
    let r = s.file(&new_request("payments.charge", "om")).await;
    let decided = approve(&s, &r, Scope::Once).await;
    let token = token_of(&decided);

    let other = s.http(AGENT2);
    let path = format!("/v1/requests/{}", r.id);
    for (status, body) in [
        other.get(&path).await,
        other.get(&format!("{path}/wait?timeout_s=1")).await,
        other.post_empty(&format!("{path}/cancel")).await,
        other.get("/v1/requests?status=all").await,
        other.get("/v1/events").await,
    ] {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(!body.to_string().contains(&token), "{body}");
    }
    // The filing agent sees it, also in the 409 of a cancel after the approval.
    let (status, body) = s.http(AGENT1).post_empty(&format!("{path}/cancel")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["request"]["decision"]["approval_token"], json!(token));
    // Reviewers see it in the request.decided event.
    let mut decided_event = None;
    for _ in 0..10 {
        match stream.next_within(Duration::from_secs(5)).await {
            Some(ev) if ev.event == "request.decided" => {
                decided_event = Some(ev);
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    let decided_event = decided_event.expect("a request.decided event");
    let data = decided_event.data;
    assert_eq!(data["request"]["decision"]["approval_token"], json!(token));
    s.shutdown().await;
}

/// PyJWT, given only the JWKS URL, verifies a token as a tool written in Python would:
/// the same code README shows (tests/token/verify.py).
#[tokio::test]
async fn pyjwt_verifies_a_token_with_the_served_jwks() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but target/mcp-venv is missing: .ci/run runs tests/mcp/setup"
        );
        eprintln!(
            "\n** SKIPPED: PyJWT is installed by tests/mcp/setup (target/mcp-venv); run it to run this test\n"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path(), "").await;
    let params =
        json!({"to": "ops@example.com", "subject": "Grüße", "n": [1, 2, {"b": true, "a": null}]});
    let r = s.file(&call("safe.mail", "om", params.clone())).await;
    let token = token_of(&r);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/token/verify.py");
    let run = |tool: &str, params: &Value| {
        let mut cmd = tokio::process::Command::new(&python);
        cmd.arg(&script)
            .arg(format!("{}/.well-known/jwks.json", s.url))
            .arg(ISSUER)
            .arg(tool)
            .arg(params.to_string())
            .arg(&token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        finish(cmd, None, 60)
    };
    let ok = run("safe.mail", &params).await;
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let claims: Value = serde_json::from_str(ok.stdout.trim()).unwrap();
    assert_eq!(claims["sub"], json!(r.id));
    let wrong_tool = run("safe.other", &params).await;
    assert_eq!(wrong_tool.code, Some(1));
    assert!(
        wrong_tool.stderr.contains("InvalidAudience"),
        "{}",
        wrong_tool.stderr
    );
    let wrong_params = run("safe.mail", &json!({"to": "all@example.com"})).await;
    assert_eq!(wrong_params.code, Some(1));
    assert!(
        wrong_params.stderr.contains("other params"),
        "{}",
        wrong_params.stderr
    );
    s.shutdown().await;
}

/// README's verifier is the code the PyJWT test runs, word for word.
#[test]
fn the_readme_shows_the_verifier_the_test_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("tests/token/verify.py")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = script.find("def verify(").unwrap();
    let end = script[start..].find("\n\n").unwrap() + start;
    let function = &script[start..end];
    assert!(function.lines().count() <= 10, "ten lines:\n{function}");
    assert!(readme.contains(function), "README lacks:\n{function}");
}

/// The gate hands the approved command its token, which verifies for that very command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_gives_the_command_its_token() {
    let s = Serve::start().await;
    let out_file = s.dir.join("token.txt");
    let script = format!(
        "printf %s \"$ASSENT_APPROVAL_TOKEN\" > '{}'",
        out_file.display()
    );
    let args = ["gate", "--", "sh", "-c", &script];
    let mut cmd = assent(&s.url, Some(AGENT1), &args);
    // One inherited from an outer gate is not this command's.
    cmd.env("ASSENT_APPROVAL_TOKEN", "stale");
    let run = start(cmd, None, 30);
    let r = s.pending(1).await.remove(0);
    let decided = s
        .decide(&r.id, &decision(Verdict::Approve, &r.args_hash))
        .await;
    let out = run.finish().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let token = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(token, token_of(&decided));
    let keys = jwks(&s.url).await;
    let claims = verify(
        &token,
        &keys,
        &Expect {
            tool: Some("shell.exec".into()),
            params: Some(r.params.clone()),
            issuer: None,
        },
    )
    .unwrap();
    assert_eq!(claims.sub, r.id);
}
