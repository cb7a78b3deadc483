//! The driver: owns the terminal and the state, feeds messages to `update`, runs the
//! effects it returns in spawned tasks, and redraws only when something changed (plus the
//! once-a-second tick for ages), telling `update` what each frame showed. IO never waits
//! inside the input loop. The terminal is taken with bracketed paste on, so a paste
//! arrives as one text (never as keys), and with focus reports on (new requests call the
//! reviewer while it has no focus), and given back with both off on every way out.

use std::io::Write;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange,
    Event as TermEvent, EventStream, KeyEventKind,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::action::Msg;
use super::effect::Effect;
use super::model::State;
use super::stream::{self, Command, StreamSettings};
use super::update::update;
use super::view;
use crate::client::Client;

/// Messages drained per redraw at most, so a burst of events cannot starve the screen.
const BATCH: usize = 256;

pub async fn run(client: Client, mut state: State, settings: StreamSettings) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(8);
    let stream_task =
        tokio::spawn(stream::Task::new(client.clone(), settings, tx.clone(), cmd_rx).run());

    let mut terminal = ratatui::try_init().map_err(|e| {
        anyhow::anyhow!(
            "cannot take over the terminal ({e}): run assent in an interactive terminal"
        )
    })?;
    terminal_modes(true);
    let result = async {
        let size = terminal.size()?;
        update(
            &mut state,
            Msg::Resize {
                width: size.width,
                height: size.height,
            },
        );
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = true;
        let mut stop = Box::pin(terminated());
        let mut fetching = Fetching::default();
        loop {
            if dirty {
                let mut drawn = Default::default();
                terminal.draw(|f| drawn = view::draw(&state, f))?;
                // Not a change to redraw for: only what a decision may rest on.
                update(&mut state, Msg::Drawn(drawn));
                dirty = false;
            }
            let first = tokio::select! {
                ev = keys.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
                    Some(Ok(TermEvent::Resize(width, height))) => Some(Msg::Resize { width, height }),
                    Some(Ok(TermEvent::Paste(text))) => Some(Msg::Paste(text)),
                    Some(Ok(TermEvent::FocusGained)) => Some(Msg::Focus(true)),
                    Some(Ok(TermEvent::FocusLost)) => Some(Msg::Focus(false)),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal failed: {e}")),
                    None => return Ok(()),
                },
                msg = rx.recv() => msg,
                _ = tick.tick() => Some(Msg::Tick(chrono::Utc::now())),
                // SIGTERM or SIGHUP (the terminal went away): leave cleanly, restoring it.
                _ = &mut stop => return Ok(()),
            };
            let Some(first) = first else { continue };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            for msg in batch {
                dirty = true;
                for fx in update(&mut state, msg) {
                    if let Effect::EditParams { id, text } = fx {
                        // The editor reads the terminal: the key stream lets go of it
                        // first (its reader thread stops), and is made again after.
                        drop(keys);
                        let result = edit_in_editor(&mut terminal, text).await;
                        keys = EventStream::new();
                        let _ = tx.try_send(Msg::Edited { id, result });
                        continue;
                    }
                    if run_effect(fx, &client, &tx, &cmd_tx, &mut fetching) {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    terminal_modes(false);
    ratatui::restore();
    stream_task.abort();
    result
}

/// Gives the terminal to `$VISUAL` or `$EDITOR` (run by the shell, as git runs it, so
/// `code --wait` works) on a temporary file holding `text`, waits for it, takes the
/// terminal back, and returns the file as the editor left it. The file is deleted after.
async fn edit_in_editor(
    terminal: &mut ratatui::DefaultTerminal,
    text: String,
) -> Result<String, String> {
    let editor = ["VISUAL", "EDITOR"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .ok_or("neither $VISUAL nor $EDITOR is set")?;
    let mut file = tempfile::Builder::new()
        .prefix("assent-params-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| format!("cannot make a temporary file: {e}"))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write the temporary file: {e}"))?;
    let path = file.path().to_owned();
    // Released as git commit releases it: out of raw mode and the alternate screen.
    terminal_modes(false);
    ratatui::restore();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$@\""))
            .arg("assent-editor")
            .arg(&path)
            .status()
    })
    .await;
    // Taken back whatever the editor did.
    let back = crossterm::terminal::enable_raw_mode().and_then(|()| {
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)
    });
    // Bracketed paste and focus reports back on, as at the start.
    terminal_modes(true);
    if let Err(e) = back.and_then(|()| terminal.clear()) {
        tracing::warn!("cannot take the terminal back after the editor: {e}");
    }
    match run {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => return Err(format!("the editor exited with {status}")),
        Ok(Err(e)) => return Err(format!("cannot start the editor: {e}")),
        Err(e) => return Err(format!("the editor's task failed: {e}")),
    }
    std::fs::read_to_string(file.path())
        .map_err(|e| format!("cannot read the edited file back: {e}"))
}

