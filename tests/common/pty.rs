//! The real `assent` binary in a pseudo-terminal (portable-pty), its screen read back
//! through a terminal emulator (vt100): for the end-to-end tests of the console. Every
//! wait is bounded. Changes when the way the console is started or its screen is read
//! changes.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use super::poll;
use super::run::BIN;

/// The longest any one wait on the console takes.
pub const WAIT: Duration = Duration::from_secs(15);

/// What the terminal was asked to do besides drawing.
#[derive(Default)]
pub struct Recorder {
    titles: Vec<Vec<u8>>,
    bells: usize,
}

impl vt100::Callbacks for Recorder {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles.push(title.to_vec());
    }
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }
}

pub struct Console {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser<Recorder>>>,
    /// Every byte the console wrote, for sequences the emulator does not keep (OSC 52).
    raw: Arc<Mutex<Vec<u8>>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    _dir: tempfile::TempDir,
}

impl Console {
    /// `assent --config <empty or given> console` on `url` with `token`, in a cols x rows pty.
    pub fn spawn(url: &str, token: &str, cols: u16, rows: u16, config: &str) -> Console {
        let env = [("ASSENT_URL", url), ("ASSENT_TOKEN", token)];
        Console::spawn_with(&["console"], &env, cols, rows, config)
    }

    /// `assent --config <file holding config> ARGS...` with only `env` (and HOME, TERM and
    /// a log dir) in its environment.
    pub fn spawn_with(
        args: &[&str],
        env: &[(&str, &str)],
        cols: u16,
        rows: u16,
        config: &str,
    ) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, config).unwrap();
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(["--config", cfg.to_str().unwrap()]);
        cmd.args(args);
        cmd.env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("ASSENT_LOG_DIR", dir.path());
        cmd.env("ASSENT_LOG", "debug");
        cmd.env("HOME", dir.path());
        // A test may give its own TERM (the console's colours follow it).
        if !env.iter().any(|(k, _)| *k == "TERM") {
            cmd.env("TERM", "xterm-256color");
        }
        cmd.cwd(dir.path());
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            rows,
            cols,
            0,
            Recorder::default(),
        )));
        let p = parser.clone();
        let raw = Arc::new(Mutex::new(Vec::new()));
        let r = raw.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Console {
            child,
            writer,
            parser,
            raw,
            _master: pair.master,
            _dir: dir,
        }
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Every byte the console has written to the terminal so far.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Whether the console is on the alternate screen (it leaves it when it ends).
    pub fn alternate_screen(&self) -> bool {
        self.parser.lock().unwrap().screen().alternate_screen()
    }

    /// Whether the console turned bracketed paste on (it does while it holds the screen).
    pub fn bracketed_paste(&self) -> bool {
        self.parser.lock().unwrap().screen().bracketed_paste()
    }

    /// Pastes `text` as a terminal does: between the bracketed-paste markers when the
    /// console turned them on, as plain typed characters when it did not.
    pub fn paste(&mut self, text: &str) {
        if self.bracketed_paste() {
            self.press(&format!("\x1b[200~{text}\x1b[201~"));
        } else {
            self.press(text);
        }
    }

    /// The window titles the console set (an escape in a request could try).
    pub fn titles(&self) -> Vec<Vec<u8>> {
        self.parser.lock().unwrap().callbacks().titles.clone()
    }

    /// How often the console rang the bell.
    pub fn bells(&self) -> usize {
        self.parser.lock().unwrap().callbacks().bells
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("pid")
    }

    /// The console's log files (rotated daily: `console.YYYY-MM-DD.log`).
    pub fn log(&self) -> String {
        let Ok(dir) = std::fs::read_dir(self._dir.path()) else {
            return String::new();
        };
        dir.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("console"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// Waits until the screen contains `text`; panics with the screen if it never does.
    pub async fn wait_for(&self, text: &str) -> String {
        let shown = poll(WAIT, || async {
            let s = self.screen();
            s.contains(text).then_some(s)
        })
        .await;
        shown.unwrap_or_else(|| {
            panic!(
                "screen never showed {text:?}; it shows:\n{}\n--- console log:\n{}",
                self.screen(),
                self.log()
            )
        })
    }

    /// Presses `keys` (as [`Console::keys`]), then waits until the screen shows `text`.
    pub async fn keys_then(&mut self, keys: &[&str], text: &str) -> String {
        self.keys(keys).await;
        self.wait_for(text).await
    }

    /// Waits until the console has left the alternate screen (the last bytes it wrote
    /// may still be on their way through the pty after it exited).
    pub async fn wait_restored(&self) {
        let left = poll(WAIT, || async { (!self.alternate_screen()).then_some(()) }).await;
        assert!(left.is_some(), "the terminal was not restored");
    }

    pub fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Presses keys one at a time, letting each be read as its own event (Esc in
    /// particular must not run into the next key).
    pub async fn keys(&mut self, keys: &[&str]) {
        for k in keys {
            self.press(k);
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }

    /// Its exit code, once it has exited; None if it is still running after [`WAIT`].
    pub async fn exit_code(&mut self) -> Option<u32> {
        let child = &mut self.child;
        poll(WAIT, || {
            std::future::ready(child.try_wait().unwrap().map(|st| st.exit_code()))
        })
        .await
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
