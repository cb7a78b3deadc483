//! The accept loop: which connections `assent serve` takes, and when it lets them go.
//!
//! `axum::serve` has no limits, so an idle socket, a header sent a byte at a time or a
//! trickled body stayed open for good, and enough of them ran the process out of file
//! descriptors (issue 11). Here each accepted socket gets TCP_NODELAY and is served by
//! hyper-util's auto builder (HTTP/1.1 and h2c, as `axum::serve`) under a watchdog that
//! knows whether a request is in flight on it:
//!
//! - no request yet, or a head begun: the whole head within `header_read`;
//! - between requests, silent: closed after `idle`;
//! - a request in flight (an event stream, a long poll): never timed out here; its body,
//!   if any, must arrive within `body_read` of its head, or it is answered 408;
//! - at `max_connections`, a new connection closes the one idle the longest; when every
//!   connection is busy, new ones wait in the listen queue.
//!
//! A request is in flight from the call into the router until its response body is
//! finished or dropped, which is when hyper is done with the response.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, Version, header};
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::protocol::{ErrorBody, ErrorResponse};

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
        if stopping && conn.in_flight.load(Relaxed) == 0 {
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
            () = conn.wake.notified() => {}
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

/// Every open connection, and which of them are idle.
struct Registry {
    epoch: Instant,
    max: usize,
    open: Mutex<Open>,
    /// Woken when a connection closes or goes idle: at the cap the accept loop waits on it.
    room: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    /// Dropping a connection's sender closes it.
    conns: HashMap<u64, oneshot::Sender<Infallible>>,
    /// (idle since, id) of the connections with no request in flight, idle longest first.
    idle: BTreeSet<(u64, u64)>,
}

impl Registry {
    fn new(max: usize) -> Registry {
        Registry {
            epoch: Instant::now(),
            max,
            open: Mutex::new(Open::default()),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Nothing panics under this lock; and its sets stay consistent if something did.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the registry started: the clock of every connection's times.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn open(&self) -> usize {
        self.lock().conns.len()
    }

    fn is_full(&self) -> bool {
        self.lock().conns.len() >= self.max
    }

    /// Closes the connection idle the longest; false if every connection is busy.
    fn evict_idlest(&self) -> bool {
        let mut open = self.lock();
        match open.idle.pop_first() {
            Some((_, id)) => {
                open.conns.remove(&id);
                true
            }
            None => false,
        }
    }

    /// A new connection: idle, with its head to come within header_read.
    fn register(self: &Arc<Self>) -> (Arc<Conn>, oneshot::Receiver<Infallible>) {
        let (close, closed) = oneshot::channel();
        let now = self.now_ms();
        let mut open = self.lock();
        let id = open.next_id;
        open.next_id += 1;
        open.conns.insert(id, close);
        open.idle.insert((now, id));
        drop(open);
        let conn = Arc::new(Conn {
            id,
            registry: Arc::clone(self),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now),
            wake: Notify::new(),
        });
        (conn, closed)
    }
}

/// What the watchdog of one connection knows of it.
struct Conn {
    id: u64,
    registry: Arc<Registry>,
    in_flight: AtomicUsize,
    /// When the last request finished (or the connection was accepted); changed only
    /// under the registry's lock, as it is part of the connection's key in `idle`.
    idle_since: AtomicU64,
    /// When the head of the next request began, or [`NO_HEAD`].
    head_since: AtomicU64,
    /// Tells the watchdog its deadline moved: a head began, or the last request finished.
    wake: Notify,
}

const NO_HEAD: u64 = u64::MAX;

impl Conn {
    /// When the watchdog closes this connection, unless something happens first.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        let reg = &self.registry;
        Some(match self.head_since.load(Relaxed) {
            NO_HEAD => reg.at(self.idle_since.load(Relaxed)) + limits.idle,
            head => reg.at(head) + limits.header_read,
        })
    }

    /// Bytes arrived: between requests, that starts the next head's clock.
    fn note_read(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.head_since.load(Relaxed) == NO_HEAD {
            self.head_since.store(self.registry.now_ms(), Relaxed);
            self.wake.notify_one();
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        let mut open = self.registry.lock();
        if self.in_flight.fetch_add(1, Relaxed) == 0 {
            open.idle.remove(&(self.idle_since.load(Relaxed), self.id));
        }
        drop(open);
        InFlight(Arc::clone(self))
    }

    fn end(&self) {
        let reg = &self.registry;
        let mut open = reg.lock();
        if self.in_flight.fetch_sub(1, Relaxed) != 1 {
            return;
        }
        let now = reg.now_ms();
        self.idle_since.store(now, Relaxed);
        self.head_since.store(NO_HEAD, Relaxed);
        // An evicted connection may still be finishing a response: keep it out of `idle`.
        if open.conns.contains_key(&self.id) {
            open.idle.insert((now, self.id));
        }
        drop(open);
        self.wake.notify_one();
        reg.room.notify_one();
    }
}

/// A request in flight on its connection, until dropped.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Held by a connection's task: its place in the registry, given back when it ends.
struct Registered(Arc<Conn>);

impl Drop for Registered {
    fn drop(&mut self) {
        let conn = &self.0;
        let reg = &conn.registry;
        let mut open = reg.lock();
        open.conns.remove(&conn.id);
        open.idle.remove(&(conn.idle_since.load(Relaxed), conn.id));
        drop(open);
        reg.room.notify_one();
    }
}

/// The socket, telling its connection when bytes arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.note_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, with each request counted in flight and its body under a deadline.
#[derive(Clone)]
struct ConnService {
    app: Router,
    conn: Arc<Conn>,
    body_read: Duration,
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<Incoming>) -> ServiceFuture {
        let in_flight = self.conn.begin();
        let expired = Arc::new(AtomicBool::new(false));
        let http1 = req.version() < Version::HTTP_2;
        let body_read = self.body_read;
        let req = req.map(|body| {
            Body::new(Deadlined {
                body,
                deadline: Instant::now() + body_read,
                sleep: None,
                expired: Arc::clone(&expired),
            })
        });
        let app = self.app.clone();
        Box::pin(async move {
            let resp = match app.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            // The handler saw a failed body read; say why, in the API's error shape.
            let resp = if expired.load(Relaxed) {
                body_timeout(body_read, http1)
            } else {
                resp
            };
            Ok(resp.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

fn body_timeout(limit: Duration, http1: bool) -> Response<Body> {
    let message = format!(
        "the request body did not arrive within {} s of its headers ([server] \
         body_read_timeout_seconds); send the whole body at once",
        limit.as_secs()
    );
    let error = ErrorBody {
        code: "body_timeout".to_owned(),
        message,
    };
    let body = ErrorResponse {
        error,
        request: None,
    };
    let mut resp = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    // The rest of the body is still on its way: the connection cannot carry another request.
    if http1 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request body that fails once its deadline has passed.
struct Deadlined {
    body: Incoming,
    deadline: Instant,
    /// Made on the first read, as most requests have no body to wait for.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for Deadlined {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.body.is_end_stream() {
            return Poll::Ready(None);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut this.body).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request in flight until finished or dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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

    #[test]
    fn at_the_cap_the_connection_idle_longest_goes_and_busy_ones_stay() {
        let reg = Arc::new(Registry::new(3));
        let (a, mut a_closed) = reg.register();
        let (_b, mut b_closed) = reg.register();
        let (_c, mut c_closed) = reg.register();
        assert!(reg.is_full());
        let stream = a.begin();
        assert!(reg.evict_idlest());
        assert_eq!(
            b_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(
            a_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert_eq!(reg.open(), 2);
        // c idles since its accept; a, once its stream ends, since now: c goes first.
        std::thread::sleep(Duration::from_millis(5));
        drop(stream);
        assert!(reg.evict_idlest());
        assert_eq!(
            c_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        let _busy = a.begin();
        assert!(!reg.evict_idlest(), "a busy connection is never evicted");
        assert_eq!(
            a_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
    }

    #[test]
    fn the_deadline_is_the_head_then_idleness_and_none_in_flight() {
        let limits = ConnLimits {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(60),
            body_read: Duration::from_secs(5),
            max_connections: 10,
        };
        let reg = Arc::new(Registry::new(10));
        let (conn, _closed) = reg.register();
        let accepted = reg.at(conn.idle_since.load(Relaxed));
        assert_eq!(conn.deadline(&limits), Some(accepted + limits.header_read));
        let req = conn.begin();
        conn.note_read();
        assert_eq!(conn.deadline(&limits), None);
        drop(req);
        let idle = reg.at(conn.idle_since.load(Relaxed));
        assert_eq!(conn.deadline(&limits), Some(idle + limits.idle));
        conn.note_read();
        let head = reg.at(conn.head_since.load(Relaxed));
        assert_eq!(conn.deadline(&limits), Some(head + limits.header_read));
    }
}
