//! `GET /v1/events`: Server-Sent Events from the durable log.
//!
//! A stream subscribes to the live channel first, then replays the log from the
//! client's position (`Last-Event-ID` or `?after=`), then forwards live events. Every
//! event is sent once and in order: anything at or below the last sequence number sent
//! is dropped, and a gap (events published out of order by concurrent writers, or a
//! subscriber that lagged behind the channel) is filled by re-reading the log, so a
//! slow or unlucky client never silently misses an event. A resume point the log cannot
//! serve (another database's, or one whose events retention deleted) is refused with 409,
//! so the client lists again instead.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiQuery, optional_header};
use super::state::AppState;
use crate::protocol::{ApprovalRequest, Event};
use crate::store::Store;

/// Events read from the log per query while catching up.
const REPLAY_PAGE: usize = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this sequence number (`Last-Event-ID` wins).
    pub after: Option<u64>,
    /// The database the client last saw (`database_id` of a list or an event).
    pub database_id: Option<String>,
    /// Leave out of each event's request params longer than this many bytes of JSON, as
    /// a list does (`params_truncated`, `params_size`).
    pub params_max_bytes: Option<usize>,
}

/// The response header naming the database, and the request header in which a client
/// names the one it last saw.
pub const DATABASE_ID_HEADER: &str = "assent-database-id";

/// `GET /v1/events` (reviewer).
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this sequence number"),
        ("Assent-Database-Id" = Option<String>, Header, description = "The database the client last saw"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the seq, `event:` the type, `data:` an `Event` \
            as JSON; a `keep-alive` comment at least every 15 s",
            content_type = "text/event-stream", body = crate::protocol::Event,
            headers(("Assent-Database-Id" = String, description = "The server's database id"))),
        (status = 400, description = "`bad_query`, `bad_last_event_id` or `bad_request`",
            body = crate::protocol::ErrorResponse),
        (status = 403, description = "`forbidden`: not a reviewer or admin token", body = crate::protocol::ErrorResponse),
        (status = 409, description = "`conflict` (a resume point the log cannot serve) or `database_changed`",
            body = crate::protocol::ErrorResponse),
    ))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    caller.require_reviewer()?;
    let header_after = optional_header(
        &headers,
        "last-event-id",
        |v| v.trim().parse::<u64>().ok(),
        || {
            ApiError::bad_request(
                "bad_last_event_id",
                "Last-Event-ID must be the decimal sequence number of an event",
            )
        },
    )?;
    let database_id: Arc<str> = st.store.database_id().into();
    refuse_another_database(&headers, q.database_id, &database_id)?;
    // Subscribe before reading the log position: nothing committed after this point
    // can be missed.
    let live = st.hub.subscribe();
    let start = header_after.or(q.after);
    let current = check_resume_point(st.store.as_ref(), start).await?;
    let feed = Feed {
        store: Arc::clone(&st.store),
        live,
        shutdown: st.shutdown.clone(),
        last: start.unwrap_or(current),
        pending: VecDeque::new(),
        // Without a resume point the stream starts now: no replay needed.
        catch_up: start.is_some(),
        database_id: Arc::clone(&database_id),
        params_max_bytes: q.params_max_bytes,
    };
    let keepalive = KeepAlive::new()
        .interval(st.limits.keepalive)
        .text("keep-alive");
    let mut resp = Sse::new(feed.into_stream(Arc::clone(&st.tokens)))
        .keep_alive(keepalive)
        .into_response();
    // Ask reverse proxies (nginx) not to buffer the stream.
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(&database_id) {
        resp.headers_mut().insert(DATABASE_ID_HEADER, v);
    }
    Ok(resp)
}

/// 409 `database_changed` when the client names (by header, else query) a database
/// that is not this server's: its resume point and the requests it holds are another
/// database's.
fn refuse_another_database(
    headers: &HeaderMap,
    query: Option<String>,
    database_id: &str,
) -> Result<(), ApiError> {
    let seen = optional_header(
        headers,
        DATABASE_ID_HEADER,
        |v| Some(v.trim().to_owned()),
        || {
            ApiError::bad_request(
                "bad_request",
                "the Assent-Database-Id header must be visible ASCII",
            )
        },
    )?
    .or(query);
    match seen {
        Some(seen) if seen != database_id => Err(ApiError::new(
            StatusCode::CONFLICT,
            "database_changed",
            format!(
                "this server's database is {database_id}, not {seen}, the one you last saw: \
                 it was replaced, and its events do not continue the ones you have; list the \
                 requests again and stream from that list's seq"
            ),
        )),
        _ => Ok(()),
    }
}

