//! The real console binary in a 200x50 pseudo-terminal on a server holding N pending
//! requests: its resident memory once the queue is loaded, then, left alone, its CPU and
//! the bytes it writes to the terminal. The screen is kept by a terminal emulator (vt100)
//! fed with every byte, so the cells that changed each second can be counted too.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::measure::{core_percent, read_cpu_ticks, read_status_kb};
use crate::server::{REVIEWER, Server};

pub struct Memory {
    pub pending: usize,
    pub load_time: Duration,
    pub rss: u64,
    pub peak: u64,
}

pub struct Idle {
    pub secs: f64,
    pub cpu: f64,
    pub bytes_per_sec: f64,
    pub cells_per_sec: f64,
}

pub struct Console {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn std::io::Write + Send>,
    pid: u32,
    screen: Arc<Mutex<vt100::Parser>>,
    bytes: Arc<AtomicU64>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    _dir: tempfile::TempDir,
}

const COLS: u16 = 200;
const ROWS: u16 = 50;

impl Console {
    pub fn spawn(bin: &std::path::Path, server: &Server) -> anyhow::Result<Console> {
        Console::spawn_with(bin, server, "")
    }

    /// With `config` as its config file (e.g. a `[console]` table).
    pub fn spawn_with(
        bin: &std::path::Path,
        server: &Server,
        config: &str,
    ) -> anyhow::Result<Console> {
        let dir = tempfile::tempdir()?;
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, config)?;
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| anyhow::anyhow!("cannot open a pseudo-terminal: {e}"))?;
        let mut cmd = CommandBuilder::new(bin);
        cmd.arg("--config");
        cmd.arg(&cfg);
        cmd.arg("console");
        cmd.env_clear();
        cmd.env("ASSENT_URL", &server.serve.url);
        cmd.env("ASSENT_TOKEN", REVIEWER);
        cmd.env("ASSENT_LOG_DIR", dir.path());
        cmd.env("ASSENT_LOG", "warn");
        cmd.env("HOME", dir.path());
        cmd.env("TERM", "xterm-256color");
        cmd.cwd(dir.path());
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| anyhow::anyhow!("cannot start the console: {e}"))?;
        drop(pair.slave);
        let pid = child
            .process_id()
            .context("the console has no process id")?;
        let mut reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| anyhow::anyhow!("cannot read the pseudo-terminal: {e}"))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| anyhow::anyhow!("cannot write to the pseudo-terminal: {e}"))?;
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let bytes = Arc::new(AtomicU64::new(0));
        let (s, b) = (Arc::clone(&screen), Arc::clone(&bytes));
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                b.fetch_add(n as u64, Ordering::Relaxed);
                match s.lock() {
                    Ok(mut p) => p.process(&buf[..n]),
                    Err(_) => break,
                }
            }
        });
        Ok(Console {
            child,
            writer,
            pid,
            screen,
            bytes,
            _master: pair.master,
            _dir: dir,
        })
    }

    fn contents(&self) -> String {
        self.screen
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    fn cells(&self) -> Vec<String> {
        let Ok(p) = self.screen.lock() else {
            return Vec::new();
        };
        let s = p.screen();
        let mut out = Vec::with_capacity(usize::from(ROWS) * usize::from(COLS));
        for r in 0..ROWS {
            for c in 0..COLS {
                out.push(
                    s.cell(r, c)
                        .map(|c| c.contents().to_owned())
                        .unwrap_or_default(),
                );
            }
        }
        out
    }

    /// Waits until the header says `N pending` and the console says it is live.
    pub async fn loaded(&self, n: usize, within: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let want = format!("{n} pending");
        loop {
            let s = self.contents();
            if s.contains(&want) && s.contains("live") {
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                bail!("the console did not show {want:?} within {within:?}; it shows:\n{s}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Moves the cursor down `rows` times, each time waiting (up to `within`) until the
    /// screen no longer says `loading…`: a reviewer reading one large request after
    /// another, each fetched in full while shown. How many loaded in time.
    pub async fn walk(&mut self, rows: usize, within: Duration) -> anyhow::Result<usize> {
        let mut loaded = 0;
        for _ in 0..rows {
            self.writer.write_all(b"j")?;
            self.writer.flush()?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let start = Instant::now();
            while self.contents().contains("loading…") && start.elapsed() < within {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !self.contents().contains("loading…") {
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    pub fn memory(&self, pending: usize, load_time: Duration) -> anyhow::Result<Memory> {
        Ok(Memory {
            pending,
            load_time,
            rss: read_status_kb(self.pid, "VmRSS")?,
            peak: read_status_kb(self.pid, "VmHWM")?,
        })
    }

    /// Leaves the console alone for `secs`, sampling the screen once a second.
    pub async fn idle(&self, secs: u64) -> anyhow::Result<Idle> {
        let b0 = self.bytes.load(Ordering::Relaxed);
        let t0 = read_cpu_ticks(self.pid)?;
        let start = Instant::now();
        let mut before = self.cells();
        let mut changed = 0usize;
        for _ in 0..secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.cells();
            changed += now.iter().zip(&before).filter(|(a, b)| a != b).count();
            before = now;
        }
        let wall = start.elapsed();
        let ticks = read_cpu_ticks(self.pid)?.saturating_sub(t0);
        let bytes = self.bytes.load(Ordering::Relaxed).saturating_sub(b0);
        Ok(Idle {
            secs: wall.as_secs_f64(),
            cpu: core_percent(ticks, wall),
            bytes_per_sec: bytes as f64 / wall.as_secs_f64(),
            cells_per_sec: changed as f64 / wall.as_secs_f64(),
        })
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
