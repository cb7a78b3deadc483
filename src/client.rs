//! HTTP client of the approval API, shared by the console, the reviewer CLI, the gate and
//! the Claude Code hook. One `reqwest::Client` per process (connection reuse); every
//! failure becomes a [`ClientError`] that says what went wrong in words a person can act on.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::config::ClientSettings;
use crate::protocol::{
    ApprovalRequest, AuditPage, DecisionBody, ErrorResponse, GrantList, Identity, NewRequest,
    Status,
};

/// The `detail` of a [`ClientError::Network`] when no connection was made: the request
/// was certainly not delivered (any other network failure may have delivered it).
pub const CONNECT_FAILED: &str = "connection refused or host unreachable";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// On 409: the request as it now stands (who decided first, and how).
        request: Option<Box<ApprovalRequest>>,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the backend at {url}: {detail}")]
    Network { url: String, detail: String },
    /// The server answered something that is not the documented protocol.
    #[error("unexpected answer from the backend: {0}")]
    Protocol(String),
    /// The client was set up wrongly (bad URL, no token).
    #[error("{0}")]
    Setup(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Network trouble, or a server error: worth retrying later.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Network { .. } => true,
            ClientError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The token was refused (401) or lacks the role (403): retrying will not help.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// A 404 for the path itself rather than for an id in it: the URL does not point at
    /// an assent backend's root (a wrong prefix, or another server). An assent server says
    /// `no endpoint …` with code `not_found`; anything else answers without our error shape.
    pub fn is_wrong_endpoint(&self) -> bool {
        match self {
            ClientError::Api {
                status: 404,
                code,
                message,
                ..
            } => code != "not_found" || message.starts_with("no endpoint"),
            _ => false,
        }
    }
}

/// Outcome of filing: the request, and whether this call created it (201) or found an
/// existing one by idempotency (200).
#[derive(Debug, Clone)]
pub struct Filed {
    pub request: ApprovalRequest,
    pub created: bool,
}

/// A page of `GET /v1/requests` (or, from [`Client::list_all`], every page) as this
/// client read it. Rows are parsed one by one, so one row it cannot parse (params nested
/// past its parser's limit, a field from a newer server) is set aside in `unreadable`
/// and does not cost the rest of the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestPage {
    pub requests: Vec<ApprovalRequest>,
    /// Pass as `cursor` to get the next page; None on the last page.
    pub next_cursor: Option<String>,
    /// The event sequence number current when the list was read (as `RequestList`).
    pub seq: u64,
    pub unreadable: Vec<UnreadableRow>,
    /// The backend's database (docs/api.md, "Database id"): a client resuming a stream
    /// names it, so a database replaced under the same address is never taken for the old.
    pub database_id: Option<String>,
}

/// A row of a list that could not be parsed as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    /// The request's id, when at least that could be read.
    pub id: Option<String>,
    /// Why the row could not be parsed.
    pub error: String,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
}

