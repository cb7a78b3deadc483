//! `POST /v1/hooks/claude-code?wait=SECONDS`: Claude Code's `type: "http"` hooks, with no
//! assent binary on the agent's machine. The body is the PreToolUse or PermissionRequest
//! input as Claude Code sends it; the answer is the JSON `assent hook claude-code` prints
//! (src/agent/hook/claude_code.rs maps both ways, for both), once a decision is made.
//!
//! The call is filed through the same path as `POST /v1/requests` (params checked as
//! sent, the policy, the store) and waited on with the long poll's waiters. Filing rules
//! are the command hook's: one request per `tool_use_id` (a retry of the same hook call
//! finds its request and waits on it), the session becomes the conversation.
//!
//! No decision within `wait`: PreToolUse is denied, because a PreToolUse hook that gives
//! no answer lets the call go on through Claude Code's own rules, which may allow it;
//! PermissionRequest gets no decision (`{}`), so Claude Code's own dialog stays up. The
//! request is then taken back (cancelled), as the command hook does, so that a late
//! approval cannot look as if it let anything run.
//!
//! A caller that hangs up while waiting has given up: Claude Code's own hook timeout, the
//! user interrupting, the session ending. Its call no longer waits for this answer, so the
//! request is cancelled too, after [`HANG_UP_GRACE`] and only if nobody else (a retry of
//! the same hook call) waits on it by then: left pending, a reviewer's approval would be
//! recorded as letting through a call that ran, or did not, on someone else's word.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::time::Instant;

use super::api::file_as;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiQuery, JsonBody};
use super::state::AppState;
use super::wait::until_final;
use crate::agent::hook::claude_code::{self, HookDecision, HookEvent, HookInput, OnTimeout};
use crate::protocol::{ApprovalRequest, Identity, NewRequest, Status};
use crate::store::StoreError;
use crate::store::rules::Filing;

/// Used when the hook's URL gives no `wait`: below Claude Code's 600 s hook timeout.
pub const DEFAULT_HOOK_WAIT: Duration = Duration::from_secs(540);

/// The agent name on the requests when the URL gives no `agent` (as the command hook's
/// `--agent`).
pub const DEFAULT_AGENT: &str = "claude-code";

/// How long a hung-up caller's request stays pending for a retry to pick it up.
pub const HANG_UP_GRACE: Duration = Duration::from_secs(2);

/// The member of a hook input that holds the tool's arguments (the request's params).
const TOOL_INPUT: &str = "tool_input";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HookQuery {
    /// Longest wait for a decision, in seconds (default 540, at most the server's
    /// `max_wait_seconds`); keep it below the hook's `timeout` in settings.json.
    pub wait: Option<u64>,
    /// The agent name on the requests (default `claude-code`).
    pub agent: Option<String>,
}

/// `POST /v1/hooks/claude-code?wait=&agent=` (agent).
#[utoipa::path(post, path = "/v1/hooks/claude-code", tag = "hooks", params(HookQuery),
    request_body(content = HookInput,
        description = "The PreToolUse or PermissionRequest hook input, as Claude Code sends it"),
    responses(
        (status = 200, description = "The hook's answer, as `assent hook claude-code` prints it; `{}` is \
            no decision (PermissionRequest without one in time)", body = claude_code::HookOutput),
        (status = 400, description = "`malformed_json`, `invalid_body`, `unsupported_hook_event` or `bad_query`",
            body = crate::protocol::ErrorResponse),
        (status = 403, description = "`forbidden`: not an agent or admin token", body = crate::protocol::ErrorResponse),
        (status = 422, description = "`invalid_request`, `idempotency_mismatch`, `inexact_number`, \
            `duplicate_key` or `params_too_deep`", body = crate::protocol::ErrorResponse),
    ))]
