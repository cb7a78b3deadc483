//! The agent side of a request's life, shared by `assent gate` and the Claude Code hook:
//! file it exactly once, then wait for its decision through network trouble and server
//! restarts.
//!
//! Exactly once: every attempt of one filing carries the same `Idempotency-Key`, so a
//! retry after a lost answer finds the request the first attempt made instead of filing a
//! second one. Through trouble: the wait is a chain of long polls; a failed poll is retried
//! with backoff (backon) for as long as the caller is willing to wait, because the request
//! is durable on the server and a restart does not lose it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::time::Instant;

use crate::client::{Client, ClientError, Filed};
use crate::protocol::{ApprovalRequest, NewRequest};

/// Seconds one long poll asks the server to hold the connection. Short enough that a
/// silently dead connection is noticed within a minute, long enough to cost nothing.
pub const POLL_SECONDS: u64 = 60;

/// A fresh idempotency key: time-ordered, so keys in server logs sort with the requests.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Backoff for filing: a few quick retries (about 4 s in all), then the caller gives up.
/// Filing is on the agent's critical path; an agent should hear "unreachable" promptly.
pub fn quick_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(4)
}

/// Backoff between failed long polls: grows to 5 s and never gives up by itself (the
/// caller's deadline or Ctrl-C ends the wait). Jitter spreads a fleet of waiters that all
/// lost the same server.
fn waiting_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}

/// Files `new` under `key`, retrying network errors and server errors a few times with the
/// same key. `on_retry` hears about each retry (error, delay before the next attempt).
pub async fn file(
    client: &Client,
    new: &NewRequest,
    key: &str,
    mut on_retry: impl FnMut(&ClientError, Duration),
) -> Result<Filed, ClientError> {
    (|| async { client.file(new, Some(key)).await })
        .retry(quick_backoff())
        .when(ClientError::is_transient)
        .notify(|e, d| on_retry(e, d))
        .await
}

/// What happened while waiting, for the caller to tell its user.
#[derive(Debug)]
pub enum WaitNote<'a> {
    /// A poll failed; the next try is in `retry_in`.
    Trouble {
        error: &'a ClientError,
        retry_in: Duration,
    },
    /// A poll succeeded after trouble: the backend is back.
    Recovered,
}

/// Why a wait ended without a final decision.
#[derive(Debug)]
pub enum WaitError {
    /// `deadline` passed with the request still pending (as last seen, if it was seen).
    Deadline(Option<Box<ApprovalRequest>>),
    /// A failure that retrying will not cure: the token was refused, the request is gone.
    Fatal(ClientError),
}

