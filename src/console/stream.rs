//! The network task: keeps the console's picture of the backend current and reports it as
//! messages. On connect it lists the pending requests, then streams `GET /v1/events` from
//! that list's sequence number, so nothing is missed or doubled. On a drop it resumes the
//! stream with `Last-Event-ID` = the last event applied, retrying at most a second apart
//! (so a backend that is back is noticed within a second), and lists again only when the
//! backend refuses that point (409: its event log was replaced) or after a long outage.
//! Ctrl-r (`Command::Refresh`) retries at once, whatever the wait. Where streaming fails,
//! or `transport = "poll"`, it polls every `poll_interval`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::action::{Conn, Msg};
use super::streamed::Streamed;
use crate::client::{Client, ClientError};
use crate::config::Transport;
use crate::protocol::Status;

/// Longest silence on the event stream before it is taken for dead (the server sends a
/// keep-alive at least every 15 s).
const STREAM_IDLE: Duration = Duration::from_secs(45);
/// A stream that dies sooner than this counts as a failure to stream.
const SHORT_LIVED: Duration = Duration::from_secs(5);
/// After this many short-lived streams in a row, poll for a while instead.
const MAX_SHORT_STREAMS: u32 = 3;
/// How long to poll after streaming failed before trying to stream again.
const POLL_FALLBACK: Duration = Duration::from_secs(60);
/// While polling, the history is reloaded on every this many polls.
const HISTORY_EVERY: u64 = 10;
/// After an outage this long, list everything again rather than replay the events missed
/// (a long replay costs more than a list, and a list also repairs a replaced database).
const RELIST_AFTER: Duration = Duration::from_secs(10 * 60);
/// The final requests of each status fetched for the History tab.
const HISTORY_PER_STATUS: usize = super::model::HISTORY_CAP;
/// Pending requests per page of the list.
const LIST_PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Reload everything (and reopen the stream).
    Refresh,
}

#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub transport: Transport,
    pub poll_interval: Duration,
    /// Lists and the event stream leave out params longer than this (`[console]
    /// params_max_bytes`): the console fetches them for the request it shows.
    pub params_max_bytes: Option<usize>,
}

/// The backoff between reconnection attempts: 0.25 s, then 0.5 s, each stretched by a
/// random jitter of up to as much again (so many consoles do not retry in step), forever:
/// never more than a second apart, so a backend that answers again is noticed within a
/// second. An attempt is one small request, cheap for a backend that is down and for one
/// coming back (it answers a resume from its log without a relist).
pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// Of a run of failed attempts (about one a second), the log keeps the first and then
/// one in this many.
const LOG_EVERY: u32 = 60;

/// Whether failed attempt `n` (from 0) of a run is worth a line in the log.
fn worth_logging(n: u32) -> bool {
    n.is_multiple_of(LOG_EVERY)
}

/// A backend error in words a reviewer can act on.
pub fn describe(e: &ClientError, has_token: bool) -> String {
    match e.status() {
        Some(401) if !has_token => {
            "no token: set ASSENT_TOKEN or [console] token_file to a reviewer token".to_owned()
        }
        Some(401) => "the backend rejected the token (401): check ASSENT_TOKEN or [console] \
                      token_file"
            .to_owned(),
        Some(403) => {
            "the token is not a reviewer's (403): use a reviewer or admin token".to_owned()
        }
        _ => e.to_string(),
    }
}

enum Session {
    Stream { resp: reqwest::Response },
    Poll { why: Option<String> },
}

/// Why the task stopped: the console went away.
struct Closed;

pub struct Task {
    client: Client,
    settings: StreamSettings,
    tx: mpsc::Sender<Msg>,
    cmds: mpsc::Receiver<Command>,
    /// Last event sequence number sent to the console (or listed at).
    seq: u64,
    /// The backend's database the console listed (docs/api.md, "Database id"), set by
    /// every list: a resume names it, so a database replaced under the same address
    /// answers 409 and is listed again instead of being taken for the old one.
    database_id: Arc<Mutex<Option<String>>>,
    /// The console holds a snapshot that events from `seq` keep current.
    synced: bool,
    /// When the last stream dropped.
    dropped_at: Option<Instant>,
    short_streams: u32,
    poll_until: Option<Instant>,
    /// The waits between attempts (tests make them long, to see Ctrl-r cut one short).
    backoff: ExponentialBuilder,
}