pub async fn claude_code(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<HookQuery>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    caller.require_agent()?;
    let input: HookInput = body.parse()?;
    let Some(event) = HookEvent::parse(&input.hook_event_name) else {
        return Err(ApiError::bad_request(
            "unsupported_hook_event",
            format!(
                "the {} hook event is not supported; register this URL under PreToolUse or \
                 PermissionRequest in settings.json",
                crate::sanitize::line(&input.hook_event_name)
            ),
        ));
    };
    // Before the policy sees the params, as for POST /v1/requests.
    Filing::check_sent_params_in(body.bytes(), TOOL_INPUT)?;
    let wait = q
        .wait
        .map_or(DEFAULT_HOOK_WAIT, Duration::from_secs)
        .min(st.limits.max_wait);
    // max_wait is at most a day (see start), so this cannot overflow.
    let deadline = Instant::now() + wait;
    let fallback = match event {
        HookEvent::PreToolUse => OnTimeout::Deny,
        HookEvent::PermissionRequest => OnTimeout::Ask,
    };
    let agent = q.agent.as_deref().unwrap_or(DEFAULT_AGENT);
    let new = claude_code::new_request(&input, agent);
    let filed = file_as(&st, &caller, new.clone(), None).await?;
    let req = filed.request;
    tracing::debug!(id = %req.id, event = event.name(), created = filed.created, status = %req.status, "hook call filed");
    let decision = if !filed.created && req.status == Status::Cancelled {
        claude_code::cancelled_earlier(fallback)
    } else if req.status.is_final() {
        answer(&new, &req, fallback)
    } else {
        let take_back = TakeBack::on_hang_up(&st, &caller.0, &req.id);
        let waited = until_final(&st, &req.id, deadline, |_| Ok(())).await;
        take_back.disarm();
        let r = waited?;
        if r.status.is_final() {
            answer(&new, &r, fallback)
        } else {
            let waited_for = humantime::format_duration(wait).to_string();
            give_up(&st, &caller.0, &new, &r, fallback, &waited_for).await
        }
    };
    tracing::info!(event = event.name(), id = %req.id, ?decision, "hook answered");
    Ok(Json(claude_code::output(event, &decision)).into_response())
}

/// [`claude_code::answer_for`], logging an approval it refused.
fn answer(new: &NewRequest, r: &ApprovalRequest, fallback: OnTimeout) -> HookDecision {
    if let Some(why) = claude_code::refused_approval(new, Some(&r.id), r) {
        tracing::error!(id = %r.id, "refused an approval that is not of the hook's call: {why}");
    }
    claude_code::answer_for(new, Some(&r.id), r, fallback)
}

/// No decision within the wait: take the request off the reviewers' queue (unless a retry
/// of the same call still waits on it) and answer as on a timeout; a decision made in the
/// last moment stands.
async fn give_up(
    st: &AppState,
    who: &Identity,
    new: &NewRequest,
    r: &ApprovalRequest,
    fallback: OnTimeout,
    waited_for: &str,
) -> HookDecision {
    if st.waiters.is_waited(&r.id) {
        return claude_code::timed_out(fallback, waited_for);
    }
    match st.store.cancel(&r.id, who).await {
        Ok(w) => {
            st.commit(w);
            tracing::info!(id = %r.id, "no decision in time: hook request cancelled");
        }
        Err(StoreError::Conflict { request, .. }) => return answer(new, &request, fallback),
        Err(e) => tracing::warn!(id = %r.id, "cannot cancel a timed-out hook request: {e}"),
    }
    claude_code::timed_out(fallback, waited_for)
}

/// Cancels the request when dropped armed: the handler's future is dropped, unfinished,
/// when its caller hangs up.
struct TakeBack {
    armed: Option<(AppState, Identity, String)>,
}

impl TakeBack {
    fn on_hang_up(st: &AppState, who: &Identity, id: &str) -> TakeBack {
        TakeBack {
            armed: Some((st.clone(), who.clone(), id.to_owned())),
        }
    }

    fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for TakeBack {
    fn drop(&mut self) {
        let Some((st, who, id)) = self.armed.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep(HANG_UP_GRACE).await;
            if st.waiters.is_waited(&id) || *st.shutdown.borrow() {
                return;
            }
            match st.store.cancel(&id, &who).await {
                Ok(w) => {
                    st.commit(w);
                    tracing::info!(%id, "the hook's caller hung up: request cancelled");
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => tracing::warn!(%id, "cannot cancel a hung-up hook request: {e}"),
            }
        });
    }
}