/// Long-polls request `id` until it is final, riding through transient errors, until
/// `deadline` (None: no deadline).
pub async fn wait_final(
    client: &Client,
    id: &str,
    deadline: Option<Instant>,
    mut note: impl FnMut(WaitNote<'_>),
) -> Result<ApprovalRequest, WaitError> {
    let mut last: Option<ApprovalRequest> = None;
    let polling = async {
        let mut backoff = waiting_backoff().build();
        let mut troubled = false;
        loop {
            // Never ask the server to hold the poll past our own deadline.
            let secs = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Rounded up: a poll that ends just after the deadline is cut by
                    // timeout_at below, never left hanging.
                    left.as_secs_f64().ceil().clamp(1.0, POLL_SECONDS as f64) as u64
                }
                None => POLL_SECONDS,
            };
            match client.wait(id, secs).await {
                Ok(r) => {
                    if troubled {
                        troubled = false;
                        note(WaitNote::Recovered);
                    }
                    backoff = waiting_backoff().build();
                    if r.status.is_final() {
                        return Ok(r);
                    }
                    last = Some(r);
                }
                Err(e) if e.is_transient() => {
                    troubled = true;
                    let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                    note(WaitNote::Trouble {
                        error: &e,
                        retry_in: delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let result = match deadline {
        Some(d) => tokio::time::timeout_at(d, polling).await.ok(),
        None => Some(polling.await),
    };
    match result {
        Some(r) => r.map_err(WaitError::Fatal),
        None => Err(WaitError::Deadline(last.map(Box::new))),
    }
}

/// Why an answer that says "approved" is no approval of the call filed as `new` (as
/// request `filed`, when its id is known): another request, another tool or agent, or
/// arguments other than those filed. The gate runs, and the hook passes on, what they
/// built themselves, never what the backend sends back; this makes sure the decision
/// was about exactly that, even when the backend (or something posing as it) is wrong.
/// The hash is computed here, from the params as built, and the request's own params
/// must hash to it too, so a lying `args_hash` cannot vouch for other params.
///
/// A reviewer may have approved edited params instead (`decision.approved_params`): then
/// the request must still be the one filed (its `args_hash` is of what was filed and
/// shown), the edit must hash to the recorded `approved_args_hash`, and the edit is
/// returned: what the caller runs instead. None: run the call as filed.
pub fn check_approval(
    filed: Option<&str>,
    new: &NewRequest,
    r: &ApprovalRequest,
) -> Result<Option<serde_json::Value>, String> {
    if let Some(id) = filed
        && r.id != id
    {
        return Err(format!("the answer is about request {}, not {id}", r.id));
    }
    if r.tool != new.tool || r.agent != new.agent {
        return Err(format!(
            "it is a call of {} by {}, not of {} by {}",
            r.tool, r.agent, new.tool, new.agent
        ));
    }
    let expected = crate::protocol::args_hash(&new.params);
    if r.args_hash != expected {
        return Err(format!(
            "its args_hash is {}, not {expected}, the hash of the arguments filed",
            r.args_hash
        ));
    }
    let shown = crate::protocol::args_hash(&r.params);
    if shown != expected {
        return Err(format!(
            "its params hash to {shown}, not {expected}: they are not the arguments filed"
        ));
    }
    approved_edit(r)
}

/// The params a reviewer approved in place of those filed, once their hash is checked
/// against the `approved_args_hash` recorded with them; None when the approval is of the
/// call as filed.
pub fn approved_edit(r: &ApprovalRequest) -> Result<Option<serde_json::Value>, String> {
    let Some(d) = r.decision.as_ref() else {
        return Ok(None);
    };
    match (&d.approved_params, &d.approved_args_hash) {
        (None, None) => Ok(None),
        (Some(edit), Some(recorded)) => {
            let hash = crate::protocol::args_hash(edit);
            if hash != *recorded {
                return Err(format!(
                    "its approved params hash to {hash}, not {recorded}, the approved_args_hash \
                     recorded"
                ));
            }
            Ok(Some(edit.clone()))
        }
        _ => Err(
            "it has approved params without their approved_args_hash, or the hash \
                  without the params"
                .to_owned(),
        ),
    }
}

/// How long a command that stops waiting spends taking its request back. Short: the
/// caller is on its way out (Claude Code and `timeout` follow SIGTERM with SIGKILL sooner
/// or later), and on loopback or a LAN a cancel takes milliseconds.
pub const CANCEL_WITHIN: Duration = Duration::from_secs(3);

/// Best-effort cancel of a request the caller gave up on, bounded in time so that giving up
/// never hangs. Returns the request as it now stands when the backend answered.
pub async fn cancel_quietly(client: &Client, id: &str, within: Duration) -> CancelOutcome {
    match tokio::time::timeout(within, cancel_retrying(client, id)).await {
        Ok(o) => o,
        Err(_) => CancelOutcome::Failed(format!("no answer within {}s", within.as_secs())),
    }
}

async fn cancel_retrying(client: &Client, id: &str) -> CancelOutcome {
    let attempt = (|| async { client.cancel(id).await })
        .retry(quick_backoff())
        .when(ClientError::is_transient);
    match attempt.await {
        Ok(r) => CancelOutcome::Cancelled(Box::new(r)),
        Err(ClientError::Api {
            status: 409,
            request: Some(r),
            ..
        }) => CancelOutcome::AlreadyFinal(r),
        Err(e) => CancelOutcome::Failed(e.to_string()),
    }
}

/// Takes back a filing whose answer never arrived (the caller stopped while the POST was in
/// flight), so the request may or may not exist. Filing again under the same `key` finds it
/// if it does, or files it now; either way the cancel that follows takes it off the
/// reviewers' queue. Filing just to cancel leaves a cancelled request in the audit log,
/// which is honest about what happened, whereas guessing "it never arrived" could leave a
/// live request that nobody waits for.
pub async fn withdraw(
    client: &Client,
    new: &NewRequest,
    key: &str,
    within: Duration,
) -> CancelOutcome {
    let attempt = async {
        let found = (|| async { client.file(new, Some(key)).await })
            .retry(quick_backoff())
            .when(ClientError::is_transient)
            .await;
        match found {
            Ok(f) if f.request.status.is_final() => {
                CancelOutcome::AlreadyFinal(Box::new(f.request))
            }
            Ok(f) => cancel_retrying(client, &f.request.id).await,
            Err(e) => CancelOutcome::Failed(e.to_string()),
        }
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(o) => o,
        Err(_) => CancelOutcome::Failed(format!("no answer within {}s", within.as_secs())),
    }
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<ApprovalRequest>),
    /// It was decided, expired or cancelled before the cancel arrived.
    AlreadyFinal(Box<ApprovalRequest>),
    Failed(String),
}

/// How far a filing got, for what a stop must take back.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Nothing sent yet, or every attempt was answered with an error.
    Starting,
    /// The POST may be in flight: the request may or may not exist.
    Filing(Box<NewRequest>),
    /// The backend answered with this request id.
    Filed(String),
}

impl Progress {
    pub fn set(slot: &std::sync::Mutex<Progress>, p: Progress) {
        if let Ok(mut g) = slot.lock() {
            *g = p;
        }
    }

    pub fn get(slot: &std::sync::Mutex<Progress>) -> Progress {
        slot.lock().map(|g| g.clone()).unwrap_or(Progress::Starting)
    }
}

/// Takes back whatever the filing got to (None: nothing was sent), within `within`.
pub async fn take_back(
    client: &Client,
    at: &Progress,
    key: &str,
    within: Duration,
) -> Option<CancelOutcome> {
    match at {
        Progress::Starting => None,
        Progress::Filing(new) => Some(withdraw(client, new, key, within).await),
        Progress::Filed(id) => Some(cancel_quietly(client, id, within).await),
    }
}

/// Longest `--wait` the hook accepts: a day. Longer is surely a typo (no hook timeout is
/// that long), and an unbounded one would overflow the deadline's clock arithmetic.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A duration on the command line: whole seconds ("540") or a humantime duration ("9m",
/// "1h30m", "90s"), at least one second.
pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("'{s}' is too large: use e.g. 90s, 10m or 2h"))?
    } else {
        humantime::parse_duration(t).map_err(|e| {
            format!("'{s}' is not a duration ({e}): use seconds (540) or e.g. 90s, 10m, 2h")
        })?
    };
    if d < Duration::from_secs(1) {
        return Err(format!("'{s}' is shorter than one second"));
    }
    Ok(d)
}

