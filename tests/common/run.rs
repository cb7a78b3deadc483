//! The real `assent` binary run as an agent or a reviewer would run it (the gate, the
//! hook, the CLI), hermetic and bounded in time, its output collected. Changes when the
//! way the binary takes its settings (flags, environment) changes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_assent");

/// A loopback address where nothing listens now (the port was free a moment ago).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("bound address").to_string()
}

/// A loopback URL where nothing listens.
pub fn dead_url() -> String {
    format!("http://{}", free_addr())
}

/// `assent ARGS` against `url` with `token`, hermetic (empty config, logs in a temp dir).
pub fn assent(url: &str, token: Option<&str>, args: &[&str]) -> Command {
    let home = std::env::temp_dir().join("assent-agentside-tests");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = home.join("empty.toml");
    if !cfg.exists() {
        std::fs::write(&cfg, "").unwrap();
    }
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg)
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("ASSENT_URL")
        .env_remove("ASSENT_TOKEN")
        // Tables lay out for 80 columns when piped, unless a test asks otherwise.
        .env_remove("COLUMNS")
        .env("ASSENT_LOG_DIR", home.join("logs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("ASSENT_TOKEN", t);
    }
    cmd
}

/// `assent serve --config CONFIG ARGS` run to its end (at most 30 s): for the ways the
/// server refuses to start.
pub async fn serve_to_end(config: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    finish(cmd, None, 30).await
}

/// How a run of the binary ended.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs to completion (feeding `stdin` if given), failing the test after `secs`.
pub async fn finish(mut cmd: Command, stdin: Option<&str>, secs: u64) -> Out {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let child = cmd.spawn().expect("spawn assent");
    finish_child(child, stdin, secs).await
}

/// A run of the binary going on in the background.
pub struct Running {
    pub pid: u32,
    end: JoinHandle<Out>,
}

impl Running {
    /// How it ended (within the time given to [`start`]).
    pub async fn finish(self) -> Out {
        self.end.await.expect("the run's task")
    }
}

/// Starts `cmd`, feeding it `stdin` if given, and lets it run to its end in the
/// background, failing the test after `secs`.
pub fn start(mut cmd: Command, stdin: Option<&str>, secs: u64) -> Running {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let child = cmd.spawn().expect("spawn assent");
    let pid = child.id().expect("a running child has a pid");
    let stdin = stdin.map(str::to_owned);
    let end = tokio::spawn(async move { finish_child(child, stdin.as_deref(), secs).await });
    Running { pid, end }
}

/// Waits for `child` to end (feeding `stdin` if given), failing the test after `secs`.
pub async fn finish_child(mut child: Child, stdin: Option<&str>, secs: u64) -> Out {
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A command that refuses its arguments exits before reading stdin: the pipe is
        // then closed under us, which is its answer, not a test failure.
        match pipe.write_all(text.as_bytes()).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("writing the child's stdin: {e}"),
        }
        drop(pipe);
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let run = async {
        let mut o = String::new();
        let mut e = String::new();
        let (r1, r2, st) = tokio::join!(
            out.read_to_string(&mut o),
            err.read_to_string(&mut e),
            child.wait()
        );
        r1.unwrap();
        r2.unwrap();
        (st.unwrap(), o, e)
    };
    let (status, stdout, stderr) = tokio::time::timeout(Duration::from_secs(secs), run)
        .await
        .unwrap_or_else(|_| panic!("assent did not finish within {secs} s"));
    Out {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// Sends `signal` (e.g. "TERM") to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    super::server::send_signal(pid, signal).unwrap_or_else(|e| panic!("{e:#}"));
}
