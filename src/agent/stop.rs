//! How an agent-side command is stopped: SIGINT, SIGTERM and SIGHUP are caught so that the
//! command can take its request back before it exits, instead of dying with the request
//! left in the reviewers' queue.

use std::sync::Mutex;

use super::filing::{self, CancelOutcome, Progress};
use crate::client::Client;

/// How a guarded filing ended.
#[derive(Debug)]
pub enum Guarded<T> {
    /// The work ran to its end.
    Done(T),
    /// A stop signal came first, when the filing had got to `at`; `outcome` is what
    /// taking it back did (None: nothing had been sent).
    Stopped {
        stop: Stop,
        at: Progress,
        outcome: Option<CancelOutcome>,
    },
}

/// Files and waits under one idempotency key, watching for stop signals the whole time.
/// `work` gets the key and the slot where it records how far the filing got; on a stop,
/// whatever it got to is taken back within [`filing::CANCEL_WITHIN`] (a second signal
/// cuts that short).
pub async fn guarded<T>(
    client: &Client,
    work: impl AsyncFnOnce(&str, &Mutex<Progress>) -> T,
) -> Guarded<T> {
    // Installed before anything is sent: from here on these signals take the request
    // back instead of ending the command with the request left pending.
    let mut signals = StopSignals::install();
    let progress = Mutex::new(Progress::Starting);
    let key = filing::new_idempotency_key();
    let stop = tokio::select! {
        done = work(&key, &progress) => return Guarded::Done(done),
        stop = signals.recv() => stop,
    };
    let at = Progress::get(&progress);
    let outcome = tokio::select! {
        o = filing::take_back(client, &at, &key, filing::CANCEL_WITHIN) => o,
        s = signals.recv() => Some(CancelOutcome::Failed(format!("{} during the cancel", s.describe()))),
    };
    Guarded::Stopped { stop, at, outcome }
}

/// A signal asking an agent-side command to stop waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `timeout`, a supervisor, or Claude Code's own hook timeout.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Stop {
    /// 128 + the signal number, as a shell reports a process the signal killed.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Hangup => 129,
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }

    /// "interrupted (Ctrl-C)" and the like, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Stop::Interrupt => "interrupted (Ctrl-C)",
            Stop::Terminate => "terminated (SIGTERM)",
            Stop::Hangup => "hung up (SIGHUP)",
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught so that a command can take its request back before
/// it exits instead of dying with the request left in the reviewers' queue.
pub struct StopSignals {
    #[cfg(unix)]
    streams: [(Stop, Option<tokio::signal::unix::Signal>); 3],
}

impl StopSignals {
    /// Installs the handlers now, synchronously (so a signal that arrives before the first
    /// poll is not lost); must be called inside the runtime. From here on these signals no
    /// longer end the process, for the rest of its life (tokio never restores the default
    /// action): a caller that stops listening must exit or exec soon after.
    pub fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let one = |kind: SignalKind, stop: Stop| {
                let s = signal(kind)
                    .map_err(|e| tracing::warn!("cannot watch for {stop:?}: {e}"))
                    .ok();
                (stop, s)
            };
            StopSignals {
                streams: [
                    one(SignalKind::interrupt(), Stop::Interrupt),
                    one(SignalKind::terminate(), Stop::Terminate),
                    one(SignalKind::hangup(), Stop::Hangup),
                ],
            }
        }
        #[cfg(not(unix))]
        {
            StopSignals {}
        }
    }

    /// The next signal. Never resolves when none could be watched.
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            async fn one(stop: Stop, s: &mut Option<tokio::signal::unix::Signal>) -> Stop {
                if let Some(s) = s
                    && s.recv().await.is_some()
                {
                    return stop;
                }
                std::future::pending().await
            }
            let [(a, sa), (b, sb), (c, sc)] = &mut self.streams;
            tokio::select! {
                s = one(*a, sa) => s,
                s = one(*b, sb) => s,
                s = one(*c, sc) => s,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Stop::Interrupt
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_exit_codes_follow_the_shell() {
        assert_eq!(Stop::Interrupt.exit_code(), 130);
        assert_eq!(Stop::Terminate.exit_code(), 143);
        assert_eq!(Stop::Hangup.exit_code(), 129);
    }
}
