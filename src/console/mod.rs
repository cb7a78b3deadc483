//! The reviewer console: a ratatui app driven by a pure state machine.
//!
//! ```text
//! terminal keys ─┐
//! stream task ───┼─► Msg ─► update(&mut State, Msg) -> Vec<Effect> ─► driver runs effects ─► Msg
//! effect results ┘                 │
//!                                  └─► view::draw(&State) when something changed
//! ```
//!
//! `model/` is the state: `State` composes the `Queue` of pending requests, the `History`
//! and the `Grants`, each keeping its own invariants behind private fields, each with one
//! `Selection`. `update/` is the state machine, split by concern (keys, what the backend
//! says, decisions). `view/` draws and only reads. `words.rs` says what the reviewer reads
//! the same way everywhere; `layout.rs` places the screen's parts for views and `update`
//! alike; `stream.rs` and `driver.rs` are the only parts that do IO.

use std::process::ExitCode;
use std::time::Duration;

use crate::GlobalOpts;
use crate::cli;
use crate::client::{Client, ClientError};
use crate::config::{ClientSettings, ConsoleConfig};

pub mod action;
pub mod driver;
pub mod effect;
pub mod keymap;
pub mod layout;
pub mod model;
pub mod stream;
pub mod streamed;
pub mod text;
mod timestamp;
pub mod update;
pub mod view;
pub mod words;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod update_approvals_tests;
#[cfg(test)]
mod update_attention_tests;
#[cfg(test)]
mod update_edit_tests;
#[cfg(test)]
mod update_grant_tests;
#[cfg(test)]
mod update_params_tests;
#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod view_tests;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {}

pub fn main(g: &GlobalOpts, _a: ConsoleArgs) -> ExitCode {
    let prepared = g
        .load_config()
        .and_then(|cfg| Ok((g.client_settings()?, cfg.console)));
    let (settings, console) = match prepared {
        Ok(x) => x,
        Err(e) => {
            eprintln!("assent: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let _log = crate::logging::to_file("console");
    let rt = match crate::runtime::multi_thread(Some(2)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(refused) = rt.block_on(preflight(&settings)) {
        eprintln!("assent: {}", refused.message);
        return ExitCode::from(refused.code);
    }
    match rt.block_on(run(&settings, &console)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The longest the console waits at start for the backend to say who the token is; a
/// backend slower than this is left to the console's own retries, on screen.
const PREFLIGHT_WAIT: Duration = Duration::from_secs(3);

/// Why the console will not start: the CLI's message and exit code for the same failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
    pub code: u8,
}

/// Asks the backend who the token is, before the console takes the screen: with no
/// token, a token it refuses (401) or one that cannot review (an agent's: 403 on a
/// reviewer's endpoint), the console could never work, so it says so as the CLI does and
/// exits with the CLI's code. A backend that cannot be reached, or answers anything else,
/// is not refused here: the console starts, shows it offline and keeps trying.
pub async fn preflight(settings: &ClientSettings) -> Result<(), Refused> {
    let client = Client::new(settings).map_err(|e| refused(&e, settings))?;
    if !client.has_token() {
        return Err(Refused {
            message: cli::NO_TOKEN.to_owned(),
            code: cli::EXIT_UNREACHABLE,
        });
    }
    let me = match tokio::time::timeout(PREFLIGHT_WAIT, client.whoami()).await {
        Ok(Ok(me)) => me,
        Ok(Err(e)) if e.is_auth() => return Err(refused(&e, settings)),
        Ok(Err(e)) => {
            tracing::info!("whoami at start failed ({e}); starting offline");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    if me.role.can_review() {
        return Ok(());
    }
    // Not a reviewer by its own account: a reviewer's endpoint gives the backend's own
    // refusal, worded as the CLI would print it (and, should this backend let the token
    // review after all, the console starts).
    match tokio::time::timeout(PREFLIGHT_WAIT, client.grants()).await {
        Ok(Err(e)) if e.is_auth() => Err(refused(&e, settings)),
        _ => Ok(()),
    }
}

fn refused(e: &ClientError, settings: &ClientSettings) -> Refused {
    Refused {
        message: cli::explain(e, &settings.url),
        code: cli::exit_code(e),
    }
}

/// Opens the console on the backend in `settings` until the reviewer quits.
pub async fn run(settings: &ClientSettings, console: &ConsoleConfig) -> anyhow::Result<()> {
    let keymap = keymap::Keymap::with_overrides(&console.keys).map_err(anyhow::Error::msg)?;
    let client = Client::new(settings)?;
    let mut state = model::State::new(
        model::Settings {
            backend: client.base_url().to_owned(),
            bell: console.bell,
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            keymap,
        },
        chrono::Utc::now(),
        80,
        24,
    );
    state.depth = view::theme::Depth::from_env();
    state.copy = console.copy;
    state.desktop_notify = console.desktop_notify;
    tracing::info!(backend = %client.base_url(), depth = ?state.depth, "console starting");
    driver::run(
        client,
        state,
        stream::StreamSettings {
            transport: console.transport,
            poll_interval: console.poll_interval,
            params_max_bytes: Some(console.params_max_bytes),
        },
    )
    .await
}
