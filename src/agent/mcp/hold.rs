//! Holding one `tools/call`: file it (once, under one Idempotency-Key), wait for the
//! decision up to `--wait`, and say what the session does with it: forward the call
//! unchanged, or answer it with a tool result that tells the model why it did not run.
//! A client's cancel, a timeout or the gateway's end takes the request back.
//!
//! An approval is checked before anything is forwarded: it must be for the request that
//! was filed, on the same tool and with the args_hash of the very arguments that will
//! reach the server. A backend that answers otherwise is not believed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::session::{Hold, HoldEnd};
use crate::agent::filing::{self, CancelOutcome, Progress, WaitError, WaitNote};
use crate::client::{Client, ClientError};
use crate::protocol::{ApprovalRequest, Decision, Status, args_hash};

/// Files `hold`, waits at most `wait` for its decision, and ends as the decision says;
/// `release` (a send, or its sender dropped) stops the wait and takes the request back.
pub async fn run(
    client: Client,
    hold: Hold,
    wait: Duration,
    release: oneshot::Receiver<()>,
) -> HoldEnd {
    let key = filing::new_idempotency_key();
    let progress = Mutex::new(Progress::Starting);
    let deadline = Instant::now() + wait;
    tokio::select! {
        end = decide(&client, &hold, &key, &progress, wait, deadline) => end,
        _ = release => {
            let at = Progress::get(&progress);
            match filing::take_back(&client, &at, &key, filing::CANCEL_WITHIN).await {
                None => tracing::info!(call = %hold.key, "released before anything was filed"),
                Some(CancelOutcome::Cancelled(r)) => {
                    tracing::info!(call = %hold.key, id = %r.id, "released: request cancelled")
                }
                Some(CancelOutcome::AlreadyFinal(r)) => tracing::info!(
                    call = %hold.key, id = %r.id, status = %r.status,
                    "released: the request was already final"
                ),
                Some(CancelOutcome::Failed(why)) => tracing::warn!(
                    call = %hold.key,
                    "released, but the request could not be taken back ({why}); it stays pending until it expires or a reviewer decides"
                ),
            }
            HoldEnd::Withdrawn
        }
    }
}

async fn decide(
    client: &Client,
    hold: &Hold,
    key: &str,
    progress: &Mutex<Progress>,
    wait: Duration,
    deadline: Instant,
) -> HoldEnd {
    let new = &hold.new;
    Progress::set(progress, Progress::Filing(Box::new(new.clone())));
    let started = Instant::now();
    let filed = filing::file(client, new, key, |e, d| {
        tracing::warn!(call = %hold.key, "filing failed ({e}); retrying in {d:?}");
    })
    .await;
    let filed = match filed {
        Ok(f) => f,
        Err(e) => {
            Progress::set(progress, Progress::Starting);
            tracing::warn!(call = %hold.key, "could not file: {e}");
            return HoldEnd::Answer(not_filed(&hold.tool, &e));
        }
    };
    let id = filed.request.id.clone();
    Progress::set(progress, Progress::Filed(id.clone()));
    tracing::info!(
        call = %hold.key, %id, status = %filed.request.status, created = filed.created,
        tool = %new.tool, us = started.elapsed().as_micros(), "filed"
    );
    if filed.request.status.is_final() {
        return judge(hold, &id, &filed.request);
    }
    let waited = filing::wait_final(client, &id, Some(deadline), |n| match n {
        WaitNote::Trouble { error, retry_in } => {
            tracing::warn!(%id, "wait failed ({error}); retrying in {retry_in:?}")
        }
        WaitNote::Recovered => tracing::info!(%id, "backend reachable again"),
    })
    .await;
    match waited {
        Ok(r) => judge(hold, &id, &r),
        Err(WaitError::Deadline(_)) => {
            match filing::cancel_quietly(client, &id, filing::CANCEL_WITHIN).await {
                // Decided as the wait ran out: the decision stands.
                CancelOutcome::AlreadyFinal(r) => judge(hold, &id, &r),
                CancelOutcome::Cancelled(_) => {
                    HoldEnd::Answer(timed_out(&hold.tool, &id, wait, None))
                }
                CancelOutcome::Failed(why) => {
                    HoldEnd::Answer(timed_out(&hold.tool, &id, wait, Some(&why)))
                }
            }
        }
        Err(WaitError::Fatal(e)) => {
            tracing::warn!(%id, "waiting failed: {e}");
            HoldEnd::Answer(format!(
                "Waiting for the decision on assent request {id} failed ({e}); the tool {} was not called.",
                hold.tool
            ))
        }
    }
}

