//! A webhook receiver on 127.0.0.1 for the tests: it answers each POST as its plan says
//! (a status, or no answer at all), keeps what it was sent, and checks Standard Webhooks
//! signatures with the specification's own library. Changes when a test needs a receiver
//! to behave another way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// How the receiver answers one POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Status(u16),
    /// Never answers (the sender's timeout ends it).
    Hang,
}

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Checks the signature with `secret`, as any Standard Webhooks receiver would.
    pub fn verify(&self, secret: &str) -> Result<(), String> {
        let wh = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
        wh.verify(&self.body, &self.headers)
            .map_err(|e| e.to_string())
    }
}

struct Shared {
    plan: Mutex<VecDeque<Reply>>,
    then: Mutex<Reply>,
    got: Mutex<Vec<Received>>,
}

/// A running receiver; it stops when dropped.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.got.lock().unwrap().push(Received {
        headers,
        body,
        at: Instant::now(),
    });
    let next = s.plan.lock().unwrap().pop_front();
    let reply = next.unwrap_or_else(|| *s.then.lock().unwrap());
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
        Reply::Hang => std::future::pending().await,
    }
}

impl Receiver {
    /// Answers as `plan` says, one reply per POST, and then always `then`.
    pub async fn start(plan: &[Reply], then: Reply) -> Receiver {
        Self::on("127.0.0.1:0", plan, then).await
    }

    /// As [`Receiver::start`], on `addr`.
    pub async fn on(addr: &str, plan: &[Reply], then: Reply) -> Receiver {
        let shared = Arc::new(Shared {
            plan: Mutex::new(plan.iter().copied().collect()),
            then: Mutex::new(then),
            got: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(take)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, shared, task }
    }

    /// From now on, answers every POST with `reply`.
    pub fn answer(&self, reply: Reply) {
        self.shared.plan.lock().unwrap().clear();
        *self.shared.then.lock().unwrap() = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// What it was sent, once that is at least `n` POSTs (failing the test otherwise).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        super::eventually(&format!("{n} webhook POSTs"), within, || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// A `whsec_` secret for the tests (24 bytes, as the specification's examples).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A `[[notify.webhooks]]` table for a config file: `name` at `url`, signed with
/// [`SECRET`] from the file `secret_file`, with `extra` TOML lines.
pub fn webhook_toml(name: &str, url: &str, secret_file: &std::path::Path, extra: &str) -> String {
    format!(
        "\n[[notify.webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret_file = \"{}\"\n{extra}\n",
        secret_file.display()
    )
}
