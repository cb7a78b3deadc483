//! `assent serve`: the approval backend (axum HTTP API over a [`crate::store::Store`]).

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7878, or [server] listen].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// SQLite database file, or :memory: for a throwaway store [default: the platform data dir].
    #[arg(long, value_name = "PATH")]
    pub db: Option<String>,
}

pub fn main(_g: &GlobalOpts, _a: ServeArgs) -> ExitCode {
    eprintln!("assent serve: not built yet");
    ExitCode::FAILURE
}
