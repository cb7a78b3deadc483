//! The connection limits of `assent serve` (issue 11, point 2): silent sockets, slow
//! headers and slow bodies are cut, kept-alive connections idle out, event streams and
//! long polls are never cut, and at the connection cap idle sockets make room.
//!
//! Raw sockets on 127.0.0.1 against the real server in-process, with limits of 1–3 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use assent::config::{ServerConfig, TokenConfig};
use assent::protocol::Role;
use assent::server::ServerHandle;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENT: &str = "agent-token-0001";
const REVIEWER: &str = "reviewer-token-0001";

fn token(name: &str, role: Role, token: &str) -> TokenConfig {
    TokenConfig {
        name: name.to_owned(),
        role,
        token: Some(token.to_owned()),
        token_sha256: None,
    }
}

/// A server with a 1 s header timeout, a 3 s idle timeout, a 1 s body deadline and
/// keep-alive comments every second, changed by `f`.
async fn start(f: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut cfg = ServerConfig {
        listen: "127.0.0.1:0".to_owned(),
        db: Some(":memory:".to_owned()),
        tokens: vec![
            token("agent", Role::Agent, AGENT),
            token("reviewer", Role::Reviewer, REVIEWER),
        ],
        header_read_timeout_seconds: 1,
        idle_timeout_seconds: 3,
        body_read_timeout_seconds: 1,
        keepalive_seconds: 1,
        ..ServerConfig::default()
    };
    f(&mut cfg);
    assent::server::start(cfg).await.expect("server starts")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

fn head(method: &str, path: &str, token: Option<&str>, extra: &str) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}{extra}\r\n")
}

/// Reads until the peer closes (or resets) the connection; returns when, and what came.
/// None if it is still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(t0.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((t0.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response with a Content-Length body (as every JSON answer has).
async fn read_response(s: &mut TcpStream) -> (u16, Value) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                let body = &got[end + 4..end + 4 + len];
                let v = serde_json::from_slice(body).unwrap_or(Value::Null);
                return (status, v);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, s.read(&mut buf))
            .await
            .expect("response within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// One request on a fresh connection.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = connect(addr).await;
    let body = body.map(Value::to_string).unwrap_or_default();
    let extra = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    s.write_all(format!("{}{body}", head(method, path, Some(token), &extra)).as_bytes())
        .await
        .unwrap();
    read_response(&mut s).await
}

async fn file(addr: SocketAddr) -> Value {
    let call_body = json!({"tool": "t", "agent": "bot", "params": {"n": 1}});
    let (status, v) = call(addr, "POST", "/v1/requests", AGENT, Some(&call_body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

/// An open `GET /v1/events` on a raw socket, its response head read.
async fn open_stream(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr).await;
    let h = head(
        "GET",
        "/v1/events",
        Some(REVIEWER),
        "Accept: text/event-stream\r\n",
    );
    s.write_all(h.as_bytes()).await.unwrap();
    let text = read_for(&mut s, Duration::from_millis(300)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    s
}

/// What arrives within `d`; panics if the connection closes.
async fn read_for(s: &mut TcpStream, d: Duration) -> String {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = d.checked_sub(t0.elapsed()) {
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed: {}", String::from_utf8_lossy(&got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Writes `bytes` one at a time, `gap` apart, until done or the peer has gone.
fn trickle(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    bytes: Vec<u8>,
    gap: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for b in bytes {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(gap).await;
        }
    })
}

#[tokio::test]
async fn silent_sockets_and_partial_headers_are_closed_after_the_header_timeout() {
    let srv = start(|_| {}).await;
    let mut silent = connect(srv.addr()).await;
    let mut partial = connect(srv.addr()).await;
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let (silent, partial) = tokio::join!(
        closed_within(&mut silent, Duration::from_secs(5)),
        closed_within(&mut partial, Duration::from_secs(5))
    );
    for (what, closed) in [("a silent socket", silent), ("a half-sent head", partial)] {
        let (after, got) = closed.unwrap_or_else(|| panic!("{what} is still open"));
        assert!(
            after >= Duration::from_millis(800),
            "{what}: closed after {after:?}"
        );
        assert!(got.is_empty(), "{what}: {}", String::from_utf8_lossy(&got));
    }
}

#[tokio::test]
async fn a_header_sent_a_byte_at_a_time_is_closed() {
    let srv = start(|_| {}).await;
    let s = connect(srv.addr()).await;
    let (mut rd, wr) = s.into_split();
    // 36 bytes at one per 150 ms: 5.4 s, far past the 1 s header timeout.
    let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n".to_vec();
    let trickle = trickle(wr, head, Duration::from_millis(150));
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(4), rd.read(&mut buf))
        .await
        .expect("closed before the header is complete");
    assert!(matches!(n, Ok(0) | Err(_)), "answered: {n:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    trickle.abort();
}

#[tokio::test]
async fn a_trickled_body_is_cut_with_408_body_timeout() {
    let srv = start(|_| {}).await;
    let s = connect(srv.addr()).await;
    let (mut rd, mut wr) = s.into_split();
    let body = json!({"tool": "t", "agent": "bot", "params": {"pad": "x".repeat(40)}}).to_string();
    let extra = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let h = head("POST", "/v1/requests", Some(AGENT), &extra);
    wr.write_all(h.as_bytes()).await.unwrap();
    let trickle = trickle(wr, body.into_bytes(), Duration::from_millis(100));
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n @ 1..)) =
        tokio::time::timeout(Duration::from_secs(5), rd.read(&mut buf)).await
    {
        got.extend_from_slice(&buf[..n]);
    }
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["error"]["code"], "body_timeout", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("body_read_timeout_seconds")
    );
    trickle.abort();
}

