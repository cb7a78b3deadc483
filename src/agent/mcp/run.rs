//! The driver: runs the wrapped server, moves lines between it and the client through
//! the [`Session`], and carries out the session's effects (writes, held calls).
//!
//! Every source of work is a task sending [`Event`]s to one loop, which owns the session
//! and never waits on IO itself: writes go through unbounded channels to writer tasks,
//! so a peer that stops reading can never stall the other direction. Several held calls
//! wait at once, each in its own task, and answers go back in whatever order they come.
//!
//! How it ends: the server's exit ends the gateway, with the server's exit code, once its
//! last output has reached the client. The client closing our stdin closes the server's,
//! and the server gets [`SERVER_GRACE`] to exit before it is killed. A stop signal does
//! the same, and exits 128 + N. Either way, held requests are taken back first.

use std::collections::HashMap;
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{AnyDelimiterCodecError, FramedRead};

use super::framing::{self, PARSE_ERROR};
use super::hold;
use super::session::{Effect, HoldEnd, Session};
use crate::agent::filing;
use crate::agent::stop::{Stop, StopSignals};
use crate::client::Client;
use crate::sanitize;

/// How long the server may take to exit once its stdin is closed, before it is killed.
pub const SERVER_GRACE: Duration = Duration::from_secs(2);

/// Room in the event queue: when it is full the readers stop reading, which holds the
/// peers back instead of taking memory.
const EVENTS: usize = 1024;

enum Event {
    Client(Bytes),
    ClientTooLong,
    ClientEof,
    Server(Bytes),
    ServerEof,
    Exited(std::io::Result<ExitStatus>),
    Held(String, HoldEnd),
    Stop(Stop),
}

/// Why the gateway is ending.
#[derive(Debug, Clone, Copy)]
enum Ending {
    ClientGone,
    ServerGone,
    Stopped(Stop),
}

