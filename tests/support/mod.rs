//! Shared by the agent-side integration tests (gate, hook, cli): a real `assent serve`
//! process on loopback, and the real `assent` binary run against it with a time bound.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use assent::client::Client;
use assent::config::ClientSettings;
use assent::protocol::{ApprovalRequest, Status};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_assent");

pub const REVIEWER: &str = "alice-reviewer-token";
pub const REVIEWER2: &str = "bob-reviewer-token";
pub const AGENT: &str = "agent-one-token";
pub const ADMIN: &str = "root-admin-token";

const CONFIG: &str = r#"
[[server.tokens]]
name = "alice"
role = "reviewer"
token = "alice-reviewer-token"

[[server.tokens]]
name = "bob"
role = "reviewer"
token = "bob-reviewer-token"

[[server.tokens]]
name = "agent-one"
role = "agent"
token = "agent-one-token"

[[server.tokens]]
name = "root"
role = "admin"
token = "root-admin-token"
"#;

/// A real `assent serve` child process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub addr: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh server with an in-memory store.
    pub async fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::spawn(&dir, "127.0.0.1:0", ":memory:").await;
        s._tmp = Some(tmp);
        s
    }

    /// A server on `listen` with its store in `dir/assent.db` (for restarts).
    pub async fn spawn(dir: &Path, listen: &str, db: &str) -> Server {
        let cfg = dir.join("server.toml");
        std::fs::write(&cfg, CONFIG).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--db", db, "--config"])
            .arg(&cfg)
            .env("ASSENT_LOG_DIR", dir.join("logs"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn assent serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("assent serve did not say where it listens within 20 s")
            .unwrap()
            .expect("assent serve exited before listening");
        let url = line
            .strip_prefix("assent: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim()
            .to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            url,
            addr,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }

    pub fn client(&self, token: &str) -> Client {
        client(&self.url, token)
    }

    /// The pending requests, once there are `n` of them (bounded wait).
    pub async fn pending(&self, n: usize) -> Vec<ApprovalRequest> {
        let c = self.client(REVIEWER);
        for _ in 0..200 {
            let list = c.list(Some(Status::Pending), None, None).await.unwrap();
            if list.requests.len() >= n {
                return list.requests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} pending requests after 10 s");
    }

    /// Every request in the store.
    pub async fn all(&self) -> Vec<ApprovalRequest> {
        self.client(REVIEWER).list_all(None).await.unwrap().requests
    }
}

pub fn client(url: &str, token: &str) -> Client {
    Client::new(&ClientSettings {
        url: url.to_owned(),
        token: Some(token.to_owned()),
    })
    .unwrap()
}

/// A loopback URL where nothing listens.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
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

pub async fn finish_child(mut child: Child, stdin: Option<&str>, secs: u64) -> Out {
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.unwrap();
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
