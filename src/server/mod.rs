//! `assent serve`: the approval backend (axum HTTP API over a [`crate::store::Store`]).
//!
//! [`start`] runs the server inside the caller's tokio runtime (the tests and the demo
//! embed it); [`main`] is the `serve` subcommand around it.

pub mod api;
pub mod auth;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod extract;
pub mod hooks;
mod listen;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod state;
pub mod sweeper;
mod tail;
pub mod token;
pub mod wait;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

use crate::GlobalOpts;
use crate::config::ServerConfig;
use crate::store::Store;
use crate::store::postgres::{self, PgStore};
use crate::store::sqlite::{SqliteStore, Synchronous};
use auth::Auth;
use state::{AppState, EVENT_CHANNEL_CAPACITY, Limits};
use wait::Waiters;

/// How long shutdown waits for in-flight requests before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The protocol promises a keep-alive at least this often.
const MAX_KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7878, or [server] listen].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// SQLite database file, :memory: for a throwaway store, or a PostgreSQL URL
    /// (postgres://USER@HOST:PORT/DB; the password from PGPASSWORD or [server]
    /// database_password_file) [default: [server] database_url, else the platform data dir].
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
}

pub fn main(g: &GlobalOpts, a: ServeArgs) -> ExitCode {
    crate::logging::to_stderr();
    // Read before the runtime is built: it says how many threads the runtime has.
    let cfg = match g.load_config() {
        Ok(c) => c.server,
        Err(e) => {
            eprintln!("assent serve: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match crate::runtime::multi_thread(cfg.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent serve: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(cfg, a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut cfg: ServerConfig, a: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = a.listen {
        cfg.listen = listen;
    }
    if let Some(db) = a.db {
        if postgres::is_url(&db) && postgres::redact(&db) != db {
            bail!(
                "--db carries a password, which every user of this machine can read in the \
                 process list: pass postgres://USER@HOST:PORT/DB and the password in \
                 PGPASSWORD or [server] database_password_file"
            );
        }
        // The flag names the one database to use, whichever kind the config names.
        cfg.db = Some(db);
        cfg.database_url = None;
    }
    if cfg.tokens.is_empty() {
        bail!(
            "no tokens are configured, so every /v1 call would be refused: add [[server.tokens]] \
             entries (name, role, token) to the config file and pass it with --config; see \
             config.example.toml"
        );
    }
    let handle = start(cfg).await?;
    #[cfg(unix)]
    let sighup = tokio::spawn(policy::reload_on_sighup(handle.policy()));
    // The one line on stdout: scripts and tests read the bound port from it.
    let mut out = std::io::stdout().lock();
    writeln!(out, "assent: listening on {}", handle.url())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    drop(out);
    tracing::info!(addr = %handle.addr(), "listening");
    if !handle.addr().ip().is_loopback() {
        tracing::warn!(
            addr = %handle.addr(),
            "listening beyond loopback over plain HTTP: bearer tokens cross the network in \
             clear text; put a TLS-terminating proxy in front"
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    #[cfg(unix)]
    sighup.abort();
    handle.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// A running server. Dropping it without [`ServerHandle::shutdown`] still stops it,
/// but without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    policy: Arc<policy::PolicyHolder>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// `[server] metrics_listen`'s own server, when configured.
    metrics_server: Option<JoinHandle<std::io::Result<()>>>,
    metrics_addr: Option<SocketAddr>,
    sweeper: Option<JoinHandle<()>>,
    /// Re-reads the signing keys; holds the store, so shutdown waits for it too.
    key_refresh: Option<JoinHandle<()>>,
    tail: Option<JoinHandle<()>>,
    /// The webhooks' senders, one per webhook; they hold the store too.
    senders: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address actually bound (the port is real even when listening on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The policy in force, to reload it (the `serve` command does on SIGHUP).
    pub fn policy(&self) -> Arc<policy::PolicyHolder> {
        Arc::clone(&self.policy)
    }

    /// The address `[server] metrics_listen` bound, when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, ends event streams and long polls, waits for in-flight requests
    /// (up to 10 s), and closes the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(e).context("the HTTP server failed"),
                Ok(Err(e)) => bail!("the HTTP server task failed: {e}"),
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish in time; dropping them");
                    server.abort();
                }
            }
        }
        if let Some(metrics) = self.metrics_server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, metrics).await.is_err()
        {
            tracing::warn!("the metrics listener did not stop in time");
        }
        if let Some(sweeper) = self.sweeper.take() {
            let _ = sweeper.await;
        }
        if let Some(refresh) = self.key_refresh.take() {
            let _ = refresh.await;
        }
        if let Some(tail) = self.tail.take() {
            let _ = tail.await;
        }
        for sender in std::mem::take(&mut self.senders) {
            let _ = sender.await;
        }
        Ok(())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Where the database lives: a PostgreSQL URL (the config's `db` or `--db` when it is
/// one, else `database_url`), else the SQLite file `db`, else the platform data dir.
fn open_sqlite(cfg: &ServerConfig) -> anyhow::Result<SqliteStore> {
    let sync = Synchronous::parse(&cfg.sqlite_synchronous).ok_or_else(|| {
        anyhow::anyhow!(
            "[server] sqlite_synchronous = '{}': use \"full\" or \"normal\"",
            cfg.sqlite_synchronous
        )
    })?;
    let path: PathBuf = match cfg.db.as_deref() {
        Some(":memory:") => return SqliteStore::open_in_memory(),
        Some(p) => PathBuf::from(p),
        None => {
            let p = crate::config::default_db_path().context(
                "cannot find the platform data directory (is HOME set?); pass --db PATH",
            )?;
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}; pass --db PATH", dir.display()))?;
            }
            p
        }
    };
    SqliteStore::open(&path, sync)
}

/// The PostgreSQL URL `cfg` names, if any.
pub fn postgres_url(cfg: &ServerConfig) -> Option<&str> {
    match cfg.db.as_deref() {
        Some(db) if postgres::is_url(db) => Some(db),
        _ => cfg.database_url.as_deref(),
    }
}

/// The password of `[server] database_password_file` (its first line), if set.
fn database_password(cfg: &ServerConfig) -> anyhow::Result<Option<String>> {
    let Some(file) = &cfg.database_password_file else {
        return Ok(None);
    };
    let path = match (&cfg.config_path, file.is_relative()) {
        (Some(c), true) => c.parent().map_or_else(|| file.clone(), |d| d.join(file)),
        _ => file.clone(),
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read [server] database_password_file {}",
            path.display()
        )
    })?;
    Ok(Some(text.lines().next().unwrap_or("").to_owned()))
}

