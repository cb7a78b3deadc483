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

/// A filing policy for the agent-side tests: one rule per outcome, chosen by tool name
/// (or agent name, for audit), so that a test picks the outcome with `--tool`.
pub const POLICY: &str = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "safe-tools"
tool = "safe.*"
action = "allow"
message = "Safe tools run at once."

[[policy.rules]]
name = "never-drop"
tool = "db.drop*"
action = "deny"
message = "Dropping tables is never allowed."

[[policy.rules]]
name = "big-refunds"
tool = "refund.big"
action = "require_approval"
message = "Refunds over $1000 need a manager."

[[policy.rules]]
name = "watch-interns"
agent = "intern-*"
action = "audit"
message = "New agent: reviewed after the fact."
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

    /// A fresh server with an in-memory store and [`POLICY`].
    pub async fn with_policy() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::spawn_with(&dir, "127.0.0.1:0", ":memory:", POLICY).await;
        s._tmp = Some(tmp);
        s
    }

    /// A server on `listen` with its store in `dir/assent.db` (for restarts).
    pub async fn spawn(dir: &Path, listen: &str, db: &str) -> Server {
        Server::spawn_with(dir, listen, db, "").await
    }

    /// As `spawn`, with `extra` appended to the config (a `[policy]` table, say).
    pub async fn spawn_with(dir: &Path, listen: &str, db: &str, extra: &str) -> Server {
        let cfg = dir.join("server.toml");
        std::fs::write(&cfg, format!("{CONFIG}\n{extra}")).unwrap();
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
#[cfg(unix)]
pub fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}

/// What a [`Proxy`] does to the traffic it forwards.
#[derive(Debug, Clone, Default)]
pub struct Tamper {
    /// Rewrite the `args_hash` of every `GET /v1/requests/{id}` answer to this.
    pub args_hash: Option<String>,
    /// Hold the answer to the first `POST /v1/requests` this long (after the server has
    /// filed it), as a slow network would.
    pub delay_first_filing: Option<Duration>,
}

/// A loopback HTTP proxy in front of a real server that changes answers as told: for
/// tests of what the client does with what it receives. Stops when dropped.
pub struct Proxy {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: &str, tamper: Tamper) -> Proxy {
        use axum::body::Body;
        use axum::extract::Request;
        use axum::response::Response;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let http = reqwest::Client::new();
        let upstream = upstream.to_owned();
        let delayed = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new().fallback(move |req: Request| {
            let (http, upstream, tamper, delayed) = (
                http.clone(),
                upstream.clone(),
                tamper.clone(),
                delayed.clone(),
            );
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
                let path = parts.uri.path().to_owned();
                let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut rb = http
                    .request(parts.method.clone(), format!("{upstream}{pq}"))
                    .body(body.to_vec());
                for (k, v) in &parts.headers {
                    if k != "host" && k != "content-length" {
                        rb = rb.header(k, v);
                    }
                }
                let resp = rb.send().await.unwrap();
                let status = resp.status();
                let mut bytes = resp.bytes().await.unwrap().to_vec();
                let is_get_one = parts.method == reqwest::Method::GET
                    && path.starts_with("/v1/requests/")
                    && path.matches('/').count() == 3;
                if let (true, Some(h)) = (is_get_one && status.is_success(), &tamper.args_hash) {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    v["args_hash"] = serde_json::json!(h);
                    bytes = serde_json::to_vec(&v).unwrap();
                }
                if parts.method == reqwest::Method::POST
                    && path == "/v1/requests"
                    && let Some(d) = tamper.delay_first_filing
                    && !delayed.swap(true, Ordering::SeqCst)
                {
                    tokio::time::sleep(d).await;
                }
                Response::builder()
                    .status(status.as_u16())
                    .header("content-type", "application/json")
                    .body(Body::from(bytes))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
            task,
        }
    }
}