impl Task {
    pub fn new(
        client: Client,
        settings: StreamSettings,
        tx: mpsc::Sender<Msg>,
        cmds: mpsc::Receiver<Command>,
    ) -> Task {
        Task {
            client,
            settings,
            tx,
            cmds,
            seq: 0,
            database_id: Arc::default(),
            synced: false,
            dropped_at: None,
            short_streams: 0,
            poll_until: None,
            backoff: backoff(),
        }
    }

    #[cfg(test)]
    fn with_backoff(mut self, backoff: ExponentialBuilder) -> Task {
        self.backoff = backoff;
        self
    }

    async fn send(&self, msg: Msg) -> Result<(), Closed> {
        self.tx.send(msg).await.map_err(|_| Closed)
    }

    pub async fn run(mut self) {
        let _ = self.run_inner().await;
    }

    fn want_poll(&self) -> bool {
        self.settings.transport == Transport::Poll
            || self.poll_until.is_some_and(|t| Instant::now() < t)
    }

    async fn run_inner(&mut self) -> Result<(), Closed> {
        loop {
            // Resume where the console is, when it holds a snapshot that the missed events
            // can bring up to date; otherwise (first connect, refresh, a refused resume
            // point, a long outage, polling) list everything.
            let long_outage = self.dropped_at.is_some_and(|t| t.elapsed() >= RELIST_AFTER);
            let resumed = if self.synced && !long_outage && !self.want_poll() {
                self.resume_with_backoff().await?
            } else {
                None
            };
            let session = match resumed {
                Some(s) => s,
                None => self.open_with_backoff().await?,
            };
            match session {
                Session::Poll { why } => {
                    self.poll(why).await?;
                    self.dropped_at = Some(Instant::now());
                }
                Session::Stream { resp } => {
                    let started = Instant::now();
                    self.dropped_at = None;
                    if self.stream(resp).await? {
                        self.synced = false;
                        continue; // a refresh: list again and reopen
                    }
                    self.dropped_at = Some(Instant::now());
                    if started.elapsed() < SHORT_LIVED {
                        self.short_streams += 1;
                    } else {
                        self.short_streams = 0;
                    }
                    if self.short_streams >= MAX_SHORT_STREAMS {
                        self.short_streams = 0;
                        self.poll_until = Some(Instant::now() + POLL_FALLBACK);
                    }
                    // Reconnecting resumes from the last event applied (Last-Event-ID):
                    // the backend replays what was missed, from its durable log.
                    self.send(Msg::Conn(Conn::Retrying {
                        at: chrono::Utc::now(),
                        error: "the event stream dropped".to_owned(),
                    }))
                    .await?;
                }
            }
        }
    }

    /// Reopens the event stream from the last event applied, with backoff, until it
    /// works; None when the backend refuses the resume point (409) or will not stream, or
    /// the outage grew long: then everything is listed again.
    async fn resume_with_backoff(&mut self) -> Result<Option<Session>, Closed> {
        let has_token = self.client.has_token();
        let tx = self.tx.clone();
        let client = self.client.clone();
        let seq = self.seq;
        let max = self.settings.params_max_bytes;
        let db = listed_database(&self.database_id);
        let since = self.dropped_at.unwrap_or_else(Instant::now);
        let failures = AtomicU32::new(0);
        let retry = (|| {
            let client = client.clone();
            let db = db.clone();
            async move { client.events_capped(Some(seq), db.as_deref(), max).await }
        })
        .retry(self.backoff)
        .sleep(tokio::time::sleep)
        .notify(|e: &ClientError, dur: Duration| {
            let error = describe(e, has_token);
            let n = failures.fetch_add(1, Ordering::Relaxed);
            if worth_logging(n) {
                tracing::warn!(
                    "cannot resume the event stream: {error}; next try in {dur:?} (attempt {})",
                    n + 1
                );
            }
            let at = chrono::Utc::now() + chrono::Duration::from_std(dur).unwrap_or_default();
            let _ = tx.try_send(Msg::Conn(Conn::Retrying { at, error }));
        })
        .when(|e| (e.is_transient() || e.is_auth()) && since.elapsed() < RELIST_AFTER);
        let result = tokio::select! {
            r = retry => r,
            cmd = self.cmds.recv() => return match cmd {
                // Ctrl-r: at once, and everything listed again (what a refresh means).
                Some(Command::Refresh) => {
                    tracing::info!("refresh asked while reconnecting: listing again now");
                    Ok(None)
                }
                None => Err(Closed),
            },
        };
        match result {
            Ok(resp) => {
                tracing::info!(after = seq, "event stream resumed");
                self.send(Msg::Conn(Conn::Live)).await?;
                Ok(Some(Session::Stream { resp }))
            }
            Err(e) => {
                tracing::info!(
                    after = seq,
                    "cannot resume the event stream ({e}); listing again"
                );
                Ok(None)
            }
        }
    }

