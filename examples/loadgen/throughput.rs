//! Server filings + decisions per second on SQLite (`synchronous = full`), with N
//! concurrent clients. Each client is an agent and a reviewer in a loop: file a request,
//! then approve it with the args_hash it came back with. Every call is counted once it
//! answered with success; any failure stops the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assent::protocol::{DecisionBody, Scope, Verdict};
use tokio::task::JoinSet;

use crate::measure::{Summary, summarize};
use crate::server::{AGENT, REVIEWER, Server};
use crate::workload;

pub struct Result {
    pub clients: usize,
    pub ops: u64,
    pub per_sec: f64,
    pub call: Summary,
}

pub async fn run(server: &Server, clients: usize, for_: Duration) -> anyhow::Result<Result> {
    run_over(&[server], clients, for_).await
}

/// As [`run`], client `i` on `servers[i % len]` (instances sharing one database).
pub async fn run_over(
    servers: &[&Server],
    clients: usize,
    for_: Duration,
) -> anyhow::Result<Result> {
    let next = Arc::new(AtomicU64::new(2_000_000 + 1_000_000 * clients as u64));
    let start = Instant::now();
    let deadline = start + for_;
    let mut set = JoinSet::new();
    for c in 0..clients {
        let server = servers
            .get(c % servers.len().max(1))
            .ok_or_else(|| anyhow::anyhow!("no server to load"))?;
        let agent = server.client(AGENT)?;
        let reviewer = server.client(REVIEWER)?;
        let next = Arc::clone(&next);
        set.spawn(async move {
            let mut ops = 0u64;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let filed = agent.file(&workload::new_request(i), None).await?;
                lat.push(t.elapsed());
                let body = DecisionBody {
                    outcome: Verdict::Approve,
                    scope: Scope::Once,
                    reason: None,
                    notify_agent: false,
                    args_hash: filed.request.args_hash.clone(),
                    grant_ttl_seconds: None,
                    grant_max_uses: None,
                    params: None,
                };
                let t = Instant::now();
                reviewer.decide(&filed.request.id, &body).await?;
                lat.push(t.elapsed());
                ops += 2;
            }
            anyhow::Ok((ops, lat))
        });
    }
    let mut ops = 0;
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        let (n, l) = r??;
        ops += n;
        lat.extend(l);
    }
    let elapsed = start.elapsed();
    Ok(Result {
        clients,
        ops,
        per_sec: ops as f64 / elapsed.as_secs_f64(),
        call: summarize(lat),
    })
}
