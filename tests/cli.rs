//! The headless reviewer CLI, completions and man page: the real binary against a real
//! `assent serve` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{ApprovalRequest, AuditEntry, Grant, Scope, Status, args_hash};
use common::*;
use unicode_width::UnicodeWidthStr;

async fn file(s: &Serve, tool: &str, conversation: Option<&str>) -> ApprovalRequest {
    file_as(s, tool, "order-manager", conversation).await
}

async fn file_as(
    s: &Serve,
    tool: &str,
    agent: &str,
    conversation: Option<&str>,
) -> ApprovalRequest {
    let new = new_request(tool, agent);
    s.file(&match conversation {
        Some(c) => in_conversation(c, new),
        None => new,
    })
    .await
}

async fn cli(s: &Serve, token: &str, args: &[&str]) -> Out {
    finish(assent(&s.url, Some(token), args), None, 30).await
}

/// `out` ended well, saying that it was already `what` by alice and nothing changed.
fn assert_already(out: &Out, what: &str) {
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!("was already {what} by alice"))
            && out.stdout.contains("nothing changed"),
        "{}",
        out.stdout
    );
}

/// Every line within `width` terminal columns (display width, not chars).
fn assert_fits(out: &str, width: usize) {
    for line in out.lines() {
        assert!(
            line.width() <= width,
            "{line:?} is {} columns wide:\n{out}",
            line.width()
        );
    }
}

/// The row of a table that shows `id`.
fn row_of<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(prefix(id)))
        .unwrap_or_else(|| panic!("no row for {id}:\n{table}"))
}