/// Starts the server on `cfg.listen` (use "127.0.0.1:0" for a free port) with the store
/// [`postgres_url`] names, else the SQLite store `cfg.db` (":memory:", a path, or the
/// platform default), and `cfg.tokens`. Must be called inside a tokio runtime.
pub async fn start(cfg: ServerConfig) -> anyhow::Result<ServerHandle> {
    // Which webhooks want which events: the store writes their deliveries with the events.
    let outbox = cfg.notify.outbox()?;
    if let Some(url) = postgres_url(&cfg) {
        let password = database_password(&cfg)?;
        let pg = PgStore::open(url, password.as_deref())
            .await?
            .with_outbox(outbox);
        return start_inner(cfg, Arc::new(pg.clone()), Some(pg)).await;
    }
    let store_cfg = cfg.clone();
    let store = tokio::task::spawn_blocking(move || open_sqlite(&store_cfg))
        .await
        .context("the store opening task failed")??
        .with_outbox(outbox);
    start_with_store(cfg, Arc::new(store)).await
}

/// Like [`start`], on any [`Store`] implementation (`cfg.db` is ignored). With webhooks
/// in `cfg.notify`, `store` must have been opened with their `cfg.notify.outbox()`, or
/// it writes no deliveries for their senders to send.
pub async fn start_with_store(
    cfg: ServerConfig,
    store: Arc<dyn Store>,
) -> anyhow::Result<ServerHandle> {
    start_inner(cfg, store, None).await
}