/// `--wait`: a duration from one second to [`MAX_WAIT`].
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    let d = parse_duration_arg(s)?;
    if d > MAX_WAIT {
        return Err(format!(
            "'{s}' is longer than the longest wait, {}",
            humantime::format_duration(MAX_WAIT)
        ));
    }
    Ok(d)
}

/// Whole seconds, rounded up: a TTL or a wait is never silently shortened.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_humantime() {
        assert_eq!(parse_duration_arg("540"), Ok(Duration::from_secs(540)));
        assert_eq!(parse_duration_arg("9m"), Ok(Duration::from_secs(540)));
        assert_eq!(parse_duration_arg("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration_arg("0").is_err());
        assert!(parse_duration_arg("10ms").is_err());
        assert!(parse_duration_arg("soon").is_err());
        assert!(parse_duration_arg("").is_err());
        assert!(parse_duration_arg("99999999999999999999999").is_err());
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::MAX), u64::MAX);
    }

    #[test]
    fn an_approval_must_be_of_exactly_what_was_filed() {
        use crate::protocol::Status;
        use serde_json::json;
        let new =
            crate::store::fixtures::new_request("shell.exec", json!({"argv": ["ls"], "cwd": "/"}));
        let mut r = super::super::fixtures::decided(Status::Approved, false, None);
        r.params = new.params.clone();
        r.args_hash = crate::protocol::args_hash(&new.params);
        assert_eq!(check_approval(Some("r1"), &new, &r), Ok(None));
        assert_eq!(check_approval(None, &new, &r), Ok(None));
        let err = check_approval(Some("r2"), &new, &r).unwrap_err();
        assert!(err.contains("request r1, not r2"), "{err}");
        // Other params with their own, matching hash: not what was filed.
        let mut other = r.clone();
        other.params = json!({"argv": ["rm", "-rf", "/"], "cwd": "/"});
        other.args_hash = crate::protocol::args_hash(&other.params);
        let err = check_approval(Some("r1"), &new, &other).unwrap_err();
        assert!(err.contains("args_hash"), "{err}");
        // The filed hash over other params: the params give it away.
        other.args_hash = r.args_hash.clone();
        let err = check_approval(Some("r1"), &new, &other).unwrap_err();
        assert!(err.contains("params hash to"), "{err}");
        let mut tool = r.clone();
        tool.tool = "shell.other".into();
        assert!(check_approval(Some("r1"), &new, &tool).is_err());
    }

    #[test]
    fn an_edited_approval_gives_the_edit_when_its_hash_is_its_own() {
        use crate::protocol::Status;
        use serde_json::json;
        let new =
            crate::store::fixtures::new_request("shell.exec", json!({"argv": ["ls"], "cwd": "/"}));
        let mut r = super::super::fixtures::decided(Status::Approved, false, None);
        r.params = new.params.clone();
        r.args_hash = crate::protocol::args_hash(&new.params);
        let edit = json!({"argv": ["ls", "-l"], "cwd": "/"});
        if let Some(d) = r.decision.as_mut() {
            d.approved_params = Some(edit.clone());
            d.approved_args_hash = Some(crate::protocol::args_hash(&edit));
        }
        assert_eq!(check_approval(Some("r1"), &new, &r), Ok(Some(edit.clone())));
        // A recorded hash of something else: the edit is not what was approved.
        let mut lying = r.clone();
        if let Some(d) = lying.decision.as_mut() {
            d.approved_args_hash = Some(crate::protocol::args_hash(&json!({"argv": ["rm"]})));
        }
        let err = check_approval(Some("r1"), &new, &lying).unwrap_err();
        assert!(err.contains("approved params hash to"), "{err}");
        let mut half = r.clone();
        if let Some(d) = half.decision.as_mut() {
            d.approved_args_hash = None;
        }
        assert!(check_approval(Some("r1"), &new, &half).is_err());
        // The request must still be the one filed.
        let mut other = r.clone();
        other.params = edit.clone();
        other.args_hash = crate::protocol::args_hash(&edit);
        assert!(check_approval(Some("r1"), &new, &other).is_err());
    }

    #[test]
    fn waits_are_bounded() {
        assert_eq!(parse_wait("540"), Ok(Duration::from_secs(540)));
        assert_eq!(parse_wait("24h"), Ok(MAX_WAIT));
        assert!(parse_wait("18446744073709551615").is_err());
        assert!(parse_wait("25h").is_err());
        assert!(parse_wait("0").is_err());
    }
}
