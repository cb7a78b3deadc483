//! `[notify]` and its `[[notify.webhooks]]` (config.example.toml documents each key): read
//! and checked with the rest of the config file, then turned into the store's routing
//! table ([`NotifyConfig::outbox`]) and the senders' endpoints ([`NotifyConfig::endpoints`],
//! which reads the secrets).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::sign::Secret;
use crate::protocol::Risk;
use crate::store::rules::{Outbox, Route};

/// The event types a webhook may listen for, by their wire names.
pub const WEBHOOK_EVENTS: [&str; 9] = [
    "request.created",
    "request.decided",
    "request.expired",
    "request.cancelled",
    "request.escalated",
    "request.approval_added",
    "grant.created",
    "grant.revoked",
    "grant.expired",
];

/// What a webhook listens for unless it says: what a person must act on.
pub const DEFAULT_EVENTS: [&str; 2] = ["request.created", "request.escalated"];

pub const DEFAULT_RETRY_HORIZON: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// How long a delivery is retried after its event, e.g. "24h"; then it is failed.
    #[serde(with = "crate::config::humantime_serde_compat")]
    pub retry_horizon: Duration,
    /// The wait before the first retry; each next one waits twice as long (at most an
    /// hour), less up to half of it at random (jitter).
    #[serde(with = "crate::config::humantime_serde_compat")]
    pub retry_delay: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            retry_horizon: DEFAULT_RETRY_HORIZON,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }
}

/// How a webhook's body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Standard Webhooks: `{"type","timestamp","data"}`, signed.
    #[default]
    Standard,
    /// A Slack incoming webhook's `text` and `blocks`.
    Slack,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// Where to POST. A Slack webhook's URL is itself a secret: it is never logged.
    pub url: String,
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    #[serde(default)]
    pub min_risk: Option<Risk>,
    /// Globs over the tool name; empty: every tool.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Globs over the agent name; empty: every agent.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub format: Format,
    /// A file whose first line is the `whsec_…` secret; relative to the config file.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the `whsec_…` secret.
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn default_events() -> Vec<String> {
    DEFAULT_EVENTS.iter().map(|e| (*e).to_owned()).collect()
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may be the secret (Slack's are): only where it points is shown.
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &shown_url(&self.url))
            .field("events", &self.events)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// `url` as logs and errors may show it: its scheme and host, not its path or query
/// (where a Slack webhook keeps its secret) nor any password.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// One webhook as its sender uses it.
#[derive(Clone)]
pub struct Endpoint {
    pub name: String,
    pub url: reqwest::Url,
    pub format: Format,
    /// Signs every body when set (required for `standard`).
    pub secret: Option<Secret>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &shown_url(self.url.as_str()))
            .field("format", &self.format)
            .field("secret", &self.secret)
            .finish()
    }
}

impl NotifyConfig {
    /// Makes `secret_file` paths relative to `dir` (the config file's) absolute.
    pub fn resolve_paths(&mut self, dir: &Path) {
        for w in &mut self.webhooks {
            if let Some(f) = &w.secret_file
                && f.is_relative()
            {
                w.secret_file = Some(dir.join(f));
            }
        }
    }

