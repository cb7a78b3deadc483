//! `assent demo`: the server in-process, a simulated fleet of agents, and the console on it.

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DemoArgs {}

pub fn main(_g: &GlobalOpts, _a: DemoArgs) -> ExitCode {
    eprintln!("assent demo: not built yet");
    ExitCode::FAILURE
}
