//! The accept loop: which connections `assent serve` takes, and when it lets them go.
//!
//! `axum::serve` has no limits, so an idle socket, a header sent a byte at a time or a
//! trickled body stayed open for good, and enough of them ran the process out of file
//! descriptors (issue 11). Here each accepted socket gets TCP_NODELAY and is served by
//! hyper-util's auto builder (HTTP/1.1 and h2c, as `axum::serve`) under a watchdog that
//! knows whether a request is in flight on it:
//!
//! - no request yet, or a head begun: the whole head within `header_read`;
//! - between requests, no byte in or out: closed after `idle`;
//! - a request in flight (an event stream, a long poll): never timed out here; its body,
//!   if any, must arrive within `body_read` of its head, or it is answered 408;
//! - at `max_connections`, a new connection closes the one idle the longest; when every
//!   connection is busy, new ones wait in the listen queue.
//!
//! A request is in flight from the call into the router until its response body is
//! finished or dropped, which is when hyper is done with the response (`conn`).

mod conn;

use std::convert::Infallible;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::ServerConfig;
use conn::{Conn, ConnService, Registered, Registry, Watched};

/// File descriptors kept for what is not a client connection: the listener, the
/// database and its journal files, the log, the runtime's own.
const FD_RESERVE: u64 = 128;
/// At most one warning per this long for each kind of trouble at the cap.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// `[server]` header_read_timeout_seconds, idle_timeout_seconds,
/// body_read_timeout_seconds and max_connections, as enforced.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read: Duration,
    pub idle: Duration,
    pub body_read: Duration,
    pub max_connections: usize,
}

impl ConnLimits {
    /// The configured limits; raises the open-file limit so the cap fits under it, or
    /// lowers the cap (with a warning) when it cannot.
    pub fn from_config(cfg: &ServerConfig) -> ConnLimits {
        let secs = |s: u64| Duration::from_secs(s.max(1));
        ConnLimits {
            header_read: secs(cfg.header_read_timeout_seconds),
            idle: secs(cfg.idle_timeout_seconds),
            body_read: secs(cfg.body_read_timeout_seconds),
            max_connections: fit_fd_limit(cfg.max_connections.max(1)),
        }
    }
}

/// `wanted`, or fewer if the soft open-file limit (raised to the hard one first) leaves
/// no room for that many connections.
fn fit_fd_limit(wanted: usize) -> usize {
    // Soft limits stay low (often 1024) for programs that use select(); this one does not.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            let room = usize::try_from(soft.saturating_sub(FD_RESERVE))
                .unwrap_or(usize::MAX)
                .max(1);
            if wanted > room {
                tracing::warn!(
                    max_connections = wanted,
                    open_file_limit = soft,
                    using = room,
                    "[server] max_connections does not fit under the open-file limit \
                     (ulimit -n); raise the hard limit or lower max_connections"
                );
                return room;
            }
            wanted
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit; max_connections is used as set");
            wanted
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting, closes the
/// idle connections, and returns when the busy ones have finished (the app ends its
/// streams and long polls on the same signal). Dropping the future drops every connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let builder = Arc::new(builder(&limits));
    let mut conns = JoinSet::new();
    let mut evicted_log = Every::new(LOG_EVERY);
    let mut full_log = Every::new(LOG_EVERY);
    'accept: loop {
        let stream = tokio::select! {
            s = accept(&listener, &registry) => s,
            _ = stop.wait_for(|s| *s) => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                reap(done);
                continue;
            }
        };
        if registry.is_full()
            && registry.evict_idlest()
            && let Some(more) = evicted_log.due()
        {
            tracing::warn!(
                open = registry.open(),
                max_connections = limits.max_connections,
                repeats = more,
                "connection cap reached: closed the connection idle the longest to make room"
            );
        }
        // Every connection is busy: hold this one, and leave the next in the listen
        // queue, until one finishes or goes idle.
        while registry.is_full() && !registry.evict_idlest() {
            if let Some(more) = full_log.due() {
                tracing::warn!(
                    open = registry.open(),
                    max_connections = limits.max_connections,
                    repeats = more,
                    "connection cap reached and every connection has a request in flight: \
                     new connections wait to be accepted"
                );
            }
            tokio::select! {
                () = registry.room.notified() => {}
                _ = stop.wait_for(|s| *s) => break 'accept,
                Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            }
        }
        let (conn, evicted) = registry.register();
        conns.spawn(serve_conn(
            stream,
            conn,
            evicted,
            app.clone(),
            Arc::clone(&builder),
            limits,
            stop.clone(),
        ));
    }
    drop(listener);
    while let Some(done) = conns.join_next().await {
        reap(done);
    }
    Ok(())
}

fn builder(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // The watchdog enforces header_read and idle. hyper's own header timer runs from
    // accept and between requests alike, so it only backs the watchdog up, set past
    // both; and it must be set, or with a timer hyper applies its default of 30 s.
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read + limits.idle);
    b.http2().enable_connect_protocol();
    b
}

fn reap(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection task panicked");
    }
}

/// The next connection, with TCP_NODELAY set. Retries on errors: a peer that left
/// before it was accepted, or no file descriptor left (then an idle connection is
/// closed to give one back).
async fn accept(listener: &TcpListener, registry: &Registry) -> TcpStream {
    let mut error_log = Every::new(Duration::from_secs(1));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Without it a small event written behind an unacknowledged one waits for
                // the peer's delayed ACK (up to 40 ms on Linux).
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                return stream;
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                let freed = registry.evict_idlest();
                if let Some(more) = error_log.due() {
                    tracing::error!(error = %e, closed_an_idle_connection = freed, repeats = more, "accept failed");
                }
                let pause = if freed { 10 } else { 1000 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection, from accept to close.
async fn serve_conn(
    stream: TcpStream,
    conn: Arc<Conn>,
    evicted: oneshot::Receiver<Infallible>,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _registered = Registered(Arc::clone(&conn));
    let io = TokioIo::new(Watched {
        stream,
        conn: Arc::clone(&conn),
    });
    let service = ConnService {
        app,
        conn: Arc::clone(&conn),
        body_read: limits.body_read,
    };
    let mut http = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut evicted = pin!(evicted);
    let mut stopping = false;
    loop {
        if stopping && !conn.is_busy() {
            return;
        }
        let deadline = conn.deadline(&limits);
        tokio::select! {
            done = http.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = &mut evicted => {
                tracing::debug!("closed to make room under max_connections");
                return;
            }
            () = sleep_until(deadline) => {
                if conn.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("closed: no request head in time, or idle too long");
                    return;
                }
            }
            () = conn.changed() => {}
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A rate limit for warnings that an attack would otherwise repeat per connection.
struct Every {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Every {
    fn new(period: Duration) -> Every {
        Every {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// Some(times skipped since the last one) when it is time to log again.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < self.period) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_do_not_wait_for_delayed_acks() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = Registry::new(1);
        let (server, client) = tokio::join!(accept(&listener, &registry), TcpStream::connect(addr));
        let _client = client.unwrap();
        assert!(server.nodelay().unwrap());
    }
}
