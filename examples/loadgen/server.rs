//! The system under test: the real `assent serve` binary as a child process on
//! 127.0.0.1 (a port of its choosing) with a database file in a temporary directory, so
//! its CPU and memory are its own in /proc. It is started as the integration tests start
//! it (tests/common/server.rs). Seeding writes straight into that file with the crate's
//! SQLite store before the server opens it: 100,000 pending requests in seconds instead
//! of minutes of HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use assent::client::Client;
use assent::store::sqlite::{SqliteStore, Synchronous};
use assent::store::{FileOptions, Store};
use futures::StreamExt;

use crate::serve::{ANY_PORT, Serve};
use crate::{config, identities, workload};

pub use identities::{AGENT1 as AGENT, ALICE as REVIEWER};

/// What the figures are measured under: every commit on disk, long polls up to 10 minutes.
const SERVER_KEYS: &str = "sqlite_synchronous = \"full\"\nmax_wait_seconds = 600";

/// Where the `assent` binary is: `--assent`, else beside this example's directory
/// (target/release/examples/loadgen → target/release/assent).
pub fn assent_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let dir = me
        .parent()
        .and_then(Path::parent)
        .context("unexpected location of the load generator")?;
    let bin = dir.join("assent");
    if !bin.is_file() {
        bail!(
            "{} does not exist: build it first (cargo build --release), or pass --assent PATH",
            bin.display()
        );
    }
    Ok(bin)
}

pub struct Server {
    /// The running server, and the temporary directory of its database, config and log.
    pub serve: Serve,
    /// The ids of the seeded pending requests, oldest first.
    pub ids: Vec<String>,
}

impl Server {
    /// A fresh database in a new temporary directory, seeded with `pending` requests,
    /// and a server on it.
    pub async fn start(bin: &Path, pending: u64) -> anyhow::Result<Server> {
        Server::start_padded(bin, pending, None).await
    }

    /// Like [`Server::start`], each request's params padded with a string of `pad`
    /// bytes (`"blob"`): a queue of large requests.
    pub async fn start_padded(
        bin: &Path,
        pending: u64,
        pad: Option<usize>,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
        let db = dir.path().join("assent.db");
        let ids = if pending > 0 {
            seed(&db, pending, pad).await?
        } else {
            Vec::new()
        };
        let cfg = config::write_config(dir.path(), SERVER_KEYS, None)?;
        let mut cmd = Serve::command(bin, &cfg, ANY_PORT);
        cmd.arg("--db").arg(&db);
        let serve = Serve::spawn(cmd, dir.path()).await?.owning(dir);
        Ok(Server { serve, ids })
    }

    /// A fresh database, and a server on it whose config file ends with what `tail`
    /// writes (given the server's directory, for files the config names).
    pub async fn start_with(
        bin: &Path,
        tail: impl FnOnce(&Path) -> anyhow::Result<String>,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
        let db = dir.path().join("assent.db");
        let cfg = config::write_config(dir.path(), SERVER_KEYS, None)?;
        let mut text = std::fs::read_to_string(&cfg)?;
        text.push_str(&tail(dir.path())?);
        std::fs::write(&cfg, text)?;
        let mut cmd = Serve::command(bin, &cfg, ANY_PORT);
        cmd.arg("--db").arg(&db);
        let serve = Serve::spawn(cmd, dir.path()).await?.owning(dir);
        Ok(Server {
            serve,
            ids: Vec::new(),
        })
    }

    /// A server on the PostgreSQL database `url` (which it migrates), in a new
    /// temporary directory; several on one URL are instances of one server.
    pub async fn on_postgres(bin: &Path, url: &str) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
        let cfg = config::write_config(dir.path(), SERVER_KEYS, None)?;
        let mut cmd = Serve::command(bin, &cfg, ANY_PORT);
        cmd.arg("--db").arg(url);
        let serve = Serve::spawn(cmd, dir.path()).await?.owning(dir);
        Ok(Server {
            serve,
            ids: Vec::new(),
        })
    }

    pub fn client(&self, token: &str) -> anyhow::Result<Client> {
        Ok(crate::client::api(&self.serve.url, token)?)
    }

    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        crate::measure::read_cpu_ticks(self.serve.pid)
    }
}

/// Files `n` pending requests as the agent, straight into the database file, their params
/// padded with `pad` bytes if asked; their ids.
pub async fn seed(db: &Path, n: u64, pad: Option<usize>) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let path = db.to_owned();
    // The agent token's name: an agent reads and waits only on the requests it filed.
    let agent = identities::name_of(AGENT).context("the agent token has no name")?;
    let store: Arc<dyn Store> = Arc::new(
        tokio::task::spawn_blocking(move || SqliteStore::open(&path, Synchronous::Normal))
            .await??,
    );
    // Many at once: the store commits what is queued together.
    let filed: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|i| {
            let store = Arc::clone(&store);
            async move {
                let mut new = workload::new_request(i);
                if let (Some(bytes), Some(map)) = (pad, new.params.as_object_mut()) {
                    map.insert("blob".to_owned(), "x".repeat(bytes).into());
                }
                let filed = store
                    .file(agent, new, FileOptions::default())
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding request {i}: {e}"))?;
                Ok(filed.value.request.id)
            }
        })
        .buffered(256)
        .collect()
        .await;
    let ids = filed.into_iter().collect::<anyhow::Result<Vec<String>>>()?;
    drop(store);
    eprintln!(
        "  seeded {n} pending requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}
