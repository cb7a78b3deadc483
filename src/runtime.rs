//! The tokio runtimes the commands run on, built in one place.

use tokio::runtime::{Builder, Runtime};

/// For the short-lived commands (the gate, the hook, the CLI): one thread is plenty.
pub fn current_thread() -> std::io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}

/// For the long-running ones (the server, the console, the demo). `workers` caps the
/// worker threads (the console needs two: one drawing, one for the network).
pub fn multi_thread(workers: Option<usize>) -> std::io::Result<Runtime> {
    let mut b = Builder::new_multi_thread();
    if let Some(n) = workers {
        b.worker_threads(n);
    }
    b.enable_all().build()
}
