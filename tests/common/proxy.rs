//! A loopback HTTP proxy in front of a real server that changes answers as told: for
//! tests of what a client does with what it receives. Changes when a test needs another
//! kind of tampering.

use std::time::Duration;

use super::http::Http;

/// What a [`Proxy`] does to the traffic it forwards.
#[derive(Debug, Clone, Default)]
pub struct Tamper {
    /// Rewrite the `args_hash` of every `GET /v1/requests/{id}` answer to this.
    pub args_hash: Option<String>,
    /// Hold the answer to the first `POST /v1/requests` this long (after the server has
    /// filed it), as a slow network would.
    pub delay_first_filing: Option<Duration>,
}

/// The proxy, on 127.0.0.1 and a port of its choosing. Stops when dropped.
pub struct Proxy {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: &str, tamper: Tamper) -> Proxy {
        use axum::body::Body;
        use axum::extract::Request;
        use axum::response::Response;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        // Without a bearer of its own: it forwards the caller's headers.
        let http = Http::new(upstream, None).client;
        let upstream = upstream.to_owned();
        let delayed = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new().fallback(move |req: Request| {
            let (http, upstream, tamper, delayed) = (
                http.clone(),
                upstream.clone(),
                tamper.clone(),
                delayed.clone(),
            );
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
                let path = parts.uri.path().to_owned();
                let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut rb = http
                    .request(parts.method.clone(), format!("{upstream}{pq}"))
                    .body(body.to_vec());
                for (k, v) in &parts.headers {
                    if k != "host" && k != "content-length" {
                        rb = rb.header(k, v);
                    }
                }
                let resp = rb.send().await.unwrap();
                let status = resp.status();
                let mut bytes = resp.bytes().await.unwrap().to_vec();
                let is_get_one = parts.method == reqwest::Method::GET
                    && path.starts_with("/v1/requests/")
                    && path.matches('/').count() == 3;
                if let (true, Some(h)) = (is_get_one && status.is_success(), &tamper.args_hash) {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    v["args_hash"] = serde_json::json!(h);
                    bytes = serde_json::to_vec(&v).unwrap();
                }
                if parts.method == reqwest::Method::POST
                    && path == "/v1/requests"
                    && let Some(d) = tamper.delay_first_filing
                    && !delayed.swap(true, Ordering::SeqCst)
                {
                    tokio::time::sleep(d).await;
                }
                Response::builder()
                    .status(status.as_u16())
                    .header("content-type", "application/json")
                    .body(Body::from(bytes))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
            task,
        }
    }
}