impl Client {
    pub fn new(settings: &ClientSettings) -> Result<Client, ClientError> {
        let mut base = reqwest::Url::parse(&settings.url).map_err(|e| {
            ClientError::Setup(format!(
                "backend URL '{}' is not valid ({e}); expected e.g. http://127.0.0.1:7878",
                settings.url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Setup(format!(
                "backend URL '{}' must start with http:// or https://",
                settings.url
            )));
        }
        // Url::join treats the last path segment as a file unless it ends with '/'.
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("assent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Setup(format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            token: settings.token.clone(),
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Setup(format!("bad path {path}: {e}")))
    }

    /// A request builder with auth set; `timeout` bounds the whole exchange.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> Result<RequestBuilder, ClientError> {
        let mut rb = self.http.request(method, self.url(path)?);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(t) = timeout {
            rb = rb.timeout(t);
        }
        Ok(rb)
    }

    fn network_error(&self, e: reqwest::Error) -> ClientError {
        let detail = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            CONNECT_FAILED.to_owned()
        } else {
            // reqwest's Display hides the cause chain; the innermost cause is the useful part.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = s.to_string();
                src = s.source();
            }
            msg
        };
        ClientError::Network {
            url: self.base_url().to_owned(),
            detail,
        }
    }

    /// Sends and turns any non-2xx answer into `ClientError::Api`.
    pub async fn send(&self, rb: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = rb.send().await.map_err(|e| self.network_error(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from_response(resp).await)
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        let resp = self.send(rb).await?;
        decode(resp).await
    }

    pub async fn whoami(&self) -> Result<Identity, ClientError> {
        let rb = self.request(Method::GET, "v1/whoami", Some(Duration::from_secs(10)))?;
        self.json(rb).await
    }

    /// `POST /v1/requests`. `idempotency_key` makes a retried filing safe.
    pub async fn file(
        &self,
        new: &NewRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Filed, ClientError> {
        let mut rb = self
            .request(Method::POST, "v1/requests", Some(Duration::from_secs(30)))?
            .json(new);
        if let Some(k) = idempotency_key {
            rb = rb.header("Idempotency-Key", k);
        }
        let resp = self.send(rb).await?;
        let created = resp.status() == StatusCode::CREATED;
        let request = decode(resp).await?;
        Ok(Filed { request, created })
    }

    pub async fn get(&self, id: &str) -> Result<ApprovalRequest, ClientError> {
        let rb = self.request(
            Method::GET,
            &format!("v1/requests/{}", path_segment(id)),
            Some(Duration::from_secs(30)),
        )?;
        self.json(rb).await
    }

    /// Long poll: answers when the request leaves `pending`, or after `timeout_s` with it
    /// still pending.
    pub async fn wait(&self, id: &str, timeout_s: u64) -> Result<ApprovalRequest, ClientError> {
        let rb = self
            .request(
                Method::GET,
                &format!("v1/requests/{}/wait", path_segment(id)),
                Some(Duration::from_secs(timeout_s + 15)),
            )?
            .query(&[("timeout_s", timeout_s)]);
        self.json(rb).await
    }

    /// `GET /v1/requests`. `status`: None for `all`.
    pub async fn list(
        &self,
        status: Option<Status>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<RequestPage, ClientError> {
        self.list_capped(status, limit, cursor, None).await
    }

    /// Like [`Client::list`], leaving out params longer than `params_max_bytes` bytes of
    /// JSON (`params_truncated`, `params_size`): fetch such a request with
    /// [`Client::get`] before showing or deciding it.
    pub async fn list_capped(
        &self,
        status: Option<Status>,
        limit: Option<usize>,
        cursor: Option<&str>,
        params_max_bytes: Option<usize>,
    ) -> Result<RequestPage, ClientError> {
        let mut q: Vec<(&str, String)> = vec![(
            "status",
            status.map_or("all".to_owned(), |s| s.as_str().to_owned()),
        )];
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        if let Some(max) = params_max_bytes {
            q.push(("params_max_bytes", max.to_string()));
        }
        let rb = self
            .request(Method::GET, "v1/requests", Some(Duration::from_secs(60)))?
            .query(&q);
        self.page(rb).await
    }

    /// The newest `limit` requests of `status` (None: every status), newest filed first
    /// (`order=newest`); `next_cursor` is set when there are older ones.
    pub async fn list_newest(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<RequestPage, ClientError> {
        self.list_newest_capped(status, limit, None).await
    }

    /// Like [`Client::list_newest`], leaving out params longer than `params_max_bytes`
    /// (see [`Client::list_capped`]).
    pub async fn list_newest_capped(
        &self,
        status: Option<Status>,
        limit: usize,
        params_max_bytes: Option<usize>,
    ) -> Result<RequestPage, ClientError> {
        let mut q = vec![
            (
                "status",
                status.map_or("all".to_owned(), |s| s.as_str().to_owned()),
            ),
            ("limit", limit.to_string()),
            ("order", "newest".to_owned()),
        ];
        if let Some(max) = params_max_bytes {
            q.push(("params_max_bytes", max.to_string()));
        }
        let rb = self
            .request(Method::GET, "v1/requests", Some(Duration::from_secs(60)))?
            .query(&q);
        self.page(rb).await
    }

    /// Every page of `GET /v1/requests`, and the sequence number of the first page (the
    /// point to stream from).
    pub async fn list_all(&self, status: Option<Status>) -> Result<RequestPage, ClientError> {
        let mut first = self.list(status, Some(1000), None).await?;
        let mut cursor = first.next_cursor.take();
        while let Some(c) = cursor {
            let page = self.list(status, Some(1000), Some(&c)).await?;
            first.requests.extend(page.requests);
            first.unreadable.extend(page.unreadable);
            cursor = page.next_cursor;
        }
        Ok(first)
    }

    async fn page(&self, rb: RequestBuilder) -> Result<RequestPage, ClientError> {
        let resp = self.send(rb).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Protocol(format!("reading the answer failed: {e}")))?;
        parse_page(&bytes)
    }

    pub async fn decide(
        &self,
        id: &str,
        body: &DecisionBody,
    ) -> Result<ApprovalRequest, ClientError> {
        let rb = self
            .request(
                Method::POST,
                &format!("v1/requests/{}/decision", path_segment(id)),
                Some(Duration::from_secs(30)),
            )?
            .json(body);
        self.json(rb).await
    }

    pub async fn cancel(&self, id: &str) -> Result<ApprovalRequest, ClientError> {
        let rb = self.request(
            Method::POST,
            &format!("v1/requests/{}/cancel", path_segment(id)),
            Some(Duration::from_secs(30)),
        )?;
        self.json(rb).await
    }

    /// `POST /v1/keys/rotate` (admin): a new approval-token signing key; the answer as
    /// the server gave it (the new `kid` and the published ones).
    pub async fn rotate_keys(&self) -> Result<serde_json::Value, ClientError> {
        let rb = self.request(
            Method::POST,
            "v1/keys/rotate",
            Some(Duration::from_secs(30)),
        )?;
        self.json(rb).await
    }

    pub async fn grants(&self) -> Result<GrantList, ClientError> {
        let rb = self.request(Method::GET, "v1/grants", Some(Duration::from_secs(30)))?;
        self.json(rb).await
    }

    pub async fn revoke(&self, grant_id: &str) -> Result<crate::protocol::Grant, ClientError> {
        let rb = self.request(
            Method::DELETE,
            &format!("v1/grants/{}", path_segment(grant_id)),
            Some(Duration::from_secs(30)),
        )?;
        self.json(rb).await
    }

    pub async fn audit(&self, after: Option<u64>, limit: usize) -> Result<AuditPage, ClientError> {
        let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        let rb = self
            .request(Method::GET, "v1/audit", Some(Duration::from_secs(60)))?
            .query(&q);
        self.json(rb).await
    }

    /// `GET /v1/deliveries` (admin): a page of webhook deliveries after `after`, of
    /// `status` (None: all) and `webhook` (None: every one).
    pub async fn deliveries(
        &self,
        after: Option<u64>,
        limit: usize,
        status: Option<crate::protocol::DeliveryStatus>,
        webhook: Option<&str>,
    ) -> Result<crate::protocol::DeliveryList, ClientError> {
        let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        if let Some(s) = status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(w) = webhook {
            q.push(("webhook", w.to_owned()));
        }
        let rb = self
            .request(Method::GET, "v1/deliveries", Some(Duration::from_secs(60)))?
            .query(&q);
        self.json(rb).await
    }

    /// `GET /v1/audit` as the JSON the server sent: the hash chain covers that, not what
    /// this build's [`AuditEntry`](crate::protocol::AuditEntry) keeps of it.
    pub async fn audit_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<serde_json::Value, ClientError> {
        let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        let rb = self
            .request(Method::GET, "v1/audit", Some(Duration::from_secs(60)))?
            .query(&q);
        self.json(rb).await
    }

    /// Opens `GET /v1/events` from `after` (exclusive). The caller parses the body as SSE
    /// (eventsource-stream) and owns reconnection.
    pub async fn events(&self, after: Option<u64>) -> Result<reqwest::Response, ClientError> {
        self.events_of(after, None).await
    }

    /// Like [`Client::events`], resuming only on the database `database_id` (the one the
    /// caller listed): another database answers 409 `database_changed`, so the caller
    /// lists again instead of taking it for the old one.
    pub async fn events_of(
        &self,
        after: Option<u64>,
        database_id: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        self.events_capped(after, database_id, None).await
    }

    /// Like [`Client::events_of`], leaving out of each event's request params longer than
    /// `params_max_bytes` (as [`Client::list_capped`] does).
    pub async fn events_capped(
        &self,
        after: Option<u64>,
        database_id: Option<&str>,
        params_max_bytes: Option<usize>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut rb = self
            .request(Method::GET, "v1/events", None)?
            .header(header::ACCEPT, "text/event-stream");
        if let Some(max) = params_max_bytes {
            rb = rb.query(&[("params_max_bytes", max)]);
        }
        if let Some(a) = after {
            rb = rb.header("Last-Event-ID", a.to_string());
        }
        if let Some(db) = database_id {
            rb = rb.header("Assent-Database-Id", db);
        }
        self.send(rb).await
    }
}

/// Percent-encodes an id for use as one path segment; ids are server-made, but a
/// user may type anything on the command line.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A list page, row by row. The rows are skimmed as raw text first: serde_json skips a
/// value without counting its depth, so only the row that nests past the parser's limit
/// (128, and a row adds three levels to its params) fails.
fn parse_page(bytes: &[u8]) -> Result<RequestPage, ClientError> {
    #[derive(serde::Deserialize)]
    struct Rows<'a> {
        #[serde(borrow)]
        requests: Vec<&'a serde_json::value::RawValue>,
        #[serde(default)]
        next_cursor: Option<String>,
        seq: u64,
        #[serde(default)]
        database_id: Option<String>,
    }
    /// The one field worth saving from a row that does not parse.
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Rows<'_> =
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol(format!("{e}")))?;
    let mut page = RequestPage {
        requests: Vec::with_capacity(rows.requests.len()),
        next_cursor: rows.next_cursor,
        seq: rows.seq,
        unreadable: Vec::new(),
        database_id: rows.database_id,
    };
    for row in rows.requests {
        match serde_json::from_str::<ApprovalRequest>(row.get()) {
            Ok(r) => page.requests.push(r),
            Err(e) => {
                let id = serde_json::from_str::<Id>(row.get()).ok().map(|r| r.id);
                tracing::warn!(id = ?id, error = %e, "a listed request could not be read; skipped");
                page.unreadable.push(UnreadableRow {
                    id,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(page)
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Protocol(format!("reading the answer failed: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{e}")))
}

async fn error_from_response(resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorResponse>(&bytes) {
        Ok(er) => ClientError::Api {
            status: status.as_u16(),
            code: er.error.code,
            message: er.error.message,
            request: er.request.map(Box::new),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(200).collect();
            ClientError::Api {
                status: status.as_u16(),
                code: "http_error".to_owned(),
                message: if snippet.trim().is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("unexpected status")
                        .to_owned()
                } else {
                    snippet
                },
                request: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_segment() {
        assert_eq!(path_segment("0193-abc_DEF.~"), "0193-abc_DEF.~");
        assert_eq!(path_segment("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn bad_urls_are_setup_errors() {
        let s = ClientSettings {
            url: "not a url".into(),
            token: None,
        };
        assert!(matches!(Client::new(&s), Err(ClientError::Setup(_))));
        let s = ClientSettings {
            url: "ftp://x".into(),
            token: None,
        };
        assert!(matches!(Client::new(&s), Err(ClientError::Setup(_))));
    }

    #[test]
    fn wrong_endpoints_are_told_from_unknown_ids() {
        let e = |code: &str, message: &str| ClientError::Api {
            status: 404,
            code: code.into(),
            message: message.into(),
            request: None,
        };
        assert!(
            e(
                "not_found",
                "no endpoint GET /x/v1/requests; see docs/api.md"
            )
            .is_wrong_endpoint()
        );
        assert!(e("http_error", "Not Found").is_wrong_endpoint());
        assert!(
            !e(
                "not_found",
                "no request with id r1; GET /v1/requests lists the known ones"
            )
            .is_wrong_endpoint()
        );
    }

    #[test]
    fn a_row_that_does_not_parse_costs_only_itself() {
        let good = r#"{"id":"r1","status":"pending","tool":"t","params":{},"args_hash":"h",
            "agent":"a","filed_by":"agent1","created_at":"2025-06-01T12:00:00.000Z"}"#;
        let deep = |depth: usize| {
            good.replace(
                r#""params":{}"#,
                &format!(r#""params":{}1{}"#, "[".repeat(depth), "]".repeat(depth)),
            )
        };
        let page = format!(
            r#"{{"requests":[{good},{},{},{},{},7],"next_cursor":"9","seq":12}}"#,
            deep(126).replace("r1", "r-126"),
            deep(127).replace("r1", "r-127"),
            deep(130).replace("r1", "r-130"),
            good.replace("pending", "on-hold").replace("r1", "r-new"),
        );
        let page = parse_page(page.as_bytes()).unwrap();
        let ids: Vec<&str> = page.requests.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r1", "r-126"]);
        assert_eq!((page.next_cursor.as_deref(), page.seq), (Some("9"), 12));
        let skipped: Vec<Option<&str>> = page.unreadable.iter().map(|u| u.id.as_deref()).collect();
        assert_eq!(skipped, [Some("r-127"), Some("r-130"), Some("r-new"), None]);
        assert!(
            page.unreadable[0].error.contains("recursion limit"),
            "{:?}",
            page.unreadable
        );
        assert!(
            page.unreadable[2].error.contains("on-hold"),
            "{:?}",
            page.unreadable
        );
        // Not a page at all: the whole answer is refused.
        assert!(matches!(parse_page(b"[]"), Err(ClientError::Protocol(_))));
    }

    #[test]
    fn base_path_is_kept() {
        let s = ClientSettings {
            url: "http://h:1/prefix".into(),
            token: None,
        };
        let c = Client::new(&s).unwrap();
        assert_eq!(
            c.url("v1/requests").unwrap().as_str(),
            "http://h:1/prefix/v1/requests"
        );
    }
}
