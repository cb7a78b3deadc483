//! Raw HTTP to a server, for the tests of the wire itself: every answer as (status, JSON
//! body), never a panic on an error status, so that a test asserts on both. Changes when
//! the API's paths or its error shape change.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::fixtures::decision;

/// The longest one plain request may take.
const REQUEST_WITHIN: Duration = Duration::from_secs(30);

/// Raw HTTP as the holder of a token (or of none).
#[derive(Clone)]
pub struct Http {
    pub base: String,
    /// Sends `Authorization: Bearer TOKEN` on every request, when there is a token.
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str, token: Option<&str>) -> Http {
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).expect("header-safe token"),
            );
        }
        Http {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("HTTP client"),
        }
    }

    /// `METHOD base/path`, bounded in time; an event stream is opened without the bound.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .timeout(REQUEST_WITHIN)
    }

    /// Sends `rb` and fails the test when the answer is not one the server's OpenAPI
    /// description allows (tests/common/openapi.rs).
    pub async fn send(&self, rb: RequestBuilder) -> (StatusCode, Value) {
        let (client, req) = rb.build_split();
        let req = req.expect("request builds");
        let (method, path) = (req.method().clone(), req.url().path().to_owned());
        let resp = client.execute(req).await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        if let Err(e) = super::openapi::check(method.as_str(), &path, status.as_u16(), &body) {
            panic!(
                "{method} {path} answered {status} with what the OpenAPI description does not \
                 allow: {e}\n{body}"
            );
        }
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path)).await
    }

    /// GET with one extra header.
    pub async fn get_with(&self, path: &str, header: &str, value: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path).header(header, value))
            .await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            self.request(Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Files `body` and asserts 201; returns the request.
    pub async fn file(&self, body: &impl Serialize) -> Value {
        let (status, v) = self.post("/v1/requests", body).await;
        assert_eq!(status, StatusCode::CREATED, "filing failed: {v}");
        v
    }

    /// `GET /v1/requests/{id}` of `req` (a request as the server returned it).
    pub async fn fetch(&self, req: &Value) -> (StatusCode, Value) {
        self.get(&of(req, "")).await
    }

    /// The long poll on `req` (as the server returned it), for at most `timeout_s`.
    pub async fn wait(&self, req: &Value, timeout_s: u64) -> (StatusCode, Value) {
        self.get(&of(req, &format!("/wait?timeout_s={timeout_s}")))
            .await
    }

    /// Cancels `req` (as the server returned it).
    pub async fn cancel(&self, req: &Value) -> (StatusCode, Value) {
        self.post_empty(&of(req, "/cancel")).await
    }

    /// The audit entries with `action` (of the first 1,000), oldest first.
    pub async fn audited(&self, action: &str) -> Vec<Value> {
        let (status, page) = self.get("/v1/audit?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["entries"]
            .as_array()
            .expect("audit entries")
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    }

    /// Decides `req` (as the server returned it) with `body` as it is.
    pub async fn decide_with(&self, req: &Value, body: &Value) -> (StatusCode, Value) {
        self.post(&of(req, "/decision"), body).await
    }

    /// Decides `req` (as the server returned it) with its own args_hash: `outcome`
    /// ("approve", "reject") for `scope` ("once", "conversation", "always").
    pub async fn decide(&self, req: &Value, outcome: &str, scope: &str) -> (StatusCode, Value) {
        let hash = req["args_hash"].as_str().expect("request args_hash");
        let mut body = decision(wire(outcome), hash);
        body.scope = wire(scope);
        self.post(&of(req, "/decision"), &body).await
    }
}

/// The path of `req` (a request as the server returned it), then `tail`.
fn of(req: &Value, tail: &str) -> String {
    let id = req["id"].as_str().expect("request id");
    format!("/v1/requests/{id}{tail}")
}

/// The wire value spelled `word` (e.g. an outcome or a scope).
fn wire<T: serde::de::DeserializeOwned>(word: &str) -> T {
    serde_json::from_value(json!(word)).unwrap_or_else(|e| panic!("{word:?}: {e}"))
}

/// The `error.message` of an error answer; panics, showing the answer, if it has none.
pub fn error_message(answer: &Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {answer}"))
}
