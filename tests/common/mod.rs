//! The one harness of the integration tests: the real server (in-process, or the
//! `assent serve` binary), one set of identities, one client constructor, one config
//! writer, the binary run as the gate, hook, CLI or console would be, and the wire
//! literals the tests send. Changes when what the tests need from a running assent
//! changes.
//!
//! Use it from a test file with `mod common;` and `use common::*;`; not every test file
//! uses every helper. `server.rs`, `identities.rs`, `config.rs` and `client.rs` are
//! compiled into examples/loadgen too (by `#[path]`): they use no other part of the
//! harness (`config.rs` only `identities.rs`) and return errors instead of panicking. Every wait is bounded; everything
//! listens and connects on loopback only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod backend;
pub mod client;
pub mod config;
pub mod fixtures;
pub mod http;
pub mod identities;
pub mod in_process;
pub mod openapi;
pub mod postgres;
pub mod proxy;
pub mod pty;
pub mod receiver;
pub mod run;
pub mod server;
pub mod sse;
pub mod store;

use std::time::Duration;

// Each test binary uses a part of the harness only.
#[allow(unused_imports)]
pub use self::{
    backend::Backend,
    config::{example_policy, test_policy, write_config, write_policy},
    fixtures::*,
    http::{Http, error_message},
    identities::*,
    in_process::{TestServer, server_config, temp_db},
    proxy::{Proxy, Tamper},
    pty::Console,
    run::*,
    server::{ANY_PORT, Serve},
    sse::{SseEvent, SseStream},
};
#[allow(unused_imports)]
pub(crate) use store::each_store;

/// How long the harness waits before it looks again.
pub const POLL: Duration = Duration::from_millis(50);

/// Asks `probe` every [`POLL`] until it answers, for at most `within` (so at most
/// `within / POLL + 1` times); None if it never answers.
pub async fn poll<T, F>(within: Duration, mut probe: impl FnMut() -> F) -> Option<T>
where
    F: Future<Output = Option<T>>,
{
    let tries = within.as_millis() / POLL.as_millis() + 1;
    let start = std::time::Instant::now();
    for _ in 0..tries {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if start.elapsed() >= within {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// As [`poll`], failing the test, saying it expected `what`, when `probe` never answers.
pub async fn eventually<T, F>(what: &str, within: Duration, probe: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    poll(within, probe)
        .await
        .unwrap_or_else(|| panic!("expected {what} within {within:?}"))
}
