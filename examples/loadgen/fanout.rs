//! SSE fan-out: N subscribed consoles on `GET /v1/events`, each parsing the stream the
//! way the console does (eventsource-stream, then the `Event` JSON). The agent files
//! requests at a steady pace; the latency of one delivery is from just before the filing
//! POST to the moment that subscriber has parsed the event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assent::protocol::{Event, EventKind};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::task::JoinSet;

use crate::measure::{Summary, summarize};
use crate::server::{AGENT, REVIEWER, Server};
use crate::workload;

pub struct Result {
    pub subscribers: usize,
    pub events: u64,
    pub delivered: usize,
    pub latency: Summary,
}

pub async fn run(
    server: &Server,
    subscribers: usize,
    events: u64,
    gap: Duration,
) -> anyhow::Result<Result> {
    run_between(server, server, subscribers, events, gap).await
}

/// As [`run`], the subscribers on `streams` and the filings on `files` (two instances on
/// one database: the figure is then the cross-instance delivery).
pub async fn run_between(
    streams: &Server,
    files: &Server,
    subscribers: usize,
    events: u64,
    gap: Duration,
) -> anyhow::Result<Result> {
    let reviewer = streams.client(REVIEWER)?;
    let agent = files.client(AGENT)?;
    let started: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let mut subs = JoinSet::new();
    for _ in 0..subscribers {
        let reviewer = reviewer.clone();
        let open_tx = open_tx.clone();
        subs.spawn(async move {
            let resp = reviewer.events(None).await?;
            let _ = open_tx.send(()).await;
            let mut stream = Box::pin(resp.bytes_stream().eventsource());
            let mut got: Vec<(String, Instant)> = Vec::with_capacity(events as usize);
            while (got.len() as u64) < events {
                let Some(next) = stream.next().await else {
                    bail!("an event stream ended early");
                };
                let sse = next.map_err(|e| anyhow::anyhow!("event stream broke: {e}"))?;
                let ev: Event = serde_json::from_str(&sse.data)?;
                if ev.kind == EventKind::RequestCreated
                    && let Some(call) = ev.request.and_then(|r| r.tool_call_id)
                {
                    got.push((call, Instant::now()));
                }
            }
            anyhow::Ok(got)
        });
    }
    drop(open_tx);
    for _ in 0..subscribers {
        tokio::time::timeout(Duration::from_secs(30), open_rx.recv())
            .await
            .context("the subscribers did not all connect within 30 s")?
            .context("a subscriber failed to connect")?;
    }
    for k in 0..events {
        let mut new = workload::new_request(3_000_000 + k);
        let call = format!("fanout-{k}");
        new.tool_call_id = Some(call.clone());
        started
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .insert(call, Instant::now());
        agent.file(&new, None).await?;
        tokio::time::sleep(gap).await;
    }
    let started = started
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
        .clone();
    let mut samples = Vec::with_capacity(subscribers * events as usize);
    let collect = async {
        while let Some(r) = subs.join_next().await {
            for (call, at) in r?? {
                if let Some(t0) = started.get(&call) {
                    samples.push(at.saturating_duration_since(*t0));
                }
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .context("the subscribers did not receive every event within 60 s")??;
    Ok(Result {
        subscribers,
        events,
        delivered: samples.len(),
        latency: summarize(samples),
    })
}