/// The log's last sequence number, once the resume point `start` (if any) is one the log
/// can serve: not beyond its end (another database), nor before its start (compacted).
async fn check_resume_point(store: &dyn Store, start: Option<u64>) -> Result<u64, ApiError> {
    let current = store.current_seq().await?;
    let Some(after) = start else {
        return Ok(current);
    };
    if after > current {
        return Err(ApiError::conflict(format!(
            "resume point {after} is ahead of this server's event log (last event {current}): \
             the database was replaced; list the requests again and stream from their seq"
        )));
    }
    let horizon = store.compacted_through().await?;
    if after < horizon {
        return Err(ApiError::conflict(format!(
            "resume point {after} is older than this server's event log, which starts after \
             event {horizon} (older events are deleted after [server] event_retention): list \
             the requests again and stream from their seq"
        )));
    }
    Ok(current)
}

struct Feed {
    store: Arc<dyn Store>,
    live: broadcast::Receiver<Arc<Event>>,
    shutdown: watch::Receiver<bool>,
    /// Sequence number of the last event sent (or the starting point).
    last: u64,
    pending: VecDeque<Event>,
    /// Read the log after `last` before taking more live events.
    catch_up: bool,
    /// Put on every event sent, where an EventSource in a browser can read it.
    database_id: Arc<str>,
    /// Params longer than this are left out of the events sent (`?params_max_bytes=`).
    params_max_bytes: Option<usize>,
}

impl Feed {
    /// The events as sent: each approved request with its token (the stream is for
    /// reviewers only).
    fn into_stream(
        self,
        tokens: Arc<super::token::Tokens>,
    ) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send {
        futures::stream::unfold(self, move |mut feed| {
            let tokens = Arc::clone(&tokens);
            async move {
                let mut ev = feed.next().await?;
                ev.database_id = Some(feed.database_id.to_string());
                tokens.attach_event(&mut ev);
                if let (Some(max), Some(req)) = (feed.params_max_bytes, ev.request.as_mut()) {
                    leave_out_params(req, max);
                }
                Some((Ok(to_sse(&ev)), feed))
            }
        })
    }

    /// The next event to send, or None to end the stream (shutdown, or the log could not
    /// be read: the client reconnects with Last-Event-ID and loses nothing).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if ev.seq <= self.last {
                    continue;
                }
                self.last = ev.seq;
                return Some(ev);
            }
            if *self.shutdown.borrow() {
                return None;
            }
            if self.catch_up {
                match self.store.events_after(self.last, REPLAY_PAGE).await {
                    Ok(page) => {
                        if page.first().is_some_and(|ev| ev.seq > self.last + 1)
                            && self.compacted_past_last().await
                        {
                            return None;
                        }
                        self.catch_up = page.len() == REPLAY_PAGE;
                        self.pending.extend(page);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, after = self.last, "event replay failed; ending the stream");
                        return None;
                    }
                }
            }
            tokio::select! {
                r = self.live.recv() => match r {
                    Ok(ev) if ev.seq <= self.last => {}
                    Ok(ev) if ev.seq == self.last + 1 => {
                        self.last = ev.seq;
                        return Some((*ev).clone());
                    }
                    // A gap: something between was published later or not seen; the log
                    // has it, committed before this event was published.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.shutdown.changed() => return None,
            }
        }
    }
}

impl Feed {
    /// True when compaction deleted events after the last one sent (a stream that fell
    /// that far behind): the stream ends, and the client's resume from its last event is
    /// refused, so it lists again instead of silently missing them. A gap in the log that
    /// compaction did not make is a store's own numbering (not SQLite's), and is replayed.
    async fn compacted_past_last(&self) -> bool {
        match self.store.compacted_through().await {
            Ok(horizon) if horizon > self.last => {
                tracing::info!(
                    last = self.last,
                    horizon,
                    "a stream fell behind the event log's retention; ending it"
                );
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event log's start; ending the stream");
                true
            }
        }
    }
}

