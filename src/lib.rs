//! assent: a keyboard-driven terminal console for the human approval of AI-agent tool
//! calls, its reference approval backend, and the commands that put agents behind the gate.
//!
//! See ARCHITECTURE.md for the modules and the data flow.

pub mod agent;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod decision_rules;
pub mod demo;
pub mod logging;
pub mod notify;
pub mod policy;
pub mod protocol;
pub mod runtime;
pub mod sanitize;
pub mod server;
pub mod store;
pub mod text;
pub mod token;

/// Options every subcommand understands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalOpts {
    /// Config file (TOML). Default: config.toml in the platform config dir, if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Backend URL for the console, the CLI and the gate [env: ASSENT_URL; default http://127.0.0.1:7878].
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
}

impl GlobalOpts {
    pub fn load_config(&self) -> anyhow::Result<config::Config> {
        config::Config::load(self.config.as_deref())
    }

    /// Client settings for talking to the backend: flags, environment, then config.
    pub fn client_settings(&self) -> anyhow::Result<config::ClientSettings> {
        let cfg = self.load_config()?;
        config::ClientSettings::resolve(&cfg, self.url.as_deref())
    }
}
