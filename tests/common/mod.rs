//! Test harness shared by the integration tests: the real server, in-process on
//! 127.0.0.1:0 or as the `assent serve` binary, with a fixed set of identities.
//!
//! Use it from a test file with `mod common;`. Not every test file uses every helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use assent::config::{ServerConfig, TokenConfig};
use assent::protocol::{NewRequest, Role};
use assent::server::ServerHandle;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const ALICE: &str = "alice-token-0001";
pub const BOB: &str = "bob-token-0001";
pub const AGENT1: &str = "agent1-token-0001";
pub const AGENT2: &str = "agent2-token-0001";
pub const ROOT: &str = "root-token-0001";

/// The identities every test server knows: (name, role, token).
pub const IDENTITIES: [(&str, Role, &str); 5] = [
    ("alice", Role::Reviewer, ALICE),
    ("bob", Role::Reviewer, BOB),
    ("agent1", Role::Agent, AGENT1),
    ("agent2", Role::Agent, AGENT2),
    ("root", Role::Admin, ROOT),
];

pub fn token(name: &str, role: Role, token: &str) -> TokenConfig {
    TokenConfig {
        name: name.to_owned(),
        role,
        token: Some(token.to_owned()),
        token_sha256: None,
    }
}

pub fn tokens() -> Vec<TokenConfig> {
    IDENTITIES.iter().map(|(n, r, t)| token(n, *r, t)).collect()
}

/// A server config for tests: loopback, free port, the test identities, `db`.
pub fn config(db: &str) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".to_owned(),
        db: Some(db.to_owned()),
        tokens: tokens(),
        ..ServerConfig::default()
    }
}

/// A fresh database file in a temporary directory (deleted when the TempDir drops): start
/// a server on it, shut it down, start another on the same path.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("assent.db");
    (dir, path)
}

/// The real server, in-process.
pub struct TestServer {
    handle: Option<ServerHandle>,
    pub url: String,
}

impl TestServer {
    /// On an in-memory store.
    pub async fn start() -> TestServer {
        Self::start_with(config(":memory:")).await
    }

    /// On the SQLite file `path` (restart tests start twice on the same file).
    pub async fn start_on(path: &Path) -> TestServer {
        Self::start_with(config(path.to_str().expect("utf-8 temp path"))).await
    }

    /// With a config changed by `f` (e.g. a short TTL or a small body limit).
    pub async fn start_configured(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut cfg = config(":memory:");
        f(&mut cfg);
        Self::start_with(cfg).await
    }

    pub async fn start_with(cfg: ServerConfig) -> TestServer {
        let handle = assent::server::start(cfg).await.expect("server starts");
        let url = handle.url();
        TestServer {
            handle: Some(handle),
            url,
        }
    }

    /// A plain reqwest client that sends `Authorization: Bearer TOKEN` on every request.
    pub fn client(&self, token: &str) -> reqwest::Client {
        reqwest_client(token)
    }

    /// Raw HTTP as the holder of `token`.
    pub fn http(&self, token: &str) -> Http {
        Http::new(&self.url, Some(token))
    }

    /// Raw HTTP with no Authorization header.
    pub fn anonymous(&self) -> Http {
        Http::new(&self.url, None)
    }

    /// The crate's own API client as the holder of `token`.
    pub fn api(&self, token: &str) -> assent::client::Client {
        api_client(&self.url, token)
    }

    pub async fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A reqwest client with `Authorization: Bearer TOKEN` as a default header.
pub fn reqwest_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn api_client(url: &str, token: &str) -> assent::client::Client {
    assent::client::Client::new(&assent::config::ClientSettings {
        url: url.to_owned(),
        token: Some(token.to_owned()),
    })
    .expect("client")
}

/// A small HTTP helper that returns (status, JSON body) and never panics on an error
/// status, so tests can assert on both.
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub token: Option<String>,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str, token: Option<&str>) -> Http {
        Http {
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self
            .client
            .request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::POST, path)).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Files `body` and asserts 201; returns the request.
    pub async fn file(&self, body: &Value) -> Value {
        let (status, v) = self.post("/v1/requests", body).await;
        assert_eq!(status, StatusCode::CREATED, "filing failed: {v}");
        v
    }

    /// Decides `req` (as returned by the server) with its own args_hash.
    pub async fn decide(&self, req: &Value, outcome: &str, scope: &str) -> (StatusCode, Value) {
        let id = req["id"].as_str().expect("request id");
        self.post(
            &format!("/v1/requests/{id}/decision"),
            &serde_json::json!({
                "outcome": outcome,
                "scope": scope,
                "args_hash": req["args_hash"],
                "notify_agent": false,
            }),
        )
        .await
    }
}

