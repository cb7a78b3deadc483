//! One POST of one delivery, and what its answer means: 2xx delivered, 410 gone (stop),
//! anything else (another status, a timeout, a refused connection) to be retried. The
//! error text never holds the URL (a Slack webhook's URL is its secret).

use std::time::Duration;

use reqwest::StatusCode;

/// How long a receiver has to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer bytes kept for the delivery's `last_error`.
const ERROR_BODY_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered(u16),
    Gone,
    Failed { status: Option<u16>, error: String },
}

/// The one client every sender uses: rustls, no redirects (a webhook answering 3xx is
/// misconfigured; following it would send the body and its signature elsewhere), the
/// request timeout.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("assent/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .build()
}

/// POSTs `body` (JSON) with `headers` to `url`.
pub async fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Answer {
    let mut rb = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        rb = rb.header(*name, value);
    }
    let mut resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            return Answer::Failed {
                status: None,
                error: describe(&e),
            };
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Answer::Delivered(status.as_u16());
    }
    if status == StatusCode::GONE {
        return Answer::Gone;
    }
    // The start of the answer says why, often; read no more of it than is kept.
    let mut said = Vec::new();
    while said.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => said.extend_from_slice(&chunk),
            _ => break,
        }
    }
    said.truncate(ERROR_BODY_BYTES);
    let said = String::from_utf8_lossy(&said);
    let said = crate::sanitize::line(said.trim());
    Answer::Failed {
        status: Some(status.as_u16()),
        error: if said.is_empty() {
            format!("answered {status}")
        } else {
            format!("answered {status}: {said}")
        },
    }
}

/// What went wrong with a request that got no answer, without its URL.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut why = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push(s.to_string());
        source = s.source();
    }
    match why.last() {
        Some(root) => format!("{what}: {}", crate::sanitize::line(root)),
        None => what.to_owned(),
    }
}