/// Leaves `req`'s params out when they are longer than `max` bytes of JSON, as a list
/// asked with `params_max_bytes` does: the same length the store reports (its params are
/// kept as this compact JSON), counted without writing them out.
fn leave_out_params(req: &mut ApprovalRequest, max: usize) {
    let mut size = ByteCount(0);
    if serde_json::to_writer(&mut size, &req.params).is_err() || size.0 <= max {
        return;
    }
    req.params = serde_json::Value::Null;
    req.params_truncated = true;
    req.params_size = Some(size.0 as u64);
}

/// A writer that only counts what it is given.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to_sse(ev: &Event) -> SseEvent {
    let data = serde_json::to_string(ev).unwrap_or_else(|e| {
        tracing::error!(error = %e, seq = ev.seq, "cannot serialise an event");
        "{}".to_owned()
    });
    SseEvent::default()
        .id(ev.seq.to_string())
        .event(ev.kind.as_str())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{FileOptions, fixtures};

    async fn store_with(n: usize) -> (Arc<dyn Store>, Vec<Event>) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let mut events = Vec::new();
        for i in 0..n {
            let new = fixtures::new_request("t", serde_json::json!({"i": i}));
            let w = store
                .file("agent1", new, FileOptions::default())
                .await
                .unwrap();
            events.extend(w.events);
        }
        (store, events)
    }

    /// A feed and its shutdown switch (dropping the switch would end the feed).
    fn feed(
        store: Arc<dyn Store>,
        live: broadcast::Receiver<Arc<Event>>,
        last: u64,
    ) -> (Feed, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        let f = Feed {
            store,
            live,
            shutdown,
            last,
            pending: VecDeque::new(),
            catch_up: false,
            database_id: "test".into(),
            params_max_bytes: None,
        };
        (f, stop)
    }

    async fn next_seq(f: &mut Feed) -> u64 {
        tokio::time::timeout(std::time::Duration::from_secs(2), f.next())
            .await
            .expect("an event")
            .expect("stream open")
            .seq
    }

    #[tokio::test]
    async fn out_of_order_publication_is_delivered_in_order_once() {
        let (store, evs) = store_with(3).await;
        let (tx, rx) = broadcast::channel(16);
        let (mut f, _stop) = feed(store, rx, 0);
        // Writers 2 and 3 published before writer 1.
        for i in [1, 2, 0] {
            tx.send(Arc::new(evs[i].clone())).unwrap();
        }
        assert_eq!(next_seq(&mut f).await, 1);
        assert_eq!(next_seq(&mut f).await, 2);
        assert_eq!(next_seq(&mut f).await, 3);
        // The late ones are not repeated.
        let more = tokio::time::timeout(std::time::Duration::from_millis(100), f.next()).await;
        assert!(more.is_err(), "a duplicate was sent");
    }

    #[tokio::test]
    async fn a_stream_behind_the_compacted_log_ends_instead_of_skipping() {
        let (store, _) = store_with(3).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let all = crate::store::Retention {
            events: Some(std::time::Duration::ZERO),
            audit: None,
        };
        store.compact(all, 2).await.unwrap();
        let (tx, rx) = broadcast::channel(16);
        let (mut f, _stop) = feed(Arc::clone(&store), rx, 1);
        f.catch_up = true;
        // Event 2 is gone: the feed ends rather than jump from 1 to 3.
        assert_eq!(f.next().await, None);
        // A feed at the compacted horizon misses nothing and goes on.
        let (mut f, _stop) = feed(store, tx.subscribe(), 2);
        f.catch_up = true;
        assert_eq!(next_seq(&mut f).await, 3);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_rereads_the_log() {
        let (store, evs) = store_with(10).await;
        let (tx, rx) = broadcast::channel(2);
        let (mut f, _stop) = feed(store, rx, 0);
        for e in &evs {
            let _ = tx.send(Arc::new(e.clone()));
        }
        let got: Vec<u64> = {
            let mut v = Vec::new();
            for _ in 0..10 {
                v.push(next_seq(&mut f).await);
            }
            v
        };
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn params_over_the_limit_are_left_out_with_their_size() {
        let params = serde_json::json!({"blob": "x".repeat(100)});
        let text = serde_json::to_string(&params).unwrap();
        let mut req = fixtures::request("r1", crate::protocol::Status::Pending);
        req.params = params.clone();
        leave_out_params(&mut req, text.len());
        assert!(
            !req.params_truncated && req.params == params,
            "at the limit: whole"
        );
        leave_out_params(&mut req, text.len() - 1);
        assert!(req.params_truncated && req.params.is_null());
        assert_eq!(req.params_size, Some(text.len() as u64));
    }
}