    /// Connects (identity, lists, stream) until it works, saying on screen why it does not.
    async fn open_with_backoff(&mut self) -> Result<Session, Closed> {
        let has_token = self.client.has_token();
        let tx = self.tx.clone();
        let client = self.client.clone();
        let want_poll = self.want_poll();
        let max = self.settings.params_max_bytes;
        let failures = AtomicU32::new(0);
        let db = Arc::clone(&self.database_id);
        let result = loop {
            let retry = (|| {
                let client = client.clone();
                let tx = tx.clone();
                let db = Arc::clone(&db);
                async move { open(&client, &tx, want_poll, &db, max).await }
            })
            .retry(self.backoff)
            .sleep(tokio::time::sleep)
            .notify(|e: &OpenError, dur: Duration| {
                let error = match e {
                    OpenError::Client(e) => describe(e, has_token),
                    OpenError::Closed => String::new(),
                };
                let n = failures.fetch_add(1, Ordering::Relaxed);
                if worth_logging(n) {
                    tracing::warn!(
                        "backend unavailable: {error}; next try in {dur:?} (attempt {})",
                        n + 1
                    );
                }
                let at = chrono::Utc::now() + chrono::Duration::from_std(dur).unwrap_or_default();
                let _ = tx.try_send(Msg::Conn(Conn::Retrying { at, error }));
            })
            .when(|e| matches!(e, OpenError::Client(_)));
            tokio::select! {
                r = retry => break r,
                cmd = self.cmds.recv() => match cmd {
                    // Ctrl-r: the wait is cut short; the attempts start again now.
                    Some(Command::Refresh) => {
                        tracing::info!("refresh asked while connecting: trying now");
                        let _ = tx.try_send(Msg::Conn(Conn::Connecting));
                    }
                    None => return Err(Closed),
                },
            }
        };
        match result {
            Ok((session, seq)) => {
                self.seq = seq;
                self.synced = true;
                let conn = match &session {
                    Session::Stream { .. } => Conn::Live,
                    Session::Poll { why } => Conn::Polling { why: why.clone() },
                };
                self.send(Msg::Conn(conn)).await?;
                Ok(session)
            }
            Err(_) => Err(Closed),
        }
    }

    /// Reads events until the stream ends (false) or a refresh is asked for (true).
    async fn stream(&mut self, resp: reqwest::Response) -> Result<bool, Closed> {
        let bytes =
            tokio_stream::StreamExt::timeout(resp.bytes_stream(), STREAM_IDLE).map(|r| match r {
                Ok(Ok(b)) => Ok(b),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no data for {} s", STREAM_IDLE.as_secs())),
            });
        let mut events = Box::pin(bytes.eventsource());
        loop {
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    Some(Command::Refresh) => return Ok(true),
                    None => return Err(Closed),
                },
                next = events.next() => match next {
                    None => {
                        tracing::info!("event stream ended");
                        return Ok(false);
                    }
                    Some(Err(e)) => {
                        tracing::info!("event stream broke: {e}");
                        return Ok(false);
                    }
                    Some(Ok(sse)) => match read_event(&sse.data) {
                        Ok(ev) if database_changed(&self.database_id, ev.database_id.as_deref()) => {
                            tracing::warn!(
                                database = ?ev.database_id,
                                "the backend's database is not the one listed; listing again"
                            );
                            return Ok(true);
                        }
                        Ok(ev) => {
                            self.seq = self.seq.max(ev.seq);
                            self.send(Msg::Event(Box::new(ev))).await?;
                        }
                        Err(e) => {
                            tracing::warn!(event = %sse.event, "unreadable event skipped: {e}");
                        }
                    },
                },
            }
        }
    }

    /// Polls until an error (back to connecting), a refresh, or, when polling only because
    /// streaming failed, until it is time to try streaming again.
    async fn poll(&mut self, why: Option<String>) -> Result<(), Closed> {
        let fallback = self.settings.transport == Transport::Sse;
        let until = self
            .poll_until
            .unwrap_or_else(|| Instant::now() + POLL_FALLBACK);
        let why = why.or_else(|| fallback.then(|| "the event stream keeps failing".to_owned()));
        self.send(Msg::Conn(Conn::Polling { why: why.clone() }))
            .await?;
        let mut polls: u64 = 0;
        loop {
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    Some(Command::Refresh) => {}
                    None => return Err(Closed),
                },
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            if fallback && Instant::now() >= until {
                self.poll_until = None;
                return Ok(());
            }
            polls += 1;
            // The history is the heaviest list: reload it now and then, not on every poll.
            let with_history = polls.is_multiple_of(HISTORY_EVERY);
            let max = self.settings.params_max_bytes;
            match snapshot(&self.client, &self.tx, with_history, &self.database_id, max).await {
                Ok(seq) => {
                    self.seq = seq;
                    self.send(Msg::Conn(Conn::Polling { why: why.clone() }))
                        .await?;
                }
                Err(OpenError::Closed) => return Err(Closed),
                Err(OpenError::Client(e)) => {
                    tracing::warn!("poll failed: {e}");
                    return Ok(());
                }
            }
        }
    }
}

