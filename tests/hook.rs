//! `assent hook claude-code` end to end: the documented Claude Code payloads go in on
//! stdin, the documented shapes must come out on stdout; a real `assent serve` decides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{ApprovalRequest, DecisionBody, Scope, Status, Verdict};
use common::*;
use serde_json::{Value, json};

/// The PermissionRequest input example from the Claude Code hooks reference.
const PERMISSION_REQUEST: &str = r#"{"session_id":"abc123","transcript_path":"/home/u/.claude/projects/x/abc123.jsonl","cwd":"/repo",
 "permission_mode":"default","hook_event_name":"PermissionRequest","tool_name":"Bash",
 "tool_input":{"command":"rm -rf node_modules","description":"Remove node_modules"},
 "permission_suggestions":[{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"rm -rf node_modules"}],
   "behavior":"allow","destination":"localSettings"}]}"#;

fn hook(url: &str, extra: &[&str]) -> tokio::process::Command {
    let mut args = vec!["hook", "claude-code"];
    args.extend_from_slice(extra);
    assent(url, Some(AGENT1), &args)
}

/// Runs the hook (with `extra` arguments) on `input` until a reviewer decides the request
/// it files with the body `decide` makes of it: that request as filed, and how the hook
/// ended.
async fn answered(
    s: &Serve,
    extra: &[&str],
    input: &str,
    decide: impl FnOnce(&ApprovalRequest) -> DecisionBody,
) -> (ApprovalRequest, Out) {
    let run = start(hook(&s.url, extra), Some(input), 30);
    let r = s.pending(1).await.remove(0);
    s.decide(&r.id, &decide(&r)).await;
    (r, run.finish().await)
}

