//! The filing policy in force, and its reload (SIGHUP, `POST /v1/policy/reload`).
//!
//! A reload compiles the new policy completely before swapping it in: a file that does
//! not parse or compile is refused, and the old policy stays in force. Connections, event
//! streams and waiters are untouched.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::State;

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::policy::{Call, Policy};
use crate::protocol::{NewRequest, PolicyAction, PolicyMatch};

#[derive(Debug)]
pub struct PolicyHolder {
    current: RwLock<Arc<Policy>>,
    /// The config file to re-read; None for an embedded server given a policy directly.
    source: Option<PathBuf>,
}

/// What the policy makes of one filing, in the terms the store takes.
pub struct Applied {
    pub recorded: Option<PolicyMatch>,
    pub ttl: Option<std::time::Duration>,
    pub escalate_after: Option<std::time::Duration>,
    pub on_timeout: Option<crate::protocol::TimeoutAction>,
    /// How many different reviewers must approve a held call (the rule's `approvals`).
    pub approvals: u32,
}

impl PolicyHolder {
    pub fn new(policy: Option<Arc<Policy>>, source: Option<PathBuf>) -> PolicyHolder {
        PolicyHolder {
            current: RwLock::new(policy.unwrap_or_else(|| Arc::new(Policy::require_all()))),
            source,
        }
    }

    pub fn current(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => Arc::clone(&p),
            // A writer panicked mid-swap; the Arc inside is still a whole policy.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the config file and swaps in its policy; on any error the old one stays.
    pub fn reload(&self) -> anyhow::Result<Arc<Policy>> {
        let Some(path) = &self.source else {
            anyhow::bail!("this server was started without a config file: nothing to reload");
        };
        let cfg = crate::config::Config::load(Some(path))?;
        let policy = cfg
            .server
            .policy
            .unwrap_or_else(|| Arc::new(Policy::require_all()));
        match self.current.write() {
            Ok(mut cur) => *cur = Arc::clone(&policy),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&policy),
        }
        Ok(policy)
    }

    /// Evaluates the policy for a filing by the token `filed_by` and applies its risk to
    /// `new` (only when the request declares none).
    pub fn apply(&self, new: &mut NewRequest, filed_by: &str) -> Applied {
        let policy = self.current();
        let verdict = policy.evaluate(&Call {
            tool: &new.tool,
            agent: &new.agent,
            params: &new.params,
            conversation_id: new.conversation_id.as_deref(),
            run_id: new.run_id.as_deref(),
            risk: new.risk,
            filed_by: Some(filed_by),
        });
        if new.risk.is_none() {
            new.risk = verdict.risk;
        }
        if let Some(e) = &verdict.error {
            tracing::warn!(tool = %new.tool, agent = %new.agent, "{e}");
        }
        // The plain default (no rule, require_approval) is what happens without a policy:
        // nothing worth recording.
        let noteworthy = verdict.rule.is_some()
            || verdict.action != PolicyAction::RequireApproval
            || verdict.error.is_some();
        Applied {
            recorded: noteworthy.then_some(PolicyMatch {
                rule: verdict.rule,
                action: verdict.action,
                message: verdict.message,
                error: verdict.error,
            }),
            ttl: verdict.ttl,
            escalate_after: verdict.escalate_after,
            on_timeout: verdict.on_timeout,
            approvals: verdict.approvals,
        }
    }
}

/// The answer of `POST /v1/policy/reload`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// Always `reloaded`.
    pub status: String,
    /// How many rules the new policy has.
    pub rules: usize,
    /// What a call no rule matches gets.
    pub default: PolicyAction,
}

/// `POST /v1/policy/reload` (admin).
#[utoipa::path(post, path = "/v1/policy/reload", tag = "server",
    responses(
        (status = 200, description = "The new policy is in force", body = Reloaded),
        (status = 403, description = "`forbidden`: not an admin token", body = crate::protocol::ErrorResponse),
        (status = 422, description = "`policy_invalid`: refused; the old policy stays in force",
            body = crate::protocol::ErrorResponse),
    ))]
pub async fn reload(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Reloaded>, ApiError> {
    caller.require_admin("reloading the policy")?;
    let holder = Arc::clone(&st.policy);
    let result = tokio::task::spawn_blocking(move || holder.reload())
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the policy reload task failed: {e}"),
            )
        })?;
    match result {
        Ok(p) => {
            tracing::info!(rules = p.len(), actor = caller.name(), "policy reloaded");
            Ok(Json(Reloaded {
                status: "reloaded".to_owned(),
                rules: p.len(),
                default: p.default_action(),
            }))
        }
        Err(e) => {
            tracing::error!("policy reload refused, the old policy stays in force: {e:#}");
            Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "policy_invalid",
                format!("the new policy was refused and the old one stays in force: {e:#}"),
            ))
        }
    }
}

/// Reloads on every SIGHUP until the server stops.
#[cfg(unix)]
pub async fn reload_on_sighup(holder: Arc<PolicyHolder>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; use POST /v1/policy/reload");
        return;
    };
    while hup.recv().await.is_some() {
        let h = Arc::clone(&holder);
        match tokio::task::spawn_blocking(move || h.reload()).await {
            Ok(Ok(p)) => tracing::info!(rules = p.len(), "SIGHUP: policy reloaded"),
            Ok(Err(e)) => {
                tracing::error!("SIGHUP: policy refused, the old one stays in force: {e:#}")
            }
            Err(e) => tracing::error!("SIGHUP: reload task failed: {e}"),
        }
    }
}