#[tokio::test]
async fn a_kept_alive_connection_lives_past_the_header_timeout_and_idles_out() {
    let srv = start(|_| {}).await;
    let mut s = connect(srv.addr()).await;
    let get = head("GET", "/healthz", None, "");
    s.write_all(get.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    // Idle for longer than the header timeout: still open, and still serves.
    assert!(
        closed_within(&mut s, Duration::from_millis(1800))
            .await
            .is_none()
    );
    s.write_all(get.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    let (after, _) = closed_within(&mut s, Duration::from_secs(6))
        .await
        .expect("closed once idle past idle_timeout");
    assert!(
        after >= Duration::from_millis(2500),
        "closed after {after:?}"
    );
}

#[tokio::test]
async fn an_event_stream_outlives_both_timeouts_and_keeps_its_keepalives() {
    let srv = start(|_| {}).await;
    let mut s = open_stream(srv.addr()).await;
    let text = read_for(&mut s, Duration::from_millis(4200)).await;
    let keepalives = text.matches(": keep-alive").count();
    assert!(keepalives >= 3, "{keepalives} keep-alives in 4.2 s: {text}");
    let req = file(srv.addr()).await;
    let text = read_for(&mut s, Duration::from_millis(500)).await;
    assert!(text.contains("event: request.created"), "{text}");
    assert!(text.contains(req["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_long_poll_outlives_the_idle_timeout() {
    let srv = start(|_| {}).await;
    let req = file(srv.addr()).await;
    let id = req["id"].as_str().unwrap();
    let t0 = Instant::now();
    let path = format!("/v1/requests/{id}/wait?timeout_s=4");
    let (status, v) = call(srv.addr(), "GET", &path, AGENT, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(
        t0.elapsed() >= Duration::from_millis(3500),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn at_the_cap_idle_sockets_make_room_and_streams_and_long_polls_survive() {
    let srv = start(|c| {
        c.max_connections = 50;
        // Idle sockets would otherwise leave on their own before the cap is reached.
        c.header_read_timeout_seconds = 30;
        c.idle_timeout_seconds = 30;
    })
    .await;
    let addr = srv.addr();
    let mut stream = open_stream(addr).await;
    let waiting = file(addr).await;
    let id = waiting["id"].as_str().unwrap().to_owned();
    let poll = tokio::spawn(async move {
        let path = format!("/v1/requests/{id}/wait?timeout_s=20");
        call(addr, "GET", &path, AGENT, None).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(connect(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t0 = Instant::now();
    let filed = file(addr).await;
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "filing took {:?}",
        t0.elapsed()
    );

    // The oldest idle sockets were closed to make room; the newest are still open.
    let (_, got) = closed_within(&mut idle[0], Duration::from_secs(1))
        .await
        .expect("the oldest idle socket was closed");
    assert!(got.is_empty());
    assert!(
        closed_within(&mut idle[49], Duration::from_millis(100))
            .await
            .is_none()
    );

    let text = read_for(&mut stream, Duration::from_millis(1500)).await;
    assert!(text.contains(filed["id"].as_str().unwrap()), "{text}");
    assert!(text.contains(": keep-alive"), "{text}");

    let decision = json!({"outcome": "approve", "scope": "once", "args_hash": waiting["args_hash"], "notify_agent": false});
    let path = format!("/v1/requests/{}/decision", waiting["id"].as_str().unwrap());
    let (status, v) = call(addr, "POST", &path, REVIEWER, Some(&decision)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = tokio::time::timeout(Duration::from_secs(3), poll)
        .await
        .expect("the long poll is answered")
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "approved");
}

#[tokio::test]
async fn when_every_connection_is_busy_a_new_one_waits_for_a_free_one() {
    let srv = start(|c| c.max_connections = 2).await;
    let addr = srv.addr();
    let _first = open_stream(addr).await;
    let second = open_stream(addr).await;
    let mut s = connect(addr).await;
    s.write_all(head("GET", "/healthz", None, "").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "answered while every connection was busy: {early:?} {}",
        String::from_utf8_lossy(&buf)
    );
    drop(second);
    assert_eq!(read_response(&mut s).await.0, 200);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_idle_connections() {
    let srv = start(|c| c.header_read_timeout_seconds = 30).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(connect(srv.addr()).await);
    }
    let mut kept = connect(srv.addr()).await;
    kept.write_all(head("GET", "/healthz", None, "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut kept).await.0, 200);
    let mut half = connect(srv.addr()).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    srv.shutdown().await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "shutdown took {:?}",
        t0.elapsed()
    );
    assert!(
        closed_within(&mut kept, Duration::from_millis(500))
            .await
            .is_some()
    );
    assert!(
        closed_within(&mut idle[0], Duration::from_millis(500))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn over_h2c_an_event_stream_outlives_the_timeouts_and_requests_still_work() {
    use futures::StreamExt;
    let srv = start(|_| {}).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/v1/events", srv.url()))
        .bearer_auth(REVIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(4200) {
        let left = Duration::from_millis(4200).saturating_sub(t0.elapsed());
        match tokio::time::timeout(left, body.next()).await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            Ok(None) => panic!("the stream ended: {text}"),
            Err(_) => break,
        }
    }
    assert!(text.matches(": keep-alive").count() >= 3, "{text}");
    // The same HTTP/2 connection carries another request meanwhile.
    let health = client
        .get(format!("{}/healthz", srv.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