/// `shared`: the PostgreSQL store, when other instances may write to `store`: its log
/// is then tailed.
async fn start_inner(
    cfg: ServerConfig,
    store: Arc<dyn Store>,
    shared: Option<PgStore>,
) -> anyhow::Result<ServerHandle> {
    let auth = Auth::from_config(&cfg.tokens)?;
    if auth.is_empty() {
        tracing::warn!("no tokens configured: every /v1 call will be refused with 401");
    }
    let mut keepalive = Duration::from_secs(cfg.keepalive_seconds.max(1));
    if keepalive > MAX_KEEPALIVE {
        tracing::warn!(
            configured = cfg.keepalive_seconds,
            "keepalive_seconds above 15 breaks the protocol's promise; using 15"
        );
        keepalive = MAX_KEEPALIVE;
    }
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (if another server uses it, pass another --listen)",
                cfg.listen
            )
        })?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let metrics_listener = match &cfg.metrics_listen {
        Some(at) => Some(tokio::net::TcpListener::bind(at).await.with_context(|| {
            format!("cannot listen on [server] metrics_listen = {at} (is it in use?)")
        })?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr().context("cannot read the metrics address")?),
        None => None,
    };

    let tokens = token::Tokens::load(store.as_ref(), &cfg)
        .await
        .context("cannot set up the approval-token signing key")?;
    let (stop, stop_rx) = watch::channel(false);
    let (hub, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
    let published = match &shared {
        Some(_) => Some(Arc::new(state::Published::after(
            store
                .current_seq()
                .await
                .context("cannot read the event log's position")?,
        ))),
        None => None,
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let store: Arc<dyn Store> = Arc::new(metrics::Metered::new(store, Arc::clone(&metrics)));
    let (notifier, senders) = match crate::notify::start(
        &cfg.notify,
        Arc::clone(&store),
        Arc::clone(&metrics),
        stop_rx.clone(),
    )? {
        Some(s) => (Some(s.notifier), s.tasks),
        None => (None, Vec::new()),
    };
    let st = AppState {
        notifier,
        published,
        metrics,
        scrape_token: metrics::ScrapeToken::new(cfg.metrics_token.as_deref()),
        store,
        auth: Arc::new(auth),
        hub,
        waiters: Arc::new(Waiters::default()),
        limits: Arc::new(Limits {
            max_body_bytes: cfg.max_body_bytes,
            default_ttl: cfg.default_ttl,
            escalate_after: cfg.escalate_after,
            on_timeout: cfg.on_timeout,
            // Capped at a day: beyond that a long poll is indistinguishable from a hang.
            max_wait: Duration::from_secs(cfg.max_wait_seconds.min(24 * 3600)),
            keepalive,
            store: state::StoreLimits::from_config(&cfg),
        }),
        shutdown: stop_rx.clone(),
        tokens: Arc::new(tokens),
        policy: Arc::new(policy::PolicyHolder::new(
            cfg.policy.clone(),
            cfg.config_path.clone(),
        )),
    };

    let policy = Arc::clone(&st.policy);
    let app = router(st.clone());
    let st_for_metrics = st.clone();
    let key_refresh = tokio::spawn(token::refresh_loop(st.clone(), stop_rx.clone()));
    let tail = shared.map(|pg| tokio::spawn(tail::run(st.clone(), pg, stop_rx.clone())));
    let sweeper = tokio::spawn(sweeper::run(st, stop_rx.clone()));
    let conn_limits = listen::ConnLimits::from_config(&cfg);
    let metrics_server = metrics_listener.map(|l| {
        let app = Router::new()
            .fallback(metrics::scrape_open)
            .with_state(st_for_metrics.clone());
        tokio::spawn(listen::serve(l, app, conn_limits, stop_rx.clone()))
    });
    let server = tokio::spawn(listen::serve(listener, app, conn_limits, stop_rx));
    Ok(ServerHandle {
        addr,
        stop,
        policy,
        server: Some(server),
        metrics_server,
        metrics_addr,
        sweeper: Some(sweeper),
        key_refresh: Some(key_refresh),
        tail,
        senders,
    })
}

fn router(st: AppState) -> Router {
    let max_body = st.limits.max_body_bytes;
    // Every route comes from the one table that also describes it (GET /v1/openapi.json).
    let (api, _) = openapi::routes().split_for_parts();
    api.fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TraceLayer::new_for_http())
        .with_state(st)
}
