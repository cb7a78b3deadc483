//! Logs go to a file (tracing), never to a terminal the console owns.

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Where the logs of `component` go: `ASSENT_LOG_DIR`, else the platform data dir.
pub fn log_dir() -> PathBuf {
    std::env::var_os("ASSENT_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(crate::config::default_log_dir)
}

/// Logs of this process go to `<log dir>/<component>.YYYY-MM-DD.log`, rotated daily, 7 kept (filter: `ASSENT_LOG`, default
/// info). Keep the guard alive until exit so buffered lines are flushed. Returns None when
/// the directory cannot be made: logging is then off rather than on the screen.
pub fn to_file(component: &str) -> Option<WorkerGuard> {
    let dir = log_dir();
    std::fs::create_dir_all(&dir).ok()?;
    // Daily files, the last week kept: a console left open for months must not fill the disk.
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(component)
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("ASSENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// Logs to stderr: for `assent serve`, which owns no screen.
pub fn to_stderr() {
    let filter = EnvFilter::try_from_env("ASSENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in a log file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
