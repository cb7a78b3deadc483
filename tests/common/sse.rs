//! `GET /v1/events` read as a test reads it: the next event within a bound, or the next
//! `n`, parsed with eventsource-stream. Changes when the event stream's framing changes.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;

use super::http::Http;

/// The longest [`SseStream::take`] waits for each event.
const EACH_WITHIN: Duration = Duration::from_secs(5);

/// One parsed SSE event: (id, event name, data JSON).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// An open `GET /v1/events` stream.
pub struct SseStream {
    inner: Events,
}

impl SseStream {
    /// Opens the stream as `token`, resuming after `last_event_id` (header) if given.
    pub async fn open(url: &str, token: &str, last_event_id: Option<u64>) -> SseStream {
        Self::open_with(url, token, last_event_id, None).await
    }

    /// Opens with the `Last-Event-ID` header and/or the `?after=` query.
    pub async fn open_with(
        url: &str,
        token: &str,
        last_event_id: Option<u64>,
        after: Option<u64>,
    ) -> SseStream {
        // Not `Http::request`: its time bound would end the stream.
        let http = Http::new(url, Some(token));
        let mut rb = http
            .client
            .get(format!("{}/v1/events", http.base))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id.to_string());
        }
        if let Some(a) = after {
            rb = rb.query(&[("after", a)]);
        }
        let resp = rb.send().await.expect("events request");
        assert_eq!(resp.status(), StatusCode::OK, "events stream refused");
        SseStream {
            inner: Box::pin(resp.bytes_stream().eventsource()),
        }
    }

    /// The next event, or None if none arrives within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let ev = tokio::time::timeout(within, self.inner.next())
            .await
            .ok()??;
        let ev = ev.expect("well-formed SSE");
        Some(SseEvent {
            id: ev.id.parse().expect("numeric event id"),
            event: ev.event,
            data: serde_json::from_str(&ev.data).expect("JSON data"),
        })
    }

    /// The next `n` events, each within 5 s; panics if they do not come.
    pub async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ev = self
                .next_within(EACH_WITHIN)
                .await
                .unwrap_or_else(|| panic!("event {} of {n} did not arrive", i + 1));
            out.push(ev);
        }
        out
    }
}
