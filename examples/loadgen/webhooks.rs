//! Webhooks (issue 13): how long from a filing to its delivery at a healthy receiver on
//! 127.0.0.1, and what one receiver that never answers costs the filings (their rate with
//! it against none). Each filing's time is taken when it is sent, so the latency counts
//! the filing's own round trip too: an upper bound of commit → received.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use crate::measure::{Summary, summarize};
use crate::server::{AGENT, Server};
use crate::workload;

/// A `whsec_` secret for the run.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// A receiver on 127.0.0.1: records when each request's delivery arrived and answers 200,
/// or (`hang`) never answers. Its URL.
async fn receiver(seen: Seen, hang: bool) -> anyhow::Result<String> {
    async fn take(State((seen, hang)): State<(Seen, bool)>, body: Bytes) -> StatusCode {
        let at = Instant::now();
        if hang {
            std::future::pending::<()>().await;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(id) = v["data"]["request"]["id"].as_str() {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.to_owned(), at);
        }
        StatusCode::OK
    }
    let app = axum::Router::new().fallback(take).with_state((seen, hang));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// The `[notify]` of a server that sends every filing to `url`, its secret in `dir`.
fn notify_to(dir: &Path, url: &str) -> anyhow::Result<String> {
    let secret = dir.join("hook.secret");
    std::fs::write(&secret, SECRET)?;
    Ok(format!(
        "\n[[notify.webhooks]]\nname = \"bench\"\nurl = \"{url}\"\nsecret_file = \"{}\"\n",
        secret.display()
    ))
}

/// Filing sent → its webhook received, for `n` filings one after another (a pause of
/// `gap` between them).
pub async fn latency(bin: &Path, n: u64, gap: Duration) -> anyhow::Result<Summary> {
    let seen: Seen = Arc::default();
    let url = receiver(Arc::clone(&seen), false).await?;
    let server = Server::start_with(bin, |dir| notify_to(dir, &url)).await?;
    let agent = server.client(AGENT)?;
    let mut sent = HashMap::new();
    for i in 0..n {
        let t = Instant::now();
        let filed = agent.file(&workload::new_request(i), None).await?;
        sent.insert(filed.request.id, t);
        tokio::time::sleep(gap).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if sent.keys().all(|id| got.contains_key(id)) {
            let lat = sent
                .iter()
                .map(|(id, t)| got[id].saturating_duration_since(*t))
                .collect();
            return Ok(summarize(lat));
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} of {n} deliveries arrived within 30 s",
                sent.keys().filter(|id| got.contains_key(*id)).count()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Filings + decisions per second with `clients`, on a server with no webhook, and on
/// one whose only webhook's receiver never answers: the median of `rounds` runs of each,
/// taken in turn (one alone swings by a third on a shared VM, which would hide or fake
/// the difference).
pub async fn hanging(
    bin: &Path,
    clients: usize,
    for_: Duration,
    rounds: usize,
) -> anyhow::Result<(f64, f64)> {
    let url = receiver(Arc::default(), true).await?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let none = Server::start(bin, 0).await?;
        without.push(crate::throughput::run(&none, clients, for_).await?.per_sec);
        drop(none);
        let stuck = Server::start_with(bin, |dir| notify_to(dir, &url)).await?;
        with.push(crate::throughput::run(&stuck, clients, for_).await?.per_sec);
        drop(stuck);
    }
    Ok((median(without), median(with)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