/// Runs the session until the server or the client is gone, or a signal stops it.
pub async fn run(
    client: Client,
    mut session: Session,
    wait: Duration,
    mut child: Child,
) -> ExitCode {
    let (tx, mut rx) = mpsc::channel::<Event>(EVENTS);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        eprintln!("assent: the MCP server's pipes could not be opened");
        return ExitCode::from(super::EXIT_SETUP);
    };
    let mut to_server = Some(Writer::spawn(stdin));
    let to_client = Writer::spawn(tokio::io::stdout());
    read_lines(
        tokio::io::stdin(),
        tx.clone(),
        Event::Client,
        Some(|| Event::ClientTooLong),
        Event::ClientEof,
    );
    read_lines(stdout, tx.clone(), Event::Server, None, Event::ServerEof);
    log_stderr(stderr);
    let mut kill = Some(watch_exit(child, tx.clone()));
    watch_signals(tx.clone());

    let mut holds = Holds::default();
    let mut ending: Option<Ending> = None;
    let mut exited: Option<std::io::Result<ExitStatus>> = None;
    let mut server_eof = false;
    let mut killed = false;
    // When the server must have exited by (else it is killed), and when the end may wait
    // no longer for the server's last output and the held requests' take-backs.
    let mut kill_at: Option<Instant> = None;
    let mut give_up_at: Option<Instant> = None;

    loop {
        if exited.is_some() && server_eof && holds.is_empty() {
            break;
        }
        let ev = match [kill_at, give_up_at].into_iter().flatten().min() {
            Some(d) => tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::time::sleep_until(d) => None,
            },
            None => rx.recv().await,
        };
        let Some(ev) = ev else {
            // A deadline passed (the channel itself never closes: this loop holds a sender).
            let now = Instant::now();
            if kill_at.is_some_and(|k| now >= k) {
                kill_at = None;
                if let Some(k) = kill.take() {
                    tracing::warn!(
                        "the MCP server did not exit within {SERVER_GRACE:?} of its stdin closing; killing it"
                    );
                    killed = true;
                    let _ = k.send(());
                }
            }
            if give_up_at.is_some_and(|g| now >= g) {
                if !holds.is_empty() {
                    tracing::warn!("{} held requests were not taken back in time", holds.len());
                }
                break;
            }
            continue;
        };
        let effects = match ev {
            Event::Client(line) => {
                tracing::trace!(bytes = line.len(), "from the client");
                session.from_client(line)
            }
            Event::Server(line) => {
                tracing::trace!(bytes = line.len(), "from the server");
                session.from_server(line)
            }
            Event::Held(key, end) => {
                holds.ended(&key);
                session.hold_ended(&key, end)
            }
            Event::ClientTooLong => {
                tracing::warn!(
                    "refused a client message over {} bytes",
                    framing::MAX_MESSAGE_BYTES
                );
                let text = format!(
                    "assent mcp: a message over {} bytes; not passed on",
                    framing::MAX_MESSAGE_BYTES
                );
                to_client.send(Bytes::from(framing::rpc_error(None, PARSE_ERROR, &text)));
                Vec::new()
            }
            Event::ClientEof => {
                tracing::info!("the client closed stdin; closing the server's");
                ending.get_or_insert(Ending::ClientGone);
                holds.release_all();
                // Dropping the writer closes the server's stdin once what was sent is written.
                to_server = None;
                kill_at.get_or_insert(Instant::now() + SERVER_GRACE);
                Vec::new()
            }
            Event::ServerEof => {
                server_eof = true;
                Vec::new()
            }
            Event::Exited(status) => {
                match &status {
                    Ok(s) => tracing::info!("the MCP server exited: {s}"),
                    Err(e) => tracing::warn!("cannot wait for the MCP server: {e}"),
                }
                exited = Some(status);
                kill_at = None;
                ending.get_or_insert(Ending::ServerGone);
                // Nothing held can be forwarded any more.
                holds.release_all();
                give_up_at.get_or_insert(
                    Instant::now() + filing::CANCEL_WITHIN + Duration::from_millis(500),
                );
                Vec::new()
            }
            Event::Stop(stop) => {
                if matches!(ending, Some(Ending::Stopped(_))) {
                    tracing::warn!("{}, again: exiting at once", stop.describe());
                    break;
                }
                tracing::info!(
                    "{}; taking held requests back and stopping the server",
                    stop.describe()
                );
                ending = Some(Ending::Stopped(stop));
                holds.release_all();
                to_server = None;
                kill_at.get_or_insert(Instant::now() + SERVER_GRACE);
                Vec::new()
            }
        };
        for e in effects {
            match e {
                Effect::ToServer(line) => match &to_server {
                    Some(w) => w.send(line),
                    None => {
                        tracing::debug!("dropped a message for the server, whose stdin is closed")
                    }
                },
                Effect::ToClient(line) => to_client.send(line),
                Effect::Hold(h) => holds.start(&client, *h, wait, &tx),
                Effect::Release(key) => holds.release(&key),
            }
        }
    }
    drop(to_server);
    if let Some(k) = kill.take() {
        let _ = k.send(());
    }
    // Whatever was answered reaches the client before the gateway exits.
    to_client.close(Duration::from_secs(1)).await;
    exit_code(ending, exited, killed)
}

/// The held calls' tasks: when each started, and the means to release it (None once
/// released).
#[derive(Default)]
struct Holds(HashMap<String, (Instant, Option<oneshot::Sender<()>>)>);

impl Holds {
    fn start(
        &mut self,
        client: &Client,
        h: super::session::Hold,
        wait: Duration,
        tx: &mpsc::Sender<Event>,
    ) {
        let (release, released) = oneshot::channel();
        let key = h.key.clone();
        self.0.insert(key.clone(), (Instant::now(), Some(release)));
        let (client, tx) = (client.clone(), tx.clone());
        tokio::spawn(async move {
            let end = hold::run(client, h, wait, released).await;
            let _ = tx.send(Event::Held(key, end)).await;
        });
    }

    fn release(&mut self, key: &str) {
        if let Some(r) = self.0.get_mut(key).and_then(|(_, r)| r.take()) {
            let _ = r.send(());
        }
    }

    fn release_all(&mut self) {
        for r in self.0.values_mut().filter_map(|(_, r)| r.take()) {
            let _ = r.send(());
        }
    }

