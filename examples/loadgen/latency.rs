//! Filing → visible in a running console, over the stream path.
//!
//! The console side is the console's own code: its network task (`console::stream`,
//! which lists, then streams `GET /v1/events` and parses the SSE) feeding its pure
//! `update`, and a frame drawn by its `view` into a 200x50 buffer after each batch,
//! exactly as the driver does. A request counts as visible when the frame drawn after
//! applying its event is done. The agent side files one request at a time (the next once
//! the previous is visible), timing from just before the POST.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assent::config::Transport;
use assent::console::action::Msg;
use assent::console::keymap::Keymap;
use assent::console::model::{Settings, State};
use assent::console::stream::{StreamSettings, Task};
use assent::console::{update::update, view};
use assent::protocol::EventKind;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use crate::measure::{Summary, summarize};
use crate::server::{AGENT, REVIEWER, Server};
use crate::workload;

pub struct Result {
    pub visible: Summary,
}

type Started = Arc<Mutex<HashMap<String, Instant>>>;

pub async fn run(server: &Server, filings: u64, already: u64) -> anyhow::Result<Result> {
    let reviewer = server.client(REVIEWER)?;
    let agent = server.client(AGENT)?;
    let started: Started = Arc::default();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, Duration)>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();

    // The console: its stream task and a loop like its driver's (batch, update, draw).
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let (_cmd_tx, cmd_rx) = mpsc::channel(8);
    let task = tokio::spawn(
        Task::new(
            reviewer,
            StreamSettings {
                transport: Transport::Sse,
                poll_interval: Duration::from_secs(2),
                // As the console streams.
                params_max_bytes: Some(assent::config::DEFAULT_PARAMS_MAX_BYTES),
            },
            tx,
            cmd_rx,
        )
        .run(),
    );
    let marks = Arc::clone(&started);
    let console = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut state = State::new(
            Settings {
                backend: "bench".into(),
                bell: false,
                no_color: false,
                keymap: Keymap::default(),
            },
            chrono::Utc::now(),
            200,
            50,
        );
        let mut term = Terminal::new(TestBackend::new(200, 50))?;
        let mut ready = Some(ready_tx);
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let mut created = Vec::new();
            for msg in batch {
                if let Msg::Event(ev) = &msg
                    && ev.kind == EventKind::RequestCreated
                    && let Some(call) = ev.request.as_ref().and_then(|r| r.tool_call_id.clone())
                {
                    created.push(call);
                }
                update(&mut state, msg);
            }
            term.draw(|f| {
                view::draw(&state, f);
            })?;
            let done = Instant::now();
            if state.pending_count() as u64 >= already
                && let Some(r) = ready.take()
            {
                let _ = r.send(());
            }
            let mut marks = marks.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
            for call in created {
                if let Some(t0) = marks.remove(&call) {
                    let _ = seen_tx.send((call, done - t0));
                }
            }
        }
        Ok(())
    });

    tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .context("the console did not load the pending queue within 60 s")?
        .context("the console stopped before loading")?;

    let mut samples = Vec::with_capacity(filings as usize);
    for k in 0..filings {
        let mut new = workload::new_request(1_000_000 + k);
        let call = format!("latency-{k}");
        new.tool_call_id = Some(call.clone());
        started
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .insert(call.clone(), Instant::now());
        agent.file(&new, None).await?;
        match tokio::time::timeout(Duration::from_secs(10), seen_rx.recv()).await {
            Ok(Some((seen, d))) if seen == call => samples.push(d),
            Ok(Some((seen, _))) => bail!("expected {call} on the console, saw {seen}"),
            Ok(None) => bail!("the console stopped"),
            Err(_) => bail!("filing {k} did not reach the console within 10 s"),
        }
        // A little air between filings, as agents file independently of each other.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), console).await;
    Ok(Result {
        visible: summarize(samples),
    })
}
