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

use crate::GlobalOpts;
use crate::client::Client;
use crate::config::{ClientSettings, ConsoleConfig};

pub mod action;
pub mod driver;
pub mod effect;
pub mod keymap;
pub mod layout;
pub mod model;
pub mod stream;
pub mod text;
pub mod update;
pub mod view;
pub mod words;

#[cfg(test)]
mod fixtures;
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
    match rt.block_on(run(&settings, &console)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent: {e:#}");
            ExitCode::FAILURE
        }
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
    tracing::info!(backend = %client.base_url(), depth = ?state.depth, "console starting");
    driver::run(
        client,
        state,
        stream::StreamSettings {
            transport: console.transport,
            poll_interval: console.poll_interval,
        },
    )
    .await
}
