//! The real server inside the test process, on 127.0.0.1 and a port of its choosing:
//! the quickest way to a server whose config a test changes field by field. Changes when
//! the server's embedding API (`assent::server::start`) changes.

use std::path::{Path, PathBuf};

use assent::config::ServerConfig;
use assent::server::ServerHandle;

use super::identities::tokens;
use super::server::ANY_PORT;

/// A server config for tests: loopback, free port, every identity, the store `db`.
pub fn server_config(db: &str) -> ServerConfig {
    ServerConfig {
        listen: ANY_PORT.to_owned(),
        db: Some(db.to_owned()),
        tokens: tokens(),
        ..ServerConfig::default()
    }
}

/// A fresh database file in a temporary directory (deleted when the TempDir drops): start
/// a server on it, shut it down, start another on the same path.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("assent.db");
    (dir, path)
}

/// The real server, in-process.
pub struct TestServer {
    handle: Option<ServerHandle>,
    pub url: String,
}

impl TestServer {
    /// On an in-memory store.
    pub async fn start() -> TestServer {
        Self::start_with(server_config(":memory:")).await
    }

    /// On the SQLite file `path` (restart tests start twice on the same file).
    pub async fn start_on(path: &Path) -> TestServer {
        Self::start_with(server_config(path.to_str().expect("utf-8 temp path"))).await
    }

    /// With a config changed by `f` (e.g. a short TTL or a small body limit).
    pub async fn start_configured(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut cfg = server_config(":memory:");
        f(&mut cfg);
        Self::start_with(cfg).await
    }

    /// With a config loaded from the file at `path` (e.g. one from `write_config`), on
    /// loopback and an in-memory store.
    pub async fn start_from_file(path: &Path) -> TestServer {
        let mut cfg = assent::config::Config::load(Some(path))
            .expect("config loads")
            .server;
        cfg.listen = ANY_PORT.into();
        cfg.db = Some(":memory:".into());
        Self::start_with(cfg).await
    }

    /// With `cfg`, its `db` taken on the running test's store ([`super::store`]).
    pub async fn start_with(mut cfg: ServerConfig) -> TestServer {
        if let Some(db) = &cfg.db {
            cfg.db = Some(super::store::database(db).await);
        }
        let handle = assent::server::start(cfg).await.expect("server starts");
        let url = handle.url();
        TestServer {
            handle: Some(handle),
            url,
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await.expect("clean shutdown");
        }
    }
}