    /// Refuses what can be refused without reading a secret.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.retry_horizon < Duration::from_secs(1) {
            bail!("[notify] retry_horizon must be at least 1s (the default is 24h)");
        }
        if self.retry_delay < Duration::from_millis(10) {
            bail!("[notify] retry_delay must be at least 10ms (the default is 5s)");
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let at = format!("[[notify.webhooks]] entry {} ('{}')", i + 1, w.name);
            let name_ok = !w.name.is_empty()
                && w.name.len() <= 64
                && w.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !name_ok {
                bail!("{at}: name must be 1 to 64 letters, digits, '-', '_' or '.'");
            }
            if !names.insert(w.name.as_str()) {
                bail!("{at}: the name appears twice in [[notify.webhooks]]");
            }
            let url =
                reqwest::Url::parse(&w.url).with_context(|| format!("{at}: url is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("{at}: url must be http:// or https://");
            }
            if w.events.is_empty() {
                bail!("{at}: events is empty: leave it out for the default, or name some");
            }
            for e in &w.events {
                if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                    bail!(
                        "{at}: unknown event '{}': use {}",
                        crate::sanitize::line(e),
                        WEBHOOK_EVENTS.join(", ")
                    );
                }
            }
            match (&w.secret_file, &w.secret_env, w.format) {
                (Some(_), Some(_), _) => bail!("{at}: set secret_file or secret_env, not both"),
                (None, None, Format::Standard) => bail!(
                    "{at}: format \"standard\" signs every delivery: set secret_file or \
                     secret_env (a whsec_… secret)"
                ),
                _ => {}
            }
            globs(&w.tools).with_context(|| format!("{at}: bad tools glob"))?;
            globs(&w.agents).with_context(|| format!("{at}: bad agents glob"))?;
        }
        Ok(())
    }

    /// The store's routing table: which webhooks want which events.
    pub fn outbox(&self) -> anyhow::Result<Outbox> {
        self.validate()?;
        let routes = self
            .webhooks
            .iter()
            .map(|w| {
                Ok(Route {
                    webhook: w.name.clone(),
                    events: w.events.clone(),
                    min_risk: w.min_risk,
                    tools: globs(&w.tools)?,
                    agents: globs(&w.agents)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Outbox::new(routes))
    }

    /// The senders' endpoints, their secrets read from their files or the environment.
    pub fn endpoints(&self) -> anyhow::Result<Vec<Endpoint>> {
        self.validate()?;
        self.webhooks
            .iter()
            .map(|w| {
                let at = format!("[[notify.webhooks]] '{}'", w.name);
                let text = match (&w.secret_file, &w.secret_env) {
                    (Some(f), _) => Some(
                        std::fs::read_to_string(f)
                            .with_context(|| {
                                format!("{at}: cannot read secret_file {}", f.display())
                            })?
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_owned(),
                    ),
                    (None, Some(var)) => Some(std::env::var(var).with_context(|| {
                        format!("{at}: the environment variable {var} (secret_env) is not set")
                    })?),
                    (None, None) => None,
                };
                let secret = text
                    .map(|t| Secret::parse(&t).with_context(|| format!("{at}: bad secret")))
                    .transpose()?;
                Ok(Endpoint {
                    name: w.name.clone(),
                    url: reqwest::Url::parse(&w.url)
                        .with_context(|| format!("{at}: url is not a URL"))?,
                    format: w.format,
                    secret,
                })
            })
            .collect()
    }
}

/// Any of `patterns`, as the policy reads a glob; None for none (everything matches).
fn globs(patterns: &[String]) -> anyhow::Result<Option<globset::GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = globset::GlobSetBuilder::new();
    for p in patterns {
        set.add(
            globset::GlobBuilder::new(p)
                .literal_separator(false)
                .build()
                .with_context(|| format!("'{}'", crate::sanitize::line(p)))?,
        );
    }
    Ok(Some(set.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<NotifyConfig> {
        #[derive(Deserialize)]
        struct File {
            notify: NotifyConfig,
        }
        let cfg = toml::from_str::<File>(text)?.notify;
        cfg.validate()?;
        Ok(cfg)
    }

    const ONE: &str = r#"
[[notify.webhooks]]
name = "pager"
url = "https://example.invalid/hook"
secret_env = "PAGER_SECRET"
"#;

    #[test]
    fn defaults_and_the_default_events() {
        let cfg = parse(ONE).unwrap();
        assert_eq!(cfg.retry_horizon, DEFAULT_RETRY_HORIZON);
        assert_eq!(cfg.webhooks[0].events, DEFAULT_EVENTS);
        assert_eq!(cfg.webhooks[0].format, Format::Standard);
        assert_eq!(cfg.outbox().unwrap().routes().len(), 1);
    }

    #[test]
    fn mistakes_are_refused_with_their_key() {
        for (extra, words) in [
            ("events = [\"request.made\"]", "unknown event"),
            ("events = []", "events is empty"),
            ("tools = [\"a[\"]", "bad tools glob"),
            ("secret_file = \"s\"", "not both"),
            ("min_risk = \"huge\"", "huge"),
        ] {
            let err = parse(&format!("{ONE}{extra}\n")).unwrap_err();
            assert!(format!("{err:#}").contains(words), "{extra}: {err:#}");
        }
        let unsigned = "[[notify.webhooks]]\nname = \"a\"\nurl = \"https://x.invalid/\"\n";
        let err = parse(unsigned).unwrap_err();
        assert!(
            format!("{err:#}").contains("secret_file or secret_env"),
            "{err:#}"
        );
        let slack = format!("{unsigned}format = \"slack\"\n");
        parse(&slack).unwrap();
        let twice = format!("{slack}{slack}");
        assert!(format!("{:#}", parse(&twice).unwrap_err()).contains("twice"));
        let ftp = "[[notify.webhooks]]\nname = \"a\"\nurl = \"ftp://x/\"\nformat = \"slack\"\n";
        assert!(parse(ftp).is_err());
    }

    #[test]
    fn the_url_is_not_shown_whole() {
        let cfg = parse(
            "[[notify.webhooks]]\nname = \"s\"\nformat = \"slack\"\n\
             url = \"https://hooks.slack.invalid/services/T0/B0/SECRETPART\"\n",
        )
        .unwrap();
        let shown = format!("{:?}", cfg.webhooks[0]);
        assert!(!shown.contains("SECRETPART"), "{shown}");
        assert!(shown.contains("hooks.slack.invalid"), "{shown}");
    }
}
