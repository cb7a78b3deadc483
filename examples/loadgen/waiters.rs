//! N agents long-polling `GET /v1/requests/{id}/wait` at once, each on its own request
//! and its own connection. The server's CPU is read from /proc while nobody waits and
//! again while all N wait; then every request is approved and each waiter must answer
//! with the decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assent::protocol::{DecisionBody, Scope, Status, Verdict};
use futures::StreamExt;
use tokio::task::JoinSet;

use crate::measure::{Summary, core_percent, open_fds, summarize};
use crate::server::{AGENT, REVIEWER, Server};

pub struct Result {
    pub waiters: usize,
    pub idle_cpu: f64,
    pub waiting_cpu: f64,
    pub answered: usize,
    pub decide_all: Duration,
    pub answer: Summary,
}

async fn server_cpu(server: &Server, window: Duration) -> anyhow::Result<f64> {
    let t0 = server.cpu_ticks()?;
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let ticks = server.cpu_ticks()?.saturating_sub(t0);
    Ok(core_percent(ticks, start.elapsed()))
}

pub async fn run(server: &Server, window: Duration) -> anyhow::Result<Result> {
    let n = server.ids.len();
    let agent = server.client(AGENT)?;
    let reviewer = server.client(REVIEWER)?;
    // Settle after start-up, then the baseline: the server with nobody waiting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_cpu = server_cpu(server, window).await?;

    let fds_before = open_fds(server.serve.pid);
    let decided_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut set = JoinSet::new();
    // Connect in waves, so the listen backlog is not the thing measured.
    for chunk in server.ids.chunks(500) {
        for id in chunk {
            let (agent, id) = (agent.clone(), id.clone());
            set.spawn(async move {
                let r = agent.wait(&id, 300).await;
                (id, r, Instant::now())
            });
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let connected = Instant::now();
    while open_fds(server.serve.pid) < fds_before + n {
        if connected.elapsed() > Duration::from_secs(60) {
            bail!(
                "only {} of {n} waiters connected within 60 s",
                open_fds(server.serve.pid).saturating_sub(fds_before)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every connection is accepted; let the handlers register, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting_cpu = server_cpu(server, window).await?;

    let start = Instant::now();
    let marks = Arc::clone(&decided_at);
    let decisions = futures::stream::iter(server.ids.iter().cloned())
        .map(|id| {
            let (reviewer, marks) = (reviewer.clone(), Arc::clone(&marks));
            async move {
                let got = reviewer.get(&id).await?;
                if let Ok(mut m) = marks.lock() {
                    m.insert(id.clone(), Instant::now());
                }
                let body = DecisionBody {
                    outcome: Verdict::Approve,
                    scope: Scope::Once,
                    reason: None,
                    notify_agent: false,
                    args_hash: got.args_hash,
                    grant_ttl_seconds: None,
                    grant_max_uses: None,
                    params: None,
                };
                reviewer.decide(&id, &body).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32);
    let results: Vec<anyhow::Result<()>> = decisions.collect().await;
    for r in results {
        r?;
    }
    let decide_all = start.elapsed();

    let mut answers = Vec::with_capacity(n);
    let collect = async {
        while let Some(j) = set.join_next().await {
            let (id, r, at) = j?;
            let req = r.with_context(|| format!("the wait on {id} failed"))?;
            if req.status != Status::Approved {
                bail!(
                    "the wait on {id} answered {} instead of approved",
                    req.status
                );
            }
            answers.push((id, at));
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .context("not every waiter was answered within 60 s of the decisions")??;
    let marks = decided_at
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
    let lat: Vec<Duration> = answers
        .iter()
        .filter_map(|(id, at)| marks.get(id).map(|t| at.saturating_duration_since(*t)))
        .collect();
    Ok(Result {
        waiters: n,
        idle_cpu,
        waiting_cpu,
        answered: answers.len(),
        decide_all,
        answer: summarize(lat),
    })
}
