//! The TOML configuration file shared by every subcommand (config.example.toml documents
//! each key with its default).
//!
//! One file serves both sides: `[server]` for `assent serve`, `[console]` for the console,
//! the CLI and the gate. Unknown keys are refused so a typo is an error, not a silent default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::protocol::Role;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
pub const DEFAULT_URL: &str = "http://127.0.0.1:7878";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_LIST_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most `[server] worker_threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    /// `assent mcp`: the reason template of the calls it files.
    #[serde(default)]
    pub mcp: crate::agent::mcp::McpConfig,
    /// The filing policy, inline; or name a file with `[server] policy_file`.
    #[serde(default)]
    pub policy: Option<crate::policy::PolicyConfig>,
    /// `[notify]` and `[[notify.webhooks]]`: who the server tells, and how (issue 13).
    #[serde(default)]
    pub notify: crate::notify::NotifyConfig,
    /// The file this was read from, for error messages.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// SQLite file; `:memory:` for a throwaway store; or a PostgreSQL URL. None: the
    /// platform data dir.
    pub db: Option<String>,
    /// A PostgreSQL URL (postgres://USER@HOST:PORT/DB): several instances may share it.
    /// Used unless `db` (or `--db`) is a URL itself.
    pub database_url: Option<String>,
    /// A file whose first line is the PostgreSQL password (else PGPASSWORD); relative to
    /// the config file's directory.
    pub database_password_file: Option<PathBuf>,
    pub max_body_bytes: usize,
    /// TTL given to requests filed without `ttl_seconds`, e.g. "30m". None: no expiry.
    #[serde(with = "opt_duration")]
    pub default_ttl: Option<Duration>,
    /// How long after filing a request still pending escalates (one `request.escalated`
    /// event), for requests whose policy rule sets no `escalate_after`; None: never.
    #[serde(with = "opt_duration")]
    pub escalate_after: Option<Duration>,
    /// What the end of a pending request's TTL does, unless its rule says: "expire" or
    /// "reject" (rejected by `system`, reason `approval_timeout`).
    pub on_timeout: crate::protocol::TimeoutAction,
    /// Longest `/wait` a client may ask for, in seconds.
    pub max_wait_seconds: u64,
    /// Seconds between SSE keep-alive comments.
    pub keepalive_seconds: u64,
    /// Seconds a connection has to send a whole request head: from accept, or from the
    /// first byte of the next request on a keep-alive connection.
    pub header_read_timeout_seconds: u64,
    /// Seconds a keep-alive connection with no request in flight may stay silent before
    /// it is closed. Event streams and long polls are in flight, so never idle.
    pub idle_timeout_seconds: u64,
    /// Seconds a request has to send its whole body, counted from its head.
    pub body_read_timeout_seconds: u64,
    /// Open connections at most; at the cap the connection idle the longest is closed.
    pub max_connections: usize,
    /// SQLite `synchronous` pragma: "full" (fsync on every commit, survives power loss)
    /// or "normal" (survives a crash or kill -9 of the server, faster).
    pub sqlite_synchronous: String,
    /// Threads that run the server's work; None: one per core. Instances that share a
    /// machine (two on one database, say) each take their share of its cores rather than
    /// every one: threads past the cores only trade places on them.
    pub worker_threads: Option<usize>,
    // The store's lifecycle (issue 11): how much one list page may carry, and how long
    // the event log and the audit log keep their entries.
    /// Bytes a page of `GET /v1/requests` may carry (params, plus an allowance per
    /// request); a page ends early, with `next_cursor`, rather than go over.
    pub list_page_bytes: usize,
    /// How long the event log keeps an event, e.g. "30days"; None ("none"): forever. A
    /// stream cannot resume from before the oldest event kept.
    #[serde(with = "opt_duration")]
    pub event_retention: Option<Duration>,
    /// How long the audit log keeps an entry; None (the default): forever.
    #[serde(with = "opt_duration")]
    pub audit_retention: Option<Duration>,
    pub tokens: Vec<TokenConfig>,
    /// A bearer token that may read `GET /metrics` and nothing else (a Prometheus
    /// scraper's `bearer_token`); admins' tokens may read it too.
    pub metrics_token: Option<String>,
    /// Also serve `GET /metrics` on this address with no token (e.g. "127.0.0.1:9464"),
    /// for a scraper on a private network; None: only on `listen`, with a token.
    pub metrics_listen: Option<String>,
    /// The server's name: the `iss` of its approval tokens.
    pub name: String,
    /// How long an approval token is valid after the approval, e.g. "5m".
    #[serde(with = "humantime_serde_compat")]
    pub approval_token_ttl: Duration,
    /// An Ed25519 private key in PKCS#8 PEM that signs approval tokens; None: a key made
    /// at first start and kept in the database. Relative paths are taken from the config
    /// file's directory.
    pub signing_key_file: Option<PathBuf>,
    /// A TOML file holding the `[policy]` table (instead of `[policy]` in this file).
    /// Relative paths are taken from the config file's directory.
    pub policy_file: Option<PathBuf>,
    /// The compiled policy (from `[policy]` or `policy_file`); None: every call waits
    /// for a human. Set by [`Config::parse`], or directly by an embedding program.
    #[serde(skip)]
    pub policy: Option<std::sync::Arc<crate::policy::Policy>>,
    /// The config file this came from: where SIGHUP and `POST /v1/policy/reload` re-read
    /// the policy.
    #[serde(skip)]
    pub config_path: Option<PathBuf>,
    /// The webhooks: the file's `[notify]`, set by [`Config::parse`] (or directly by an
    /// embedding program).
    #[serde(skip)]
    pub notify: crate::notify::NotifyConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.into(),
            db: None,
            database_url: None,
            database_password_file: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_ttl: None,
            escalate_after: None,
            on_timeout: crate::protocol::TimeoutAction::Expire,
            max_wait_seconds: 3600,
            keepalive_seconds: 15,
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_read_timeout_seconds: 30,
            max_connections: 10_000,
            sqlite_synchronous: "full".into(),
            worker_threads: None,
            list_page_bytes: DEFAULT_LIST_PAGE_BYTES,
            event_retention: Some(DEFAULT_EVENT_RETENTION),
            audit_retention: None,
            tokens: Vec::new(),
            metrics_token: None,
            metrics_listen: None,
            name: "assent".into(),
            approval_token_ttl: crate::token::DEFAULT_TTL,
            signing_key_file: None,
            policy_file: None,
            policy: None,
            config_path: None,
            notify: crate::notify::NotifyConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub token: Option<String>,
    /// Lowercase hex SHA-256 of the token, so the file need not hold the secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub url: Option<String>,
    /// File holding the token (first line); ASSENT_TOKEN wins over it.
    pub token_file: Option<PathBuf>,
    /// "sse" (stream, with polling as fallback) or "poll".
    pub transport: Transport,
    #[serde(with = "humantime_serde_compat")]
    pub poll_interval: Duration,
    /// Ring the terminal bell when a request arrives while the terminal does not have
    /// focus (or, in a terminal that does not report focus, into an empty queue).
    pub bell: bool,
    /// With the bell, a desktop notification (OSC 9 and OSC 777) where the terminal
    /// shows one; false: never.
    pub desktop_notify: bool,
    /// `y` and `Y` copy the selected request's id and params through the terminal (an
    /// OSC 52 sequence); false turns that off.
    pub copy: bool,
    /// Overrides of the default key bindings: action name → key or list of keys.
    pub keys: BTreeMap<String, KeyBinding>,
    /// Lists and the event stream leave out params longer than this many bytes of JSON;
    /// the console fetches them for the request it shows.
    pub params_max_bytes: usize,
}

/// `[console] params_max_bytes` unless set: 64 KiB, far above what a reviewer reads on a
/// screen, far below the 1 MiB requests that made one list weigh 400 MB (issue 11).
pub const DEFAULT_PARAMS_MAX_BYTES: usize = 64 * 1024;

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            url: None,
            token_file: None,
            transport: Transport::Sse,
            poll_interval: Duration::from_secs(2),
            bell: true,
            desktop_notify: true,
            copy: true,
            keys: BTreeMap::new(),
            params_max_bytes: DEFAULT_PARAMS_MAX_BYTES,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Sse,
    Poll,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyBinding {
    One(String),
    Many(Vec<String>),
}

impl KeyBinding {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyBinding::One(k) => vec![k.as_str()],
            KeyBinding::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

pub(crate) mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        match s.as_deref() {
            None | Some("") | Some("none") => Ok(None),
            Some(s) => humantime::parse_duration(s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The platform's directories for assent (`~/.config/assent`, `~/.local/share/assent` on Linux).
pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "assent", "assent")
}

/// The config file used when `--config` is not given.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// The SQLite file used when neither `--db` nor `[server] db` is given.
pub fn default_db_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().join("assent.db"))
}

/// Where the log file goes (never the terminal the console owns).
pub fn default_log_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.data_dir().join("logs"))
        .unwrap_or_else(std::env::temp_dir)
}

impl Config {
    pub fn parse(text: &str, origin: &Path) -> anyhow::Result<Config> {
        let mut cfg: Config = toml::from_str(text)
            .with_context(|| format!("{}: not a valid assent config", origin.display()))?;
        if let (Some(pf), Some(dir)) = (&cfg.server.policy_file, origin.parent())
            && pf.is_relative()
        {
            cfg.server.policy_file = Some(dir.join(pf));
        }
        if let (Some(kf), Some(dir)) = (&cfg.server.signing_key_file, origin.parent())
            && kf.is_relative()
        {
            cfg.server.signing_key_file = Some(dir.join(kf));
        }
        if let Some(dir) = origin.parent() {
            cfg.notify.resolve_paths(dir);
        }
        cfg.server.notify = cfg.notify.clone();
        cfg.origin = Some(origin.to_path_buf());
        cfg.validate()
            .with_context(|| format!("{}: invalid configuration", origin.display()))?;
        // Compiled once here, so a broken policy stops the server before it listens.
        cfg.server.policy = Some(std::sync::Arc::new(cfg.load_policy()?));
        cfg.server.config_path = Some(origin.to_path_buf());
        Ok(cfg)
    }

    /// Loads `explicit` (which must exist), else the default path if it exists, else defaults.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match default_config_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, &path)
    }

    /// The compiled filing policy: `[policy]` here, or the file `[server] policy_file`
    /// names; with neither, every call waits for a human.
    pub fn load_policy(&self) -> anyhow::Result<crate::policy::Policy> {
        let origin = self
            .origin
            .as_ref()
            .map_or_else(|| "config".to_owned(), |p| p.display().to_string());
        match (&self.policy, &self.server.policy_file) {
            (Some(_), Some(f)) => bail!(
                "{origin}: both [policy] and [server] policy_file ({}) are set: keep one",
                f.display()
            ),
            (Some(p), None) => crate::policy::Policy::compile(p, &origin),
            (None, Some(f)) => crate::policy::Policy::load_file(f),
            (None, None) => Ok(crate::policy::Policy::require_all()),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.server.name.trim().is_empty() {
            bail!("[server] name is empty: it is the issuer of the approval tokens");
        }
        let ttl = self.server.approval_token_ttl;
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(24 * 3600) {
            bail!(
                "[server] approval_token_ttl must be from 1s to 24h (a token is for the call \
                 about to be made, not a standing pass)"
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.server.tokens.iter().enumerate() {
            if t.name.trim().is_empty() {
                bail!("[[server.tokens]] entry {} has an empty name", i + 1);
            }
            match (&t.token, &t.token_sha256) {
                (Some(_), Some(_)) => bail!(
                    "token '{}' sets both `token` and `token_sha256`: keep one",
                    t.name
                ),
                (None, None) => bail!("token '{}' needs `token` or `token_sha256`", t.name),
                (Some(tok), None) if tok.len() < 8 => bail!(
                    "token '{}' is shorter than 8 characters: use a long random secret",
                    t.name
                ),
                (None, Some(h)) if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    bail!(
                        "token '{}': `token_sha256` must be 64 hex characters (sha256sum of the token)",
                        t.name
                    )
                }
                _ => {}
            }
            if !names.insert(t.name.as_str()) {
                bail!("token name '{}' appears twice in [[server.tokens]]", t.name);
            }
        }
        if let Some(n) = self.server.worker_threads
            && !(1..=MAX_WORKER_THREADS).contains(&n)
        {
            bail!(
                "[server] worker_threads = {n}: use 1 to {MAX_WORKER_THREADS}, or leave it out for one per core"
            );
        }
        match self.server.sqlite_synchronous.as_str() {
            "full" | "normal" => {}
            other => bail!("[server] sqlite_synchronous = '{other}': use \"full\" or \"normal\""),
        }
        for (key, value) in [
            (
                "header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
            ("idle_timeout_seconds", self.server.idle_timeout_seconds),
            (
                "body_read_timeout_seconds",
                self.server.body_read_timeout_seconds,
            ),
        ] {
            if value == 0 {
                bail!("[server] {key} must be at least 1 (second)");
            }
        }
        if self.server.max_connections == 0 {
            bail!("[server] max_connections must be at least 1");
        }
        if self.server.list_page_bytes == 0 {
            bail!("[server] list_page_bytes must be at least 1 (the default is 8388608, 8 MiB)");
        }
        if let Some(after) = self.server.escalate_after
            && (after.as_secs() == 0 || after.as_secs() > crate::store::rules::MAX_TTL_SECONDS)
        {
            bail!("[server] escalate_after must be at least 1s and at most 366 days");
        }
        for (key, keep) in [
            ("event_retention", self.server.event_retention),
            ("audit_retention", self.server.audit_retention),
        ] {
            if keep.is_some_and(|d| d < Duration::from_secs(1)) {
                bail!("[server] {key} must be at least 1s, or \"none\" to keep everything");
            }
        }
        self.notify.validate()?;
        if self.console.poll_interval < Duration::from_millis(100) {
            bail!("[console] poll_interval must be at least 100ms");
        }
        Ok(())
    }
}

/// How a client (console, CLI, gate, hook) reaches the backend.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub url: String,
    pub token: Option<String>,
}

impl ClientSettings {
    /// `--url` > `ASSENT_URL` > `[console] url` > the default; `ASSENT_TOKEN` > `[console] token_file`.
    /// The token is never taken from the command line, where `ps` would show it.
    pub fn resolve(cfg: &Config, url_flag: Option<&str>) -> anyhow::Result<ClientSettings> {
        let env_url = std::env::var("ASSENT_URL").ok().filter(|s| !s.is_empty());
        let url = url_flag
            .map(str::to_owned)
            .or(env_url)
            .or_else(|| cfg.console.url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let token = match std::env::var("ASSENT_TOKEN").ok().filter(|s| !s.is_empty()) {
            Some(t) => Some(t),
            None => match &cfg.console.token_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read [console] token_file {}", path.display())
                    })?;
                    let tok = text.lines().next().unwrap_or("").trim().to_owned();
                    if tok.is_empty() {
                        bail!("token file {} is empty", path.display());
                    }
                    Some(tok)
                }
                None => None,
            },
        };
        Ok(ClientSettings { url, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../config.example.toml");
        let cfg = Config::parse(text, Path::new("config.example.toml")).unwrap();
        assert_eq!(cfg.server.listen, DEFAULT_LISTEN);
        assert_eq!(cfg.server.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        // The example documents the connection limits with their defaults.
        let d = ServerConfig::default();
        assert_eq!(
            cfg.server.header_read_timeout_seconds,
            d.header_read_timeout_seconds
        );
        assert_eq!(cfg.server.idle_timeout_seconds, d.idle_timeout_seconds);
        assert_eq!(
            cfg.server.body_read_timeout_seconds,
            d.body_read_timeout_seconds
        );
        assert_eq!(cfg.server.max_connections, d.max_connections);
    }

    /// The example's `[[notify.webhooks]]`, commented out there, parse as they stand.
    #[test]
    fn example_webhooks_parse() {
        let text = include_str!("../config.example.toml");
        let start = text.find("# [[notify.webhooks]]").unwrap_or(0);
        let block: String = text[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let cfg = Config::parse(&format!("[notify]\n{block}"), Path::new("x")).unwrap();
        let hooks = &cfg.server.notify.webhooks;
        assert_eq!(hooks.len(), 2, "{block}");
        assert_eq!(hooks[0].min_risk, Some(crate::protocol::Risk::High));
        assert_eq!(hooks[1].format, crate::notify::Format::Slack);
        let example = Config::parse(text, Path::new("config.example.toml")).unwrap();
        assert_eq!(
            example.server.notify.retry_horizon,
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn empty_config_gives_defaults() {
        let cfg = Config::parse("", Path::new("x")).unwrap();
        assert!(cfg.console.bell);
        assert!(cfg.console.desktop_notify);
        assert_eq!(cfg.server.escalate_after, None);
        assert_eq!(
            cfg.server.on_timeout,
            crate::protocol::TimeoutAction::Expire
        );
        assert!(cfg.console.copy);
        assert_eq!(cfg.console.transport, Transport::Sse);
        assert_eq!(cfg.server.keepalive_seconds, 15);
        assert_eq!(cfg.server.header_read_timeout_seconds, 10);
        assert_eq!(cfg.server.idle_timeout_seconds, 60);
        assert_eq!(cfg.server.body_read_timeout_seconds, 30);
        assert_eq!(cfg.server.max_connections, 10_000);
    }

    #[test]
    fn worker_threads_parse_and_zero_is_refused() {
        assert_eq!(
            Config::parse("", Path::new("x"))
                .unwrap()
                .server
                .worker_threads,
            None
        );
        let cfg = Config::parse("[server]\nworker_threads = 1", Path::new("x")).unwrap();
        assert_eq!(cfg.server.worker_threads, Some(1));
        for bad in ["0", "1025"] {
            let text = format!("[server]\nworker_threads = {bad}");
            let err = Config::parse(&text, Path::new("x")).unwrap_err();
            assert!(format!("{err:#}").contains("worker_threads"), "{err:#}");
        }
    }

    #[test]
    fn connection_limits_parse_and_zero_is_refused() {
        let text = "[server]\nheader_read_timeout_seconds = 2\nidle_timeout_seconds = 5\n\
                    body_read_timeout_seconds = 7\nmax_connections = 50";
        let cfg = Config::parse(text, Path::new("x")).unwrap();
        assert_eq!(cfg.server.header_read_timeout_seconds, 2);
        assert_eq!(cfg.server.idle_timeout_seconds, 5);
        assert_eq!(cfg.server.body_read_timeout_seconds, 7);
        assert_eq!(cfg.server.max_connections, 50);
        for key in [
            "header_read_timeout_seconds",
            "idle_timeout_seconds",
            "body_read_timeout_seconds",
            "max_connections",
        ] {
            let err = Config::parse(&format!("[server]\n{key} = 0"), Path::new("x")).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
    }

    #[test]
    fn the_store_lifecycle_keys_parse_with_their_defaults() {
        let day = Duration::from_secs(24 * 3600);
        let cfg = Config::parse("", Path::new("x")).unwrap().server;
        assert_eq!(cfg.list_page_bytes, 8 * 1024 * 1024);
        assert_eq!(cfg.event_retention, Some(30 * day));
        assert_eq!(cfg.audit_retention, None);
        let text = "[server]\nlist_page_bytes = 65536\nevent_retention = \"7days\"\n\
                    audit_retention = \"365days\"";
        let cfg = Config::parse(text, Path::new("x")).unwrap().server;
        assert_eq!(cfg.list_page_bytes, 65536);
        assert_eq!(cfg.event_retention, Some(7 * day));
        assert_eq!(cfg.audit_retention, Some(365 * day));
        let forever = "[server]\nevent_retention = \"none\"";
        let cfg = Config::parse(forever, Path::new("x")).unwrap().server;
        assert_eq!(cfg.event_retention, None);
        for bad in [
            "list_page_bytes = 0",
            "event_retention = \"0s\"",
            "audit_retention = \"500ms\"",
            "event_retention = \"soon\"",
        ] {
            let text = format!("[server]\n{bad}");
            assert!(Config::parse(&text, Path::new("x")).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_timeout_keys_parse_and_bad_values_are_refused() {
        let text = "[server]\nescalate_after = \"15m\"\non_timeout = \"reject\"\n\
                    [console]\ndesktop_notify = false";
        let cfg = Config::parse(text, Path::new("x")).unwrap();
        assert_eq!(cfg.server.escalate_after, Some(Duration::from_secs(900)));
        assert_eq!(
            cfg.server.on_timeout,
            crate::protocol::TimeoutAction::Reject
        );
        assert!(!cfg.console.desktop_notify);
        for bad in ["escalate_after = \"0s\"", "on_timeout = \"wait\""] {
            let text = format!("[server]\n{bad}");
            assert!(Config::parse(&text, Path::new("x")).is_err(), "{bad}");
        }
    }

    #[test]
    fn typos_and_bad_tokens_are_refused() {
        assert!(Config::parse("[server]\nlisten_addr = 'x'", Path::new("x")).is_err());
        let both = "[[server.tokens]]\nname='a'\nrole='agent'\ntoken='12345678'\ntoken_sha256='00'";
        assert!(Config::parse(both, Path::new("x")).is_err());
        let bad_role = "[[server.tokens]]\nname='a'\nrole='god'\ntoken='12345678'";
        assert!(Config::parse(bad_role, Path::new("x")).is_err());
        let dup = "[[server.tokens]]\nname='a'\nrole='agent'\ntoken='12345678'\n[[server.tokens]]\nname='a'\nrole='agent'\ntoken='87654321'";
        assert!(Config::parse(dup, Path::new("x")).is_err());
    }
}
