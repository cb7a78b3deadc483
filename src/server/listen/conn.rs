//! What the server knows of each open connection (is a request in flight, since when is
//! it idle, when did the next head begin), and the wrappers around its socket, requests
//! and responses that keep that knowledge true. The accept loop in `super` acts on it.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
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
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::ConnLimits;
use crate::protocol::{ErrorBody, ErrorResponse};

/// Every open connection, and which of them are idle.
pub(super) struct Registry {
    epoch: Instant,
    max: usize,
    open: Mutex<Open>,
    /// Woken when a connection closes or goes idle: at the cap the accept loop waits on it.
    pub(super) room: Notify,
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
    pub(super) fn new(max: usize) -> Registry {
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

    pub(super) fn open(&self) -> usize {
        self.lock().conns.len()
    }

    pub(super) fn is_full(&self) -> bool {
        self.lock().conns.len() >= self.max
    }

    /// Closes the connection idle the longest; false if every connection is busy.
    pub(super) fn evict_idlest(&self) -> bool {
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
    pub(super) fn register(self: &Arc<Self>) -> (Arc<Conn>, oneshot::Receiver<Infallible>) {
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
            wrote_at: AtomicU64::new(now),
            http2: AtomicBool::new(false),
            wake: Notify::new(),
        });
        (conn, closed)
    }
}

/// What the watchdog of one connection knows of it.
pub(super) struct Conn {
    id: u64,
    registry: Arc<Registry>,
    in_flight: AtomicUsize,
    /// When the last request finished (or the connection was accepted); changed only
    /// under the registry's lock, as it is part of the connection's key in `idle`.
    idle_since: AtomicU64,
    /// When the head of the next request began, or [`NO_HEAD`].
    head_since: AtomicU64,
    /// When bytes last went out with no request in flight: the end of a response that a
    /// slow reader is still taking in is not idleness.
    wrote_at: AtomicU64,
    /// HTTP/2 sends frames of its own (PING, SETTINGS, WINDOW_UPDATE) between requests:
    /// bytes in do not begin a head there, and only `idle` applies between requests.
    http2: AtomicBool,
    /// Tells the watchdog its deadline moved: a head began, or the last request finished.
    wake: Notify,
}

const NO_HEAD: u64 = u64::MAX;

impl Conn {
    /// When the watchdog closes this connection, unless something happens first.
    pub(super) fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        let reg = &self.registry;
        Some(match self.head_since.load(Relaxed) {
            NO_HEAD => {
                let quiet = self
                    .idle_since
                    .load(Relaxed)
                    .max(self.wrote_at.load(Relaxed));
                reg.at(quiet) + limits.idle
            }
            head => reg.at(head) + limits.header_read,
        })
    }

    /// Bytes arrived: between requests, that starts the next head's clock.
    fn note_read(&self) {
        if self.in_flight.load(Relaxed) == 0
            && self.head_since.load(Relaxed) == NO_HEAD
            && !self.http2.load(Relaxed)
        {
            self.head_since.store(self.registry.now_ms(), Relaxed);
            self.wake.notify_one();
        }
    }

    pub(super) fn is_busy(&self) -> bool {
        self.in_flight.load(Relaxed) > 0
    }

    /// Resolves when the deadline may have moved.
    pub(super) async fn changed(&self) {
        self.wake.notified().await;
    }

    fn note_write(&self) {
        if self.in_flight.load(Relaxed) == 0 {
            self.wrote_at.store(self.registry.now_ms(), Relaxed);
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
pub(super) struct Registered(pub(super) Arc<Conn>);

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

/// The socket, telling its connection when bytes come and go.
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) conn: Arc<Conn>,
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
        let wrote = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(wrote, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.note_write();
        }
        wrote
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let wrote = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(wrote, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.note_write();
        }
        wrote
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
pub(super) struct ConnService {
    pub(super) app: Router,
    pub(super) conn: Arc<Conn>,
    pub(super) body_read: Duration,
}

pub(super) type ServiceFuture =
    Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<Incoming>) -> ServiceFuture {
        let in_flight = self.conn.begin();
        let expired = Arc::new(AtomicBool::new(false));
        let http1 = req.version() < Version::HTTP_2;
        if !http1 {
            self.conn.http2.store(true, Relaxed);
        }
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
pub(super) struct Tracked {
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

#[cfg(test)]
mod tests {
    use super::*;

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
