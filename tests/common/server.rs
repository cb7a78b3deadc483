//! The one spawner of the `assent serve` binary: a child process on loopback, ready once
//! it has printed the line saying where it listens. The integration tests and the load
//! generator (which includes this file by `#[path]`) both start servers with it, so it
//! uses nothing else of the harness and returns errors instead of panicking. Changes
//! when the way `assent serve` starts or says where it listens changes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Loopback, on a port the server chooses.
pub const ANY_PORT: &str = "127.0.0.1:0";

/// What `assent serve` prints first, once it listens; the URL follows.
pub const LISTENING: &str = "assent: listening on ";

/// The longest a server may take to say where it listens.
pub const START_WITHIN: Duration = Duration::from_secs(30);

/// A running `assent serve`, killed (SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    /// `http://ADDR`.
    pub url: String,
    /// `127.0.0.1:PORT`, to start another server on the same address.
    pub addr: String,
    pub pid: u32,
    /// Where its config, its log and (often) its database are.
    pub dir: PathBuf,
    /// Its stderr.
    pub log: PathBuf,
    owned: Option<tempfile::TempDir>,
}

impl Serve {
    /// `BIN --config CONFIG serve --listen LISTEN` with `ASSENT_LOG=warn`: add `--db` and
    /// the environment, then [`Serve::spawn`] it.
    pub fn command(bin: &Path, config: &Path, listen: &str) -> Command {
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .args(["serve", "--listen", listen])
            .env("ASSENT_LOG", "warn");
        cmd
    }

    /// Starts `cmd` (from [`Serve::command`]) with its stderr in `dir/serve-N.log` and
    /// waits, at most [`START_WITHIN`], for the line that says where it listens.
    pub async fn spawn(mut cmd: Command, dir: &Path) -> anyhow::Result<Serve> {
        // One log per start, so that a restart in the same directory keeps the first.
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("serve-{n}.log"));
        let stderr = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no stdout from the server");
        };
        // Read on a thread, so that a server that never prints cannot hang the caller;
        // the thread then drains stdout until the server exits, so that it never blocks
        // on a full pipe.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            lines.take_while(Result::is_ok).for_each(drop);
        });
        let line = match tokio::time::timeout(START_WITHIN, rx).await {
            Ok(Ok(Some(Ok(line)))) => line,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not say where it listens within {START_WITHIN:?}; its log ({}):\n{}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let Some(url) = line.trim().strip_prefix(LISTENING) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("unexpected first line {line:?}; see {}", log.display());
        };
        let url = url.to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        Ok(Serve {
            child,
            url,
            addr,
            pid,
            dir: dir.to_owned(),
            log,
            owned: None,
        })
    }

    /// Keeps `dir` (which [`Serve::dir`] names) until the server is gone.
    pub fn owning(mut self, dir: tempfile::TempDir) -> Serve {
        self.owned = Some(dir);
        self
    }

    /// Sends `signal` (e.g. "HUP") to the server.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        send_signal(self.pid, signal)
    }

    /// SIGKILL, and the process reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and its exit status once it has exited, waiting at most `within`.
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        const LOOK_EVERY: Duration = Duration::from_millis(20);
        self.signal("TERM")?;
        let start = Instant::now();
        for _ in 0..=within.as_millis() / LOOK_EVERY.as_millis() {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() >= within {
                break;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        bail!("the server did not exit within {within:?} of SIGTERM")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `signal` (e.g. "TERM") to process `pid`, with kill(1).
pub fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed: {status}");
    }
    Ok(())
}
