//! The reviewer console: a ratatui app driven by a pure state machine.

use std::process::ExitCode;

use crate::GlobalOpts;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {}

pub fn main(_g: &GlobalOpts, _a: ConsoleArgs) -> ExitCode {
    eprintln!("assent console: not built yet");
    ExitCode::FAILURE
}