/// What a final request means for the call filed as `filed_id`.
pub fn judge(hold: &Hold, filed_id: &str, r: &ApprovalRequest) -> HoldEnd {
    let tool = &hold.tool;
    if r.id != filed_id {
        tracing::error!(filed = %filed_id, answered = %r.id, "the backend answered for another request");
        return HoldEnd::Answer(format!(
            "The tool {tool} was not called: assent request {filed_id} was filed, but the backend answered for request {}.",
            r.id
        ));
    }
    match r.status {
        Status::Approved => {
            let expected = args_hash(&hold.new.params);
            if r.args_hash != expected || r.tool != hold.new.tool {
                tracing::error!(id = %r.id, approved = %r.args_hash, %expected, "an approval that does not match the call");
                return HoldEnd::Answer(format!(
                    "The tool {tool} was not called: the approval of assent request {} is not for these arguments (args_hash {} approved, {expected} to be sent).",
                    r.id, r.args_hash
                ));
            }
            let edit = match filing::approved_edit(r) {
                Ok(edit) => edit,
                Err(why) => {
                    tracing::error!(id = %r.id, %why, "an edited approval that does not hold together");
                    return HoldEnd::Answer(format!(
                        "The tool {tool} was not called: the approval of assent request {} carries edited arguments that are not what was approved ({why}).",
                        r.id
                    ));
                }
            };
            if let Some(d) = &r.decision {
                tracing::debug!(id = %r.id, responder = %d.responder, edited = edit.is_some(), "approved; forwarding");
            }
            let token = r.decision.as_ref().and_then(|d| d.approval_token.clone());
            match (edit, token) {
                (Some(arguments), token) => HoldEnd::ForwardEdited { arguments, token },
                (None, Some(token)) => HoldEnd::ForwardWithToken(token),
                (None, None) => HoldEnd::Forward,
            }
        }
        Status::Rejected => HoldEnd::Answer(format!(
            "{} The tool {tool} was not called (assent request {}).",
            sentence(&rejection(r.decision.as_deref())),
            r.id
        )),
        Status::Expired => HoldEnd::Answer(format!(
            "No reviewer decided in time: assent request {} expired. The tool {tool} was not called.",
            r.id
        )),
        Status::Cancelled => HoldEnd::Answer(format!(
            "Assent request {} was cancelled on the backend before anyone decided. The tool {tool} was not called.",
            r.id
        )),
        // wait_final returns final requests only; a pending one here is a backend's fault.
        Status::Pending => HoldEnd::Answer(format!(
            "The backend answered assent request {} as still pending. The tool {tool} was not called.",
            r.id
        )),
    }
}

/// Who rejected, and why only when they chose to tell the agent. A rule's rejection is
/// never put in a person's name, nor a person's in a rule's.
pub fn rejection(d: Option<&Decision>) -> String {
    let Some(d) = d else {
        return "Rejected".to_owned();
    };
    if d.via == crate::protocol::Via::Timeout {
        return format!(
            "No reviewer decided in time: rejected at its timeout ({})",
            crate::protocol::TIMEOUT_REASON
        );
    }
    let who = match d.responder.strip_prefix("policy:") {
        Some(rule) => format!("the policy (rule {rule})"),
        None if d.notify_agent => d.responder.clone(),
        None => return "Rejected by a reviewer".to_owned(),
    };
    match d.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) if d.notify_agent => format!("Rejected by {who}: {reason}"),
        _ => format!("Rejected by {who}"),
    }
}