    fn ended(&mut self, key: &str) {
        if let Some((started, _)) = self.0.remove(key) {
            tracing::debug!(call = %key, us = started.elapsed().as_micros(), "hold ended");
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

fn exit_code(
    ending: Option<Ending>,
    exited: Option<std::io::Result<ExitStatus>>,
    killed: bool,
) -> ExitCode {
    if let Some(Ending::Stopped(stop)) = ending {
        return ExitCode::from(stop.exit_code());
    }
    match exited {
        // The client asked for the end by closing stdin; a server that had to be killed
        // for it is no failure of the session.
        Some(Ok(_)) if killed => ExitCode::SUCCESS,
        Some(Ok(s)) => ExitCode::from(status_code(s)),
        _ => ExitCode::from(super::EXIT_SETUP),
    }
}

/// The server's exit as a shell reports it: its code, or 128 + the signal that ended it.
fn status_code(s: ExitStatus) -> u8 {
    if let Some(c) = s.code() {
        return u8::try_from(c).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return u8::try_from(128 + sig).unwrap_or(1);
        }
    }
    1
}

/// A task writing lines (a newline after each) to a peer, flushing whenever it has
/// nothing more to write.
struct Writer {
    tx: mpsc::UnboundedSender<Bytes>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn spawn<W: AsyncWrite + Unpin + Send + 'static>(out: W) -> Writer {
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let task = tokio::spawn(async move {
            let mut out = BufWriter::new(out);
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                let mut ok = true;
                while let Some(line) = next.take() {
                    ok = out.write_all(&line).await.is_ok() && out.write_all(b"\n").await.is_ok();
                    if !ok {
                        break;
                    }
                    next = rx.try_recv().ok();
                }
                if !ok || out.flush().await.is_err() {
                    tracing::warn!("a peer stopped reading; what is sent to it is dropped");
                    return;
                }
            }
            let _ = out.shutdown().await;
        });
        Writer { tx, task }
    }

    /// Queues `line`; never waits (a peer that stopped reading only costs memory).
    fn send(&self, line: Bytes) {
        let _ = self.tx.send(line);
    }

    /// Ends the writer once what was queued is written, waiting at most `within`.
    async fn close(self, within: Duration) {
        drop(self.tx);
        let _ = tokio::time::timeout(within, self.task).await;
    }
}

/// A task reading lines from `input` as events: `line` for each, `too_long` for a line
/// over the limit (None: dropped with a warning), `eof` at the end.
fn read_lines<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    input: R,
    tx: mpsc::Sender<Event>,
    line: fn(Bytes) -> Event,
    too_long: Option<fn() -> Event>,
    eof: Event,
) {
    tokio::spawn(async move {
        let mut lines = FramedRead::new(input, framing::codec());
        loop {
            let ev = match lines.next().await {
                Some(Ok(l)) => line(l),
                Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded)) => match too_long {
                    Some(f) => f(),
                    None => {
                        tracing::warn!(
                            "dropped a server message over {} bytes",
                            framing::MAX_MESSAGE_BYTES
                        );
                        continue;
                    }
                },
                Some(Err(AnyDelimiterCodecError::Io(e))) => {
                    tracing::warn!("read failed: {e}");
                    break;
                }
                None => break,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        let _ = tx.send(eof).await;
    });
}

/// The server's stderr, line by line, into the log (never onto our stdout, the protocol
/// channel).
fn log_stderr(stderr: tokio::process::ChildStderr) {
    tokio::spawn(async move {
        let mut lines = FramedRead::new(stderr, framing::codec());
        while let Some(l) = lines.next().await {
            match l {
                Ok(l) => {
                    tracing::info!(target: "assent::mcp::server", "{}", sanitize::line(&String::from_utf8_lossy(&l)))
                }
                Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => {
                    tracing::warn!(target: "assent::mcp::server", "(a stderr line too long to log)")
                }
                Err(AnyDelimiterCodecError::Io(_)) => break,
            }
        }
    });
}

/// A task waiting for the server to exit; a send on the returned channel kills it.
fn watch_exit(mut child: Child, tx: mpsc::Sender<Event>) -> oneshot::Sender<()> {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let status = tokio::select! {
            s = child.wait() => s,
            _ = kill_rx => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let _ = tx.send(Event::Exited(status)).await;
    });
    kill_tx
}

fn watch_signals(tx: mpsc::Sender<Event>) {
    // Installed now, before the first message: from here on a stop takes held requests
    // back instead of leaving them in the reviewers' queue.
    let mut signals = StopSignals::install();
    tokio::spawn(async move {
        loop {
            let s = signals.recv().await;
            if tx.send(Event::Stop(s)).await.is_err() {
                return;
            }
        }
    });
}