/// The fetch of a request in full under way, if any: one at a time, as only the request
/// shown needs its parameters. A newer fetch aborts it (the reviewer moved on), so moving
/// quickly over many large requests never holds more than one of them in flight.
#[derive(Default)]
struct Fetching(Option<tokio::task::JoinHandle<()>>);

impl Fetching {
    fn start(&mut self, client: &Client, tx: &mpsc::Sender<Msg>, id: String) {
        if let Some(old) = self.0.take() {
            old.abort();
        }
        let (client, tx) = (client.clone(), tx.clone());
        self.0 = Some(tokio::spawn(async move {
            let result = client.get(&id).await;
            if let Err(e) = &result {
                tracing::warn!(%id, "fetching the request in full failed: {e}");
            }
            let _ = tx.send(Msg::Fetched { id, result }).await;
        }));
    }
}

/// Turns bracketed paste and focus reports on (and a panic hook that turns them off
/// before ratatui's restores the terminal), or off. A terminal left with them on would
/// wrap the shell's pastes in escape sequences and type `^[[I` into it on every focus
/// change; one that does not know them ignores the sequences.
fn terminal_modes(on: bool) {
    let mut out = std::io::stdout();
    if !on {
        let _ = crossterm::execute!(out, DisableBracketedPaste, DisableFocusChange);
        return;
    }
    if let Err(e) = crossterm::execute!(out, EnableBracketedPaste) {
        tracing::warn!("cannot turn bracketed paste on: {e}");
    }
    if let Err(e) = crossterm::execute!(out, EnableFocusChange) {
        tracing::warn!("cannot turn focus reports on: {e}");
    }
    // Once: turned on again after each editor session, a hook per session would stack.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let restore = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ =
                crossterm::execute!(std::io::stdout(), DisableBracketedPaste, DisableFocusChange);
            restore(info);
        }));
    });
}

/// Starts an effect; true when it asks to quit.
fn run_effect(
    fx: Effect,
    client: &Client,
    tx: &mpsc::Sender<Msg>,
    cmd_tx: &mpsc::Sender<Command>,
    fetching: &mut Fetching,
) -> bool {
    match fx {
        // Run by the input loop, which holds the terminal the editor needs.
        Effect::EditParams { .. } => {}
        Effect::FetchRequest { id } => fetching.start(client, tx, id),
        Effect::Quit => return true,
        Effect::Bell => {
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\x07").and_then(|()| out.flush());
        }
        Effect::Notify { title, body } => {
            let mut out = std::io::stdout();
            let seq = super::text::osc_notify(&title, &body);
            let _ = out.write_all(seq.as_bytes()).and_then(|()| out.flush());
        }
        Effect::Copy(text) => {
            let mut out = std::io::stdout();
            let seq = super::text::osc52(&text);
            let _ = out.write_all(seq.as_bytes()).and_then(|()| out.flush());
        }
        Effect::Refresh => {
            let _ = cmd_tx.try_send(Command::Refresh);
        }
        Effect::SendDecision { id, body } => {
            let (client, tx) = (client.clone(), tx.clone());
            tokio::spawn(async move {
                tracing::info!(%id, outcome = ?body.outcome, scope = ?body.scope, "sending decision");
                let result = client.decide(&id, &body).await;
                if let Err(e) = &result {
                    tracing::warn!(%id, "decision failed: {e}");
                }
                let _ = tx.send(Msg::Decided { id, result }).await;
            });
        }
        Effect::RevokeGrant { id } => {
            let (client, tx) = (client.clone(), tx.clone());
            tokio::spawn(async move {
                let result = client.revoke(&id).await;
                let _ = tx
                    .send(Msg::Revoked {
                        grant_id: id,
                        result,
                    })
                    .await;
            });
        }
    }
    false
}

/// Resolves when the process is asked to stop by a signal (SIGTERM, SIGHUP when the
/// terminal goes away, SIGINT sent by another process), so the terminal is restored.
#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    // SIGINT too: in raw mode Ctrl-C is a key, but `kill -INT` from elsewhere is not.
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut hup), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}