/// `s` ended as a sentence: a full stop added unless it already ends in one (a reason
/// may, or may end in `?` or `!`).
fn sentence(s: &str) -> String {
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

fn timed_out(tool: &str, id: &str, wait: Duration, failed: Option<&str>) -> String {
    let wait = humantime::format_duration(wait);
    match failed {
        None => format!(
            "No reviewer decided within {wait}: assent request {id} was withdrawn. The tool {tool} was not called."
        ),
        Some(why) => format!(
            "No reviewer decided within {wait}, and assent request {id} could not be withdrawn ({why}); it stays pending until it expires or a reviewer decides, but the tool {tool} was not called and will not be for this call."
        ),
    }
}

fn not_filed(tool: &str, e: &ClientError) -> String {
    let hint = if e.is_auth() {
        "check that ASSENT_TOKEN holds an agent token the backend knows"
    } else if e.is_transient() {
        "check that `assent serve` runs and ASSENT_URL points at it"
    } else {
        "the backend refused the request as filed"
    };
    format!("The tool {tool} was not called: assent could not file it for approval ({e}); {hint}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::fixtures::decided;
    use crate::protocol::NewRequest;
    use serde_json::json;

    fn hold() -> Hold {
        Hold {
            key: "7".into(),
            tool: "write_file".into(),
            new: NewRequest {
                tool: "mcp.fs.write_file".into(),
                params: json!({"path": "/tmp/a", "content": "x"}),
                reason: None,
                agent: "a".into(),
                conversation_id: Some("s".into()),
                run_id: None,
                tool_call_id: Some("s:7".into()),
                risk: None,
                ttl_seconds: None,
            },
        }
    }

    fn approved() -> ApprovalRequest {
        let mut r = decided(Status::Approved, false, None);
        r.tool = "mcp.fs.write_file".into();
        r.params = hold().new.params;
        r.args_hash = args_hash(&r.params);
        r
    }

    #[test]
    fn an_approval_of_the_call_forwards_it() {
        assert_eq!(judge(&hold(), "r1", &approved()), HoldEnd::Forward);
    }

    #[test]
    fn an_edited_approval_forwards_the_edit_only_when_its_hash_holds() {
        let edit = json!({"path": "/tmp/b", "content": "x"});
        let mut r = approved();
        if let Some(d) = r.decision.as_mut() {
            d.approved_args_hash = Some(args_hash(&edit));
            d.approved_params = Some(edit.clone());
        }
        assert_eq!(
            judge(&hold(), "r1", &r),
            HoldEnd::ForwardEdited {
                arguments: edit,
                token: None
            }
        );
        if let Some(d) = r.decision.as_mut() {
            d.approved_args_hash = Some(r.args_hash.clone());
        }
        assert!(matches!(judge(&hold(), "r1", &r), HoldEnd::Answer(_)));
    }

    #[test]
    fn an_approval_of_something_else_is_refused() {
        let mut other = approved();
        other.args_hash = args_hash(&json!({"path": "/etc/passwd", "content": "x"}));
        let HoldEnd::Answer(t) = judge(&hold(), "r1", &other) else {
            panic!("forwarded an approval of other arguments")
        };
        assert!(t.contains("not for these arguments"), "{t}");
        let mut tool = approved();
        tool.tool = "mcp.fs.read_file".into();
        assert!(matches!(judge(&hold(), "r1", &tool), HoldEnd::Answer(_)));
        let HoldEnd::Answer(t) = judge(&hold(), "r2", &approved()) else {
            panic!("forwarded the approval of another request")
        };
        assert!(t.contains("answered for request r1"), "{t}");
    }

    #[test]
    fn rejections_say_who_and_why_only_when_told() {
        let text = |r: ApprovalRequest| match judge(&hold(), "r1", &r) {
            HoldEnd::Answer(t) => t,
            e => panic!("{e:?}"),
        };
        assert_eq!(
            text(decided(Status::Rejected, true, Some("not in /tmp"))),
            "Rejected by alice: not in /tmp. The tool write_file was not called (assent request r1)."
        );
        assert_eq!(
            text(decided(Status::Rejected, false, Some("not in /tmp"))),
            "Rejected by a reviewer. The tool write_file was not called (assent request r1)."
        );
        let mut policy = decided(Status::Rejected, true, Some("Writes are never allowed."));
        if let Some(d) = policy.decision.as_mut() {
            d.responder = "policy:no-writes".into();
        }
        assert_eq!(
            text(policy.clone()),
            "Rejected by the policy (rule no-writes): Writes are never allowed. The tool write_file was not called (assent request r1)."
        );
        if let Some(d) = policy.decision.as_mut() {
            d.notify_agent = false;
        }
        assert!(
            text(policy).starts_with("Rejected by the policy (rule no-writes). "),
            "a rule's decision is never a reviewer's"
        );
        assert!(text(decided(Status::Expired, false, None)).contains("expired"));
        assert!(text(decided(Status::Cancelled, false, None)).contains("cancelled on the backend"));
    }

    #[test]
    fn timeouts_and_failures_name_the_tool_and_the_way_out() {
        let t = timed_out("write_file", "r1", Duration::from_secs(600), None);
        assert_eq!(
            t,
            "No reviewer decided within 10m: assent request r1 was withdrawn. The tool write_file was not called."
        );
        let e = ClientError::Network {
            url: "http://127.0.0.1:1".into(),
            detail: "connection refused".into(),
        };
        let t = not_filed("write_file", &e);
        assert!(
            t.contains("was not called") && t.contains("assent serve"),
            "{t}"
        );
    }
}