/// A minimal filing body.
pub fn new_request(tool: &str, agent: &str) -> NewRequest {
    NewRequest {
        tool: tool.to_owned(),
        params: serde_json::json!({"order_id": "A-1001", "amount": 250}),
        reason: Some("customer reported damage".to_owned()),
        agent: agent.to_owned(),
        conversation_id: None,
        run_id: None,
        tool_call_id: None,
        risk: None,
        ttl_seconds: None,
    }
}

/// One parsed SSE event: (id, event name, data JSON).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// An open `GET /v1/events` stream, parsed with eventsource-stream.
pub struct SseStream {
    inner: std::pin::Pin<
        Box<
            dyn futures::Stream<
                    Item = Result<
                        eventsource_stream::Event,
                        eventsource_stream::EventStreamError<reqwest::Error>,
                    >,
                > + Send,
        >,
    >,
}

impl SseStream {
    /// Opens the stream as `token`, resuming after `last_event_id` (header) if given.
    pub async fn open(url: &str, token: &str, last_event_id: Option<u64>) -> SseStream {
        Self::open_with(url, token, last_event_id, None).await
    }

    /// Opens with the `Last-Event-ID` header and/or the `?after=` query.
    pub async fn open_with(
        url: &str,
        token: &str,
        last_event_id: Option<u64>,
        after: Option<u64>,
    ) -> SseStream {
        use eventsource_stream::Eventsource;
        let mut rb = reqwest::Client::new()
            .get(format!("{url}/v1/events"))
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id.to_string());
        }
        if let Some(a) = after {
            rb = rb.query(&[("after", a)]);
        }
        let resp = rb.send().await.expect("events request");
        assert_eq!(resp.status(), StatusCode::OK, "events stream refused");
        SseStream {
            inner: Box::pin(resp.bytes_stream().eventsource()),
        }
    }

    /// The next event, or None if none arrives within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        use futures::StreamExt;
        let ev = tokio::time::timeout(within, self.inner.next())
            .await
            .ok()??;
        let ev = ev.expect("well-formed SSE");
        Some(SseEvent {
            id: ev.id.parse().expect("numeric event id"),
            event: ev.event,
            data: serde_json::from_str(&ev.data).expect("JSON data"),
        })
    }

    /// The next `n` events, each within 5 s; panics if they do not come.
    pub async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ev = self
                .next_within(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("event {} of {n} did not arrive", i + 1));
            out.push(ev);
        }
        out
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Writes a config file with the test identities (and `extra` TOML under [server]).
pub fn write_config(dir: &Path, extra_server: &str) -> PathBuf {
    let mut text = format!("[server]\n{extra_server}\n");
    for (name, role, tok) in IDENTITIES {
        let role = match role {
            Role::Agent => "agent",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        };
        text.push_str(&format!(
            "\n[[server.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken = \"{tok}\"\n"
        ));
    }
    let path = dir.join("assent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The `assent serve` binary, running. Killed (SIGKILL) when dropped.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub url: String,
    pub stderr_path: PathBuf,
}

impl ServeProcess {
    /// Spawns `assent serve --config CONFIG --db DB --listen 127.0.0.1:0` and reads the
    /// bound address from its one stdout line. Logs go to `<log_dir>/serve-N.log`.
    pub async fn spawn(config: &Path, db: &str, log_dir: &Path) -> ServeProcess {
        let args = ["--config", path_str(config), "--db", db];
        Self::spawn_with(&args, &[], log_dir).await
    }

    /// Spawns `assent serve --listen 127.0.0.1:0 ARGS…` with extra environment variables.
    pub async fn spawn_with(args: &[&str], envs: &[(&str, &str)], log_dir: &Path) -> ServeProcess {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stderr_path = log_dir.join(format!("serve-{n}.log"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_assent"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .env("ASSENT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn assent serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "assent serve printed no address; its stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            });
        let url = line
            .strip_prefix("assent: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        ServeProcess {
            child,
            url,
            stderr_path,
        }
    }

    pub fn http(&self, token: &str) -> Http {
        Http::new(&self.url, Some(token))
    }

    /// kill -9, and wait for the process to be gone.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, and the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(ok.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("serve exits after SIGTERM")
            .unwrap()
    }
}