#[derive(Debug)]
enum OpenError {
    Client(ClientError),
    Closed,
}

impl From<ClientError> for OpenError {
    fn from(e: ClientError) -> Self {
        OpenError::Client(e)
    }
}

async fn open(
    client: &Client,
    tx: &mpsc::Sender<Msg>,
    want_poll: bool,
    database_id: &Mutex<Option<String>>,
    params_max_bytes: Option<usize>,
) -> Result<(Session, u64), OpenError> {
    let me = client.whoami().await?;
    tx.send(Msg::Identity(me))
        .await
        .map_err(|_| OpenError::Closed)?;
    let seq = snapshot(client, tx, true, database_id, params_max_bytes).await?;
    if want_poll {
        return Ok((Session::Poll { why: None }, seq));
    }
    let db = listed_database(database_id);
    match client
        .events_capped(Some(seq), db.as_deref(), params_max_bytes)
        .await
    {
        Ok(resp) => Ok((Session::Stream { resp }, seq)),
        // Listing works but streaming does not (a proxy, an old backend): poll instead.
        Err(e) if !e.is_transient() && !e.is_auth() => Ok((
            Session::Poll {
                why: Some(format!("streaming failed: {e}")),
            },
            seq,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Lists pending requests, history and grants; returns the sequence number to stream from.
async fn snapshot(
    client: &Client,
    tx: &mpsc::Sender<Msg>,
    with_history: bool,
    database_id: &Mutex<Option<String>>,
    params_max_bytes: Option<usize>,
) -> Result<u64, OpenError> {
    let send = |m: Msg| async { tx.send(m).await.map_err(|_| OpenError::Closed) };
    // Each page goes to the console as it arrives: holding the whole list here first
    // (parsed) doubled the console's memory at its peak, and the allocator kept it.
    let mut page = client
        .list_capped(
            Some(Status::Pending),
            Some(LIST_PAGE),
            None,
            params_max_bytes,
        )
        .await?;
    // The stream resumes from the first page's sequence number: events after it replay
    // any change that later pages saw or missed.
    let seq = page.seq;
    if let Ok(mut db) = database_id.lock() {
        db.clone_from(&page.database_id);
    }
    let mut first = true;
    loop {
        let cursor = page.next_cursor.take();
        send(Msg::PendingPage {
            requests: std::mem::take(&mut page.requests),
            first,
            last: cursor.is_none(),
        })
        .await?;
        first = false;
        let Some(c) = cursor else { break };
        page = client
            .list_capped(
                Some(Status::Pending),
                Some(LIST_PAGE),
                Some(&c),
                params_max_bytes,
            )
            .await?;
    }
    let grants = client.grants().await?;
    send(Msg::Grants(grants.grants)).await?;
    if !with_history {
        return Ok(seq);
    }
    // The History tab is an aid, not the queue: when it cannot be read, the console
    // still works (and events still add to it).
    match history(client, params_max_bytes).await {
        Ok((requests, more)) => send(Msg::History { requests, more }).await?,
        Err(e) => tracing::warn!("cannot load the history: {e}"),
    }
    Ok(seq)
}

/// The newest final requests of each final status (never every request ever filed), and
/// whether the backend holds older ones.
async fn history(
    client: &Client,
    params_max_bytes: Option<usize>,
) -> Result<(Vec<crate::protocol::ApprovalRequest>, bool), ClientError> {
    let mut requests = Vec::new();
    let mut more = false;
    for status in [
        Status::Approved,
        Status::Rejected,
        Status::Expired,
        Status::Cancelled,
    ] {
        let page = client
            .list_newest_capped(Some(status), HISTORY_PER_STATUS, params_max_bytes)
            .await?;
        more |= page.next_cursor.is_some();
        requests.extend(page.requests);
    }
    Ok((requests, more))
}

/// One event of the stream, from the text of its `data:` field: the work the console does
/// for each event before `update` (the stream bench times the two together).
pub fn read_event(data: &str) -> Result<Streamed, serde_json::Error> {
    Streamed::read(data)
}

/// The database the console last listed, if the backend names one.
fn listed_database(database_id: &Mutex<Option<String>>) -> Option<String> {
    database_id.lock().ok().and_then(|db| db.clone())
}

/// Does an event come from another database than the one listed? An event or a list
/// without an id (an older backend) says nothing either way.
fn database_changed(listed: &Mutex<Option<String>>, event: Option<&str>) -> bool {
    match (listed_database(listed), event) {
        (Some(listed), Some(event)) => listed != event,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn only_a_named_other_database_is_a_change() {
        let listed = Mutex::new(Some("db-1".to_owned()));
        assert!(!database_changed(&listed, Some("db-1")));
        assert!(database_changed(&listed, Some("db-2")));
        assert!(!database_changed(&listed, None));
        assert!(!database_changed(&Mutex::new(None), Some("db-2")));
    }

    #[test]
    fn auth_errors_are_said_plainly() {
        let e = ClientError::Api {
            status: 401,
            code: "unauthorized".into(),
            message: "x".into(),
            request: None,
        };
        assert!(describe(&e, false).contains("ASSENT_TOKEN"));
        assert!(describe(&e, true).contains("rejected"));
        let e = ClientError::Api {
            status: 403,
            code: "forbidden".into(),
            message: "x".into(),
            request: None,
        };
        assert!(describe(&e, true).contains("reviewer"));
    }

    /// Ctrl-r cuts a wait between attempts short: with a minute's backoff, the next
    /// attempt still comes at once.
    #[tokio::test]
    async fn a_refresh_retries_at_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let settings = crate::config::ClientSettings {
            url: format!("http://127.0.0.1:{port}"),
            token: Some("t".into()),
        };
        let client = Client::new(&settings).unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let (cmd_tx, cmd_rx) = mpsc::channel(8);
        let stream = StreamSettings {
            transport: Transport::Sse,
            poll_interval: Duration::from_secs(60),
            params_max_bytes: None,
        };
        let minute = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(60))
            .without_max_times();
        let task = tokio::spawn(
            Task::new(client, stream, tx, cmd_rx)
                .with_backoff(minute)
                .run(),
        );
        let retrying = |m: &Msg| matches!(m, Msg::Conn(Conn::Retrying { .. }));
        let within = Duration::from_secs(10);
        let first = tokio::time::timeout(within, rx.recv()).await.unwrap();
        assert!(first.as_ref().is_some_and(retrying), "{first:?}");
        let asked = std::time::Instant::now();
        cmd_tx.send(Command::Refresh).await.unwrap();
        let mut saw_connecting = false;
        for _ in 0..4 {
            let m = tokio::time::timeout(within, rx.recv())
                .await
                .unwrap()
                .unwrap();
            saw_connecting |= matches!(m, Msg::Conn(Conn::Connecting));
            if retrying(&m) {
                break;
            }
        }
        assert!(saw_connecting, "the header says it tries again");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        task.abort();
    }

    #[test]
    fn retries_stay_within_a_second_and_never_give_up() {
        let delays: Vec<Duration> = backoff().build().take(10_000).collect();
        assert_eq!(delays.len(), 10_000);
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(250)));
        // A backend that is back is tried within a second of its return.
        assert!(
            delays.iter().all(|d| *d < Duration::from_secs(1)),
            "{delays:?}"
        );
        // Jittered: consoles that lost the same backend do not retry in step.
        let later = &delays[10..];
        assert!(later.iter().any(|d| *d != later[0]));
    }
}
