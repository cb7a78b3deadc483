//! The system under test: the real `assent serve` binary as a child process on
//! 127.0.0.1 (a port of its choosing) with a database file in a temporary directory, so
//! its CPU and memory are its own in /proc. Seeding writes straight into that file with
//! the crate's SQLite store before the server opens it: 100,000 pending requests in
//! seconds instead of minutes of HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assent::client::Client;
use assent::config::ClientSettings;
use assent::store::sqlite::{SqliteStore, Synchronous};
use assent::store::{FileOptions, Store};
use futures::StreamExt;

use crate::workload;

pub const REVIEWER: &str = "bench-reviewer-token-0001";
pub const AGENT: &str = "bench-agent-token-0001";
/// The name the agent token files as (an agent reads and waits only on its own requests).
pub const AGENT_NAME: &str = "bench-agent";

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
    child: Child,
    pub url: String,
    pub pid: u32,
    /// The ids of the seeded pending requests, oldest first.
    pub ids: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A fresh database in a new temporary directory, seeded with `pending` requests,
    /// and a server on it.
    pub async fn start(bin: &Path, pending: u64) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
        let db = dir.path().join("assent.db");
        let ids = if pending > 0 {
            seed(&db, pending).await?
        } else {
            Vec::new()
        };
        let cfg = dir.path().join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nsqlite_synchronous = \"full\"\nmax_wait_seconds = 600\n\
                 [[server.tokens]]\nname = \"alice\"\nrole = \"reviewer\"\ntoken = \"{REVIEWER}\"\n\
                 [[server.tokens]]\nname = \"{AGENT_NAME}\"\nrole = \"agent\"\ntoken = \"{AGENT}\"\n"
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("serve.log"))?;
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .env("ASSENT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout from the server")?;
        // The one line `assent: listening on http://ADDR`, read on a thread so a server
        // that never prints it cannot hang the generator.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                bail!("the server did not say where it listens within 30 s");
            }
        };
        let Some(url) = line.trim().strip_prefix("assent: listening on ") else {
            let _ = child.kill();
            bail!(
                "the server did not start: {:?}; see {}",
                line.trim(),
                dir.path().join("serve.log").display()
            );
        };
        Ok(Server {
            url: url.to_owned(),
            ids,
            child,
            pid,
            _dir: dir,
        })
    }

    pub fn client(&self, token: &str) -> anyhow::Result<Client> {
        Ok(Client::new(&ClientSettings {
            url: self.url.clone(),
            token: Some(token.to_owned()),
        })?)
    }

    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        crate::measure::read_cpu_ticks(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files `n` pending requests as the agent, straight into the database file; their ids.
pub async fn seed(db: &Path, n: u64) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let path = db.to_owned();
    let store: Arc<dyn Store> = Arc::new(
        tokio::task::spawn_blocking(move || SqliteStore::open(&path, Synchronous::Normal))
            .await??,
    );
    // Many at once: the store commits what is queued together.
    let filed: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|i| {
            let store = Arc::clone(&store);
            async move {
                let filed = store
                    .file(AGENT_NAME, workload::new_request(i), FileOptions::default())
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