/// What a table shows for `id`: its unique prefix.
fn prefix(id: &str) -> &str {
    &id[..13]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_show() {
    let s = Serve::start().await;
    let a = file(&s, "order_tools.process_refund", Some("conv-1")).await;
    let b = file(&s, "db.delete", None).await;

    let out = cli(&s, ALICE, &["list"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("ID"), "{}", out.stdout);
    // Ids as unique prefixes, which every command takes.
    assert!(
        out.stdout.contains(prefix(&a.id)) && out.stdout.contains(prefix(&b.id)),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&a.id), "{}", out.stdout);
    assert_fits(&out.stdout, 80);
    let out = cli(&s, ALICE, &["list", "--full-ids"]).await;
    assert!(out.stdout.contains(&a.id) && out.stdout.contains(&b.id));
    assert_fits(&out.stdout, 80);
    // A wider terminal (COLUMNS) shows more: here, the whole reason.
    assert!(!out.stdout.contains("damaged item"), "{}", out.stdout);
    let mut cmd = assent(&s.url, Some(ALICE), &["list", "--full-ids"]);
    cmd.env("COLUMNS", "160");
    let wide = finish(cmd, None, 30).await;
    assert!(
        wide.stdout.contains("REASON") && wide.stdout.contains("damaged item"),
        "{}",
        wide.stdout
    );
    assert_fits(&wide.stdout, 160);

    let out = cli(&s, ALICE, &["list", "--json"]).await;
    let list: Vec<ApprovalRequest> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        list,
        vec![a.clone(), b.clone()],
        "oldest first, the API's objects"
    );

    let out = cli(&s, ALICE, &["list", "--status", "approved", "--json"]).await;
    assert_eq!(out.stdout.trim(), "[]");
    let out = cli(&s, ALICE, &["list", "--status", "approved"]).await;
    assert_eq!(out.stdout, "No approved requests.\n");

    let out = cli(&s, ALICE, &["show", &a.id, "--json"]).await;
    let shown: ApprovalRequest = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(shown, a);
    let out = cli(&s, ALICE, &["show", prefix(&a.id)]).await;
    assert_eq!(out.code, Some(0), "a prefix finds the request: {out:?}");
    assert!(out.stdout.contains(&a.id), "{}", out.stdout);
    assert!(out.stdout.contains(&a.args_hash), "{}", out.stdout);
    assert!(
        out.stdout.contains("\"order_id\": \"A-1001\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("conv-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_change_the_server_state_with_the_args_hash() {
    let s = Serve::start().await;
    let a = file(&s, "refund", Some("conv-1")).await;
    let b = file(&s, "refund", None).await;

    let out = cli(&s, ALICE, &["approve", &a.id, "--reason", "ok", "--notify"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("approved "), "{}", out.stdout);
    let now = s.api(ALICE).get(&a.id).await.unwrap();
    assert_eq!(now.status, Status::Approved);
    let d = now.decision.unwrap();
    assert_eq!(d.responder, "alice");
    assert_eq!(d.scope, Scope::Once);
    assert!(d.notify_agent);

    let out = cli(
        &s,
        ALICE,
        &["reject", &b.id, "--reason", "over the limit", "--notify"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let now = s.api(ALICE).get(&b.id).await.unwrap();
    assert_eq!(now.status, Status::Rejected);
    let d = now.decision.unwrap();
    assert_eq!(d.reason.as_deref(), Some("over the limit"));
    assert!(d.notify_agent);

    let out = cli(&s, ALICE, &["audit"]).await;
    assert!(out.stdout.starts_with("SEQ"), "{}", out.stdout);
    assert_fits(&out.stdout, 80);
}

/// approve sends the args_hash of the request exactly as fetched: a hash that differs from
/// the server's (here, rewritten on the way by a proxy) is what reaches the server, which
/// refuses it (exit 6); fetched unchanged, the decision carries the hash of the params
/// as fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_sends_the_args_hash_as_fetched() {
    let s = Serve::start().await;
    let a = file(&s, "refund", None).await;
    let forged = format!("sha256:{}", "0".repeat(64));
    let proxy = Proxy::start(
        &s.url,
        Tamper {
            args_hash: Some(forged.clone()),
            ..Tamper::default()
        },
    )
    .await;
    let out = finish(
        assent(&proxy.url, Some(ALICE), &["approve", &a.id]),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(6), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("args_hash {forged} does not match")),
        "the server saw the fetched hash: {}",
        out.stderr
    );
    assert_eq!(s.status_of(&a.id).await, Status::Pending);

    // Unchanged on the way: the decision's hash is the hash of the params as fetched.
    let shown = cli(&s, ALICE, &["show", &a.id, "--json"]).await;
    let fetched: ApprovalRequest = serde_json::from_str(&shown.stdout).unwrap();
    let out = cli(&s, ALICE, &["approve", &a.id]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = cli(&s, ALICE, &["audit", "--json"]).await;
    let decided: Vec<AuditEntry> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<AuditEntry>(l).unwrap())
        .filter(|e| e.action == "decided")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(
        decided[0].args_hash.as_deref(),
        Some(args_hash(&fetched.params).as_str())
    );
}

/// Deciding again what one already decided, and revoking twice, say that nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_say_it_was_already_so() {
    let s = Serve::start().await;
    let a = file(&s, "refund", None).await;
    let out = cli(&s, ALICE, &["approve", &a.id, "--scope", "always"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("approved "), "{}", out.stdout);
    let out = cli(&s, ALICE, &["approve", &a.id, "--scope", "always"]).await;
    assert_already(&out, "approved");
    let grant = s.api(ALICE).grants().await.unwrap().grants.remove(0);
    let out = cli(&s, ALICE, &["revoke", prefix(&grant.id)]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("revoked grant"), "{}", out.stdout);
    let out = cli(&s, ALICE, &["revoke", &grant.id]).await;
    assert_already(&out, "revoked");
}

/// Blank reasons are refused, and --notify on an approval needs a reason to tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_must_say_something() {
    let s = Serve::start().await;
    let a = file(&s, "refund", None).await;
    for args in [
        vec!["reject", a.id.as_str(), "--reason", ""],
        vec!["reject", a.id.as_str(), "--reason", "   "],
        vec!["approve", a.id.as_str(), "--reason", " "],
        vec!["approve", a.id.as_str(), "--notify"],
    ] {
        let out = cli(&s, ALICE, &args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("reason"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(s.status_of(&a.id).await, Status::Pending);
}

/// Calls the policy let through for review are marked in `list` and `audit`, which name
/// the rule; grant rows show the grant's id; everything fits 80 columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_calls_are_marked_for_review() {
    let s = Serve::with_policy().await;
    let watched = file_as(&s, "order_tools.process_refund", "intern-7", None).await;
    assert_eq!(watched.status, Status::Approved);
    let held = file(&s, "refund.big", None).await;
    assert_eq!(held.status, Status::Pending);
    let out = cli(&s, ALICE, &["approve", &held.id, "--scope", "always"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let grant = s.api(ALICE).grants().await.unwrap().grants.remove(0);

    let out = cli(&s, ALICE, &["list", "--status", "all"]).await;
    assert_fits(&out.stdout, 80);
    let row = row_of(&out.stdout, &watched.id);
    assert!(
        row.contains("approved") && row.contains("review"),
        "{}",
        out.stdout
    );
    let row = row_of(&out.stdout, &held.id);
    assert!(
        row.contains("held") && !row.contains("review"),
        "{}",
        out.stdout
    );

    let out = cli(&s, ALICE, &["audit"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_fits(&out.stdout, 80);
    assert!(
        out.stdout.contains("policy:watch-interns"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("[review] policy watch-interns → audit: New agent"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("policy refund-commands → require_approval"),
        "{}",
        out.stdout
    );
    let grant_row = out
        .stdout
        .lines()
        .find(|l| l.contains("grant_created"))
        .unwrap();
    assert!(grant_row.contains(prefix(&grant.id)), "{}", out.stdout);
    let out = cli(&s, ALICE, &["audit", "--full-ids"]).await;
    assert!(out.stdout.contains(&grant.id), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_non_zero_with_the_servers_message() {
    let s = Serve::start().await;
    let a = file(&s, "refund", None).await;
    assert_eq!(
        cli(&s, ALICE, &["reject", &a.id, "--reason", "no"])
            .await
            .code,
        Some(0)
    );

    // 409: someone else decided first; the message says how it now stands.
    let out = cli(&s, BOB, &["approve", &a.id]).await;
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(out.stderr.contains("HTTP 409"), "{}", out.stderr);
    assert!(out.stderr.contains("rejected by alice"), "{}", out.stderr);
    assert_eq!(s.status_of(&a.id).await, Status::Rejected);

    // 422: conversation scope on a request without a conversation.
    let b = file(&s, "refund", None).await;
    let out = cli(&s, ALICE, &["approve", &b.id, "--scope", "conversation"]).await;
    assert_eq!(out.code, Some(6), "{out:?}");
    assert!(out.stderr.contains("HTTP 422"), "{}", out.stderr);

    // 404, 401, 403.
    let out = cli(&s, ALICE, &["show", "no-such-request"]).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("HTTP 404"));
    assert!(out.stderr.contains("check the id"), "{}", out.stderr);
    // A URL with a wrong path: the endpoint is missing, not the id.
    let out = finish(
        assent(&format!("{}/assent", s.url), Some(ALICE), &["show", &b.id]),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("check --url"), "{}", out.stderr);
    assert!(!out.stderr.contains("check the id"), "{}", out.stderr);
    let out = cli(&s, "wrong-token-123", &["list"]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr.matches("ASSENT_TOKEN").count(),
        1,
        "said once: {}",
        out.stderr
    );
    let out = cli(&s, AGENT1, &["approve", &b.id]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("reviewer"), "{}", out.stderr);
    assert_eq!(s.status_of(&b.id).await, Status::Pending);

    // Unreachable backend.
    let out = finish(assent(&dead_url(), Some(ALICE), &["list"]), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("assent serve"), "{}", out.stderr);
    // No token at all.
    let out = finish(assent(&s.url, None, &["list"]), None, 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("ASSENT_TOKEN"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_revoke() {
    let s = Serve::start().await;
    let a = file(&s, "refund", None).await;
    let out = cli(&s, ALICE, &["grants"]).await;
    assert_eq!(out.stdout, "No active grants.\n");
    let out = cli(&s, ALICE, &["approve", &a.id, "--scope", "always"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("scope always"), "{}", out.stdout);

    let out = cli(&s, ALICE, &["grants", "--json"]).await;
    let grants: Vec<Grant> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].scope, Scope::Always);
    assert_eq!(grants[0].tool, "refund");
    let out = cli(&s, ALICE, &["grants"]).await;
    assert!(out.stdout.contains(prefix(&grants[0].id)), "{}", out.stdout);
    assert!(out.stdout.contains("alice"), "who made it: {}", out.stdout);
    assert_fits(&out.stdout, 80);

    let out = cli(&s, ALICE, &["revoke", &grants[0].id]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("revoked grant"), "{}", out.stdout);
    let out = cli(&s, ALICE, &["grants", "--json"]).await;
    assert_eq!(out.stdout.trim(), "[]");
    let out = cli(&s, ALICE, &["revoke", "no-such-grant"]).await;
    assert_eq!(out.code, Some(4), "{out:?}");
}

fn run_sync(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn completions_man_and_version() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run_sync(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["gate", "approve", "claude-code"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bash = String::from_utf8_lossy(&run_sync(&["completions", "bash"]).stdout).into_owned();
    assert!(
        bash.contains("once conversation always"),
        "scope values complete"
    );
    let man = run_sync(&["man"]);
    assert!(man.status.success());
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH assent"),
        "{text}"
    );
    assert!(text.contains("gate"));
    // Every page the top page refers to can be produced.
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    for page in [
        "assent.1",
        "assent-gate.1",
        "assent-hook-claude-code.1",
        "assent-approve.1",
        "assent-audit.1",
    ] {
        let path = dir.path().join(page);
        assert!(path.exists(), "{page} missing; wrote:\n{listed}");
        assert!(listed.contains(page), "{listed}");
    }
    let gate = std::fs::read_to_string(dir.path().join("assent-gate.1")).unwrap();
    assert!(
        gate.contains("Exit codes") && gate.contains("143"),
        "{gate}"
    );
    let help = run_sync(&["gate", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit codes") && help.contains("130, 143, 129"),
        "{help}"
    );
    let help = run_sync(&["hook", "claude-code", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("PermissionRequest")
            && help.contains("--on-timeout")
            && help.contains("Exit codes"),
        "{help}"
    );
    let v = run_sync(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("assent {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = run_sync(&["completions", "tcsh"]);
    assert!(!bad.status.success());
}