fn approve(r: &ApprovalRequest) -> DecisionBody {
    decision(Verdict::Approve, &r.args_hash)
}

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_request_approved_allows() {
    let s = Serve::start().await;
    let (r, out) = answered(&s, &[], PERMISSION_REQUEST, approve).await;
    assert_eq!(r.tool, "Bash");
    assert_eq!(
        r.params,
        json!({"command":"rm -rf node_modules","description":"Remove node_modules"})
    );
    assert_eq!(r.agent, "claude-code");
    assert_eq!(r.conversation_id.as_deref(), Some("abc123"));
    assert_eq!(
        r.reason.as_deref(),
        Some("Remove node_modules (cwd: /repo)")
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_request_rejected_denies_with_the_right_message() {
    let s = Serve::start().await;
    for (notify, message) in [
        (true, "use npm ci instead"),
        (false, "Rejected by reviewer"),
    ] {
        let reject = |r: &ApprovalRequest| {
            decision_because(Verdict::Reject, "use npm ci instead", notify, &r.args_hash)
        };
        let (r, out) = answered(&s, &["--agent", "cc-test"], PERMISSION_REQUEST, reject).await;
        assert_eq!(r.agent, "cc-test");
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(
            parse(&out.stdout),
            json!({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":message}}})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_hands_back_or_denies_and_cancels_the_request() {
    let s = Serve::start().await;
    // ask: no output at all, so Claude Code shows its own dialog. (--wait takes seconds
    // or a duration.)
    let out = finish(
        hook(&s.url, &["--wait", "1s"]),
        Some(PERMISSION_REQUEST),
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "", "PermissionRequest + ask prints nothing");
    // deny: the documented deny shape.
    let out = finish(
        hook(&s.url, &["--wait", "1", "--on-timeout", "deny"]),
        Some(PERMISSION_REQUEST),
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = parse(&out.stdout);
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert!(v["hookSpecificOutput"]["decision"]["message"].is_string());
    // PreToolUse + ask: an explicit "ask".
    let out = finish(
        hook(&s.url, &["--wait", "1"]),
        Some(&pre_tool_use("s9", "toolu_9")),
        30,
    )
    .await;
    let v = parse(&out.stdout);
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "ask");
    assert!(v["hookSpecificOutput"]["permissionDecisionReason"].is_string());
    // Nobody is left waiting on the requests the hook gave up on.
    let all = s.all().await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.status == Status::Cancelled), "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_tool_use_allow_and_deny() {
    let s = Serve::start().await;
    let (r, out) = answered(&s, &[], &pre_tool_use("sess-1", "toolu_01"), approve).await;
    assert_eq!(r.tool_call_id.as_deref(), Some("toolu_01"));
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"Approved by alice in assent"}})
    );
    // The same tool_use_id again finds the same request: no duplicate, same answer.
    let out = finish(
        hook(&s.url, &[]),
        Some(&pre_tool_use("sess-1", "toolu_01")),
        30,
    )
    .await;
    assert_eq!(
        parse(&out.stdout)["hookSpecificOutput"]["permissionDecision"],
        "allow"
    );
    assert_eq!(s.all().await.len(), 1);

    let reject =
        |r: &ApprovalRequest| decision_because(Verdict::Reject, "not now", true, &r.args_hash);
    let (_, out) = answered(&s, &[], &pre_tool_use("sess-1", "toolu_02"), reject).await;
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"not now"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_grant_answers_later_calls_at_once() {
    let s = Serve::start().await;
    let for_the_conversation = |r: &ApprovalRequest| DecisionBody {
        scope: Scope::Conversation,
        ..approve(r)
    };
    let (_, out) = answered(&s, &[], PERMISSION_REQUEST, for_the_conversation).await;
    assert_eq!(
        parse(&out.stdout)["hookSpecificOutput"]["decision"]["behavior"],
        "allow"
    );
    // Another Bash call in the same session: allowed without a reviewer, well within --wait.
    let mut v: Value = serde_json::from_str(PERMISSION_REQUEST).unwrap();
    v["tool_input"] = json!({"command": "ls"});
    let out = finish(hook(&s.url, &["--wait", "5"]), Some(&v.to_string()), 30).await;
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_falls_back() {
    let url = dead_url();
    // Both at once: each spends a few seconds retrying before it gives up.
    let (ask, deny) = tokio::join!(
        finish(hook(&url, &[]), Some(PERMISSION_REQUEST), 30),
        finish(
            hook(&url, &["--on-timeout", "deny"]),
            Some(PERMISSION_REQUEST),
            30
        )
    );
    assert_eq!(ask.code, Some(0), "{ask:?}");
    assert_eq!(ask.stdout, "");
    assert!(ask.stderr.contains("cannot reach"), "{}", ask.stderr);
    assert_eq!(deny.code, Some(0), "{deny:?}");
    assert_eq!(
        parse(&deny.stdout)["hookSpecificOutput"]["decision"]["behavior"],
        "deny"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_non_blocking_error() {
    let url = dead_url();
    let out = finish(hook(&url, &[]), Some("not json"), 30).await;
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("PermissionRequest or PreToolUse"),
        "{}",
        out.stderr
    );
    let mut v: Value = serde_json::from_str(PERMISSION_REQUEST).unwrap();
    v["hook_event_name"] = json!("PostToolUse");
    let out = finish(hook(&url, &[]), Some(&v.to_string()), 30).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("PostToolUse"), "{}", out.stderr);
}

/// --wait is bounded: no panic on a huge value, no pointless filing on 0; durations work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_values_are_checked() {
    let s = Serve::start().await;
    for bad in ["18446744073709551615", "0", "25h", "soon"] {
        let out = finish(hook(&s.url, &["--wait", bad]), Some(PERMISSION_REQUEST), 30).await;
        assert_eq!(out.code, Some(2), "{bad}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("--wait"), "{bad}: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    assert!(s.all().await.is_empty(), "nothing was filed");
}

/// A re-run for a tool_use_id whose request the hook itself gave up on does not answer
/// "cancelled": it falls back as on a timeout (here `ask`), at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_giving_up_falls_back_instead_of_denying() {
    let s = Serve::start().await;
    let input = pre_tool_use("s-rerun", "toolu_rerun");
    let out = finish(hook(&s.url, &["--wait", "1"]), Some(&input), 30).await;
    assert_eq!(
        parse(&out.stdout)["hookSpecificOutput"]["permissionDecision"],
        "ask"
    );
    let started = std::time::Instant::now();
    let out = finish(hook(&s.url, &["--wait", "20"]), Some(&input), 30).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = parse(&out.stdout);
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "ask", "{v}");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("cancelled in assent earlier"),
        "{v}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let all = s.all().await;
    assert_eq!(all.len(), 1, "filed once: {all:?}");
}

/// A call the backend refuses as invalid is not an outage: no decision (exit 1, Claude
/// Code's own flow goes on), whatever --on-timeout says, and stderr says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_calls_get_no_decision_and_a_clear_message() {
    let s = Serve::start().await;
    let mut v: Value = serde_json::from_str(PERMISSION_REQUEST).unwrap();
    v["tool_name"] = json!("");
    for extra in [&[][..], &["--on-timeout", "deny"][..]] {
        let out = finish(hook(&s.url, extra), Some(&v.to_string()), 30).await;
        assert_eq!(out.code, Some(1), "{extra:?}: {out:?}");
        assert_eq!(out.stdout, "", "{extra:?}");
        assert!(out.stderr.contains("invalid"), "{}", out.stderr);
        assert!(!out.stderr.contains("cannot reach"), "{}", out.stderr);
    }
    // An empty --agent is refused before anything is sent.
    let out = finish(hook(&s.url, &["--agent", ""]), Some(PERMISSION_REQUEST), 30).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(s.all().await.is_empty());
}

/// With a policy: allowed and denied calls are answered at once, the deny with the rule's
/// message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_answers_at_once() {
    let s = Serve::with_policy().await;
    let mut v: Value = serde_json::from_str(PERMISSION_REQUEST).unwrap();
    v["tool_name"] = json!("safe.read");
    let out = finish(hook(&s.url, &["--wait", "20"]), Some(&v.to_string()), 30).await;
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}})
    );
    v["tool_name"] = json!("db.drop_table");
    let out = finish(hook(&s.url, &["--wait", "20"]), Some(&v.to_string()), 30).await;
    assert_eq!(
        parse(&out.stdout),
        json!({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"Dropping tables is never allowed."}}})
    );
}

/// Claude Code ends a hook past its timeout with SIGTERM: the request leaves the queue.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_the_request() {
    let s = Serve::start().await;
    let run = start(hook(&s.url, &[]), Some(PERMISSION_REQUEST), 30);
    let r = s.pending(1).await.remove(0);
    signal(run.pid, "TERM");
    let out = run.finish().await;
    assert_eq!(out.code, Some(143), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("cancelled"), "{}", out.stderr);
    assert_eq!(s.status_of(&r.id).await, Status::Cancelled);
}
