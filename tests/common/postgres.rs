//! PostgreSQL for the tests: a fresh database per test, on the server named by
//! `ASSENT_TEST_POSTGRES_URL` when it is set, else on a throwaway cluster this test
//! process starts (initdb and pg_ctl, in a temporary directory, on a free port) and a
//! watcher stops and deletes once the process is gone. With neither, a test prints one
//! loud line and skips; `ASSENT_REQUIRE_POSTGRES=1` (CI) turns the skip into a failure.
//! Changes when the way the tests reach PostgreSQL changes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where PostgreSQL's server binaries are looked for when not on PATH.
const PG_BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/14/bin",
    "/usr/local/pgsql/bin",
];

/// The directory holding `initdb` and `pg_ctl`, if any.
pub fn pg_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(PG_BIN_DIRS.iter().map(PathBuf::from))
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// PostgreSQL refuses to run as root: a root test process runs the server binaries as
/// the `postgres` user (the tests' temp directory then given to it).
const UNPRIVILEGED: &str = "postgres";

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` as a command, run as [`UNPRIVILEGED`] when this process is root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", UNPRIVILEGED, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A cluster of this process's own: stopped and deleted by a watcher once the process
/// has exited (however it exits), or by [`Cluster::stop`].
pub struct Cluster {
    pub bin: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub admin_url: String,
}

impl Cluster {
    /// initdb and start, in a temporary directory on a free port.
    pub fn start(bin: &Path) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("assent-pg-")
            .tempdir()?
            .keep();
        let data = dir.join("data");
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", UNPRIVILEGED])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(
                owned.success(),
                "cannot give {} to {UNPRIVILEGED}",
                dir.display()
            );
        }
        let run = |cmd: &mut Command| -> anyhow::Result<()> {
            let out = cmd.stdin(Stdio::null()).output()?;
            if !out.status.success() {
                anyhow::bail!(
                    "{:?} failed: {}{}",
                    cmd,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(())
        };
        run(pg_command(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cluster = Cluster {
            bin: bin.to_owned(),
            data: data.clone(),
            port,
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        // The watcher: once this process is gone, stop the cluster and delete it.
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
                 {runas} '{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
                pid = std::process::id(),
                runas = if is_root() {
                    format!("runuser -u {UNPRIVILEGED} --")
                } else {
                    String::new()
                },
                pg_ctl = bin.join("pg_ctl").display(),
                data = data.display(),
                dir = dir.display(),
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let log = self.data.with_file_name("postgres.log");
        let out = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            anyhow::bail!(
                "pg_ctl {args:?} failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Starts the (stopped) cluster again, on the same port.
    pub fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k '{}' -c max_connections=300 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.data.display()
        );
        self.pg_ctl(&["-w", "-t", "30", "-o", &opts, "start"])
    }

    /// Stops the cluster (fast: connections are cut) without deleting it.
    pub fn pg_ctl_stop(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-w", "-t", "30", "-m", "fast", "stop"])
    }
}

/// The server the tests create their databases on: the admin URL, once per process.
fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("ASSENT_TEST_POSTGRES_URL") {
                return Some(url);
            }
            let bin = pg_bin()?;
            match Cluster::start(&bin) {
                Ok(c) => Some(c.admin_url),
                Err(e) => {
                    eprintln!("!!! cannot start a throwaway PostgreSQL cluster: {e:#}");
                    None
                }
            }
        })
        .as_deref()
}

/// Whether the tests can reach PostgreSQL (starting the throwaway cluster if need be).
pub fn available() -> bool {
    server().is_some()
}

/// Whether `db` names a PostgreSQL database.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Whether the PostgreSQL tests must run (CI): then a skip is a failure.
pub fn required() -> bool {
    std::env::var("ASSENT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Says loudly that a PostgreSQL test is skipped, or fails it when they are required.
pub fn skip(test: &str) {
    let why = "no ASSENT_TEST_POSTGRES_URL and no initdb/pg_ctl found";
    assert!(
        !required(),
        "ASSENT_REQUIRE_POSTGRES=1 but PostgreSQL is not available ({why})"
    );
    eprintln!("!!! SKIPPED PostgreSQL test {test}: {why} (set ASSENT_TEST_POSTGRES_URL)");
}

/// Creates a database on `admin_url`'s server and returns its URL.
pub async fn create_database(admin_url: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "assent_t{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        uuid_suffix()
    );
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"));
    let conn = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    drop(client);
    let _ = conn.await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL ends in /DBNAME");
    format!("{base}/{name}")
}

fn uuid_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{t:x}")
}

/// A fresh, empty database for one test; None (after the loud line): skip the test.
pub async fn fresh_database(test: &str) -> Option<String> {
    let Some(admin) = server() else {
        skip(test);
        return None;
    };
    Some(create_database(admin).await)
}
