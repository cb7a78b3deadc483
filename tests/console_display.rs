//! End-to-end tests of what the console shows and how it can be read (issue 10, points 6,
//! 8, 9 and 12): the real `assent` binary in a pseudo-terminal against the real server on
//! loopback. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assent::protocol::{NewRequest, Risk};
use base64::Engine as _;
use common::pty::WAIT;
use common::*;
use serde_json::{Value, json};

/// The payloads of every OSC 52 "copy" sequence in `raw`, decoded.
fn copied(raw: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(raw);
    text.split("\x1b]52;c;")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find('\x07')?;
            base64::engine::general_purpose::STANDARD
                .decode(&rest[..end])
                .ok()
        })
        .collect()
}

/// The line of `screen` that contains `text`: the queue's header with `TOOL`, else a
/// row (not the header line, where the detail pane's title may name the same tool).
fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(text) && (text == "TOOL" || !l.contains("TOOL")))
        .unwrap_or_else(|| panic!("no line with {text:?}:\n{screen}"))
}

/// The detail pane's scroll position `first-last/total` from its title row, if shown.
fn position(screen: &str) -> Option<(usize, usize, usize)> {
    screen.lines().find_map(|l| {
        l.split_whitespace().find_map(|w| {
            let (range, total) = w.split_once('/')?;
            let (a, b) = range.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
        })
    })
}

/// A request whose parameters fill many rows of the detail.
fn long_request() -> NewRequest {
    let mut params = serde_json::Map::new();
    for i in 0..60 {
        params.insert(format!("field_{i:02}"), json!(format!("value {i}")));
    }
    call("crm.bulk_update", "agent1", Value::Object(params))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rows_summary_shows_what_will_run() {
    let server = TestServer::start().await;
    // What `assent gate -- rm -rf '/tmp/old builds'` files from /srv/app.
    server
        .file(&call(
            "shell.exec",
            "agent1",
            json!({"argv": ["rm", "-rf", "/tmp/old builds"], "cwd": "/srv/app"}),
        ))
        .await;
    // Claude Code's Bash tool, and a refund: the command and the amount come first.
    server
        .file(&call(
            "Bash",
            "agent1",
            json!({"description": "publish", "command": "git push --force origin main"}),
        ))
        .await;
    server
        .file(&call(
            "order_tools.process_refund",
            "agent1",
            json!({"note": "damaged", "order_id": "A-1", "currency": "EUR", "amount": 250}),
        ))
        .await;
    let c = Console::spawn(&server.url, ALICE, 200, 40, "");
    let screen = c.wait_for("order_tools.process_refund").await;
    let gate = line_with(&screen, "shell.exec");
    assert!(
        gate.contains("rm -rf '/tmp/old builds'  (in /srv/app)"),
        "{screen}"
    );
    assert!(!screen.contains("argv=["), "{screen}");
    let bash = line_with(&screen, "Bash ");
    assert!(bash.contains(" git push --force origin main"), "{bash}");
    let refund = line_with(&screen, "order_tools.process_refund");
    assert!(refund.contains(" amount=250 EUR order_id=A-1"), "{refund}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_50_columns_the_queue_keeps_tool_age_risk_and_summary() {
    let server = TestServer::start().await;
    server
        .file(&NewRequest {
            risk: Some(Risk::High),
            ..call("db.delete", "agent1", json!({"table": "sessions"}))
        })
        .await;
    server
        .file(&NewRequest {
            risk: Some(Risk::Low),
            ..call("email.send", "agent1", json!({"to": "jane@example.com"}))
        })
        .await;
    let c = Console::spawn(&server.url, ALICE, 50, 20, "");
    let screen = c.wait_for("email.send").await;
    let header = line_with(&screen, "TOOL");
    assert!(header.contains("AGE"), "{screen}");
    let risk_at = header
        .find(" R ")
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no risk column at 50 columns:\n{screen}"));
    let letter = |row: &str| row.chars().nth(risk_at);
    let delete = line_with(&screen, "db.delete");
    assert_eq!(letter(delete), Some('H'), "{screen}");
    assert!(delete.contains("table=sessions"), "{screen}");
    let email = line_with(&screen, "email.send");
    assert_eq!(letter(email), Some('L'), "{screen}");
    assert!(email.contains("to=jane@example.com"), "{screen}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn y_and_shift_y_copy_the_id_and_the_params_through_osc_52() {
    let server = TestServer::start().await;
    let params = json!({"order_id": "A-1001", "note": "bidi \u{202e} and esc \u{1b}[2J"});
    let req = server
        .file(&call(
            "order_tools.process_refund",
            "agent1",
            params.clone(),
        ))
        .await;
    let mut c = Console::spawn(&server.url, ALICE, 120, 30, "");
    c.wait_for("order_tools.process_refund").await;
    c.keys_then(&["y"], "copied id").await;
    let raw = c.raw();
    assert!(
        copied(&raw).contains(&req.id.as_bytes().to_vec()),
        "no OSC 52 sequence with the id in {:?}",
        String::from_utf8_lossy(&raw)
    );
    let screen = c.keys_then(&["Y"], "copied params (").await;
    let all = copied(&c.raw());
    let json = all.last().expect("a second copy");
    // What was copied is the JSON shown: it parses, to the very parameters filed, and its
    // escapes are JSON's (terminal-safe, yet the same string).
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(
        text.contains("\\u202e") && text.contains("\\u001b"),
        "{text}"
    );
    assert!(
        !text.contains('\u{202e}') && !text.contains('\x1b'),
        "{text}"
    );
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, params);
    assert!(
        screen.contains(&format!("copied params ({} bytes)", text.len())),
        "{screen}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_can_be_turned_off() {
    let server = TestServer::start().await;
    server.file(&new_request("db.delete", "agent1")).await;
    let cfg = "[console]\ncopy = false\n";
    let mut c = Console::spawn(&server.url, ALICE, 100, 30, cfg);
    c.wait_for("db.delete").await;
    c.keys_then(&["y"], "copying is off").await;
    c.keys_then(&["Y"], "copying is off").await;
    assert!(copied(&c.raw()).is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgdn_g_and_half_pages_scroll_the_detail_in_every_layout() {
    let server = TestServer::start().await;
    server.file(&long_request()).await;
    // The side pane (160x40): focus it, then page through it.
    let mut c = Console::spawn(&server.url, ALICE, 160, 40, "");
    c.wait_for("crm.bulk_update").await;
    let screen = c.wait_for("\"field_00\"").await;
    let (first, last, total) = position(&screen).expect("a scroll position");
    assert_eq!(first, 1, "{screen}");
    let page = last - first + 1;
    c.keys(&["l"]).await;
    let want = format!("{}-", 1 + page);
    let screen = c.keys_then(&["\x1b[6~"], &want).await; // PgDn
    assert!(!screen.contains("\"field_00\""), "{screen}");
    let screen = c.keys_then(&["G"], "args hash").await;
    assert_eq!(position(&screen).map(|p| p.1), Some(total), "{screen}");
    c.keys_then(&["g"], "\"field_00\"").await;
    // Ctrl-d: half a page.
    let half = format!("{}-", 1 + page / 2);
    c.keys_then(&["\x04"], &half).await;
    c.keys_then(&["\x15"], "\"field_00\"").await; // Ctrl-u
    // Esc gives the list its keys back: j moves nothing in the detail.
    c.keys(&["\x1b"]).await;
    c.keys(&["j"]).await;
    assert!(c.screen().contains("\"field_00\""));
    drop(c);

    // The lower pane (100x36) and the full detail view (80x24).
    for (w, h, open) in [(100u16, 36u16, "l"), (80, 24, "\r")] {
        let mut c = Console::spawn(&server.url, ALICE, w, h, "");
        c.wait_for("crm.bulk_update").await;
        c.keys(&[open]).await;
        let screen = c.wait_for("\"field_00\"").await;
        let (_, last, _) = position(&screen).expect("a scroll position");
        let screen = c.keys_then(&["\x1b[6~"], &format!("{}-", last + 1)).await;
        assert!(!screen.contains("\"field_00\""), "{w}x{h}: {screen}");
        c.keys_then(&["G"], "args hash").await;
        c.keys_then(&["g"], "\"field_00\"").await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_replaces_the_old_filter_and_the_help_fits_a_phone() {
    let server = TestServer::start().await;
    server.file(&new_request("db.delete", "agent1")).await;
    server.file(&new_request("email.send", "agent1")).await;
    let mut c = Console::spawn(&server.url, ALICE, 50, 20, "");
    c.wait_for("email.send").await;
    c.keys(&["/", "d", "b", "\r"]).await;
    c.wait_for("filter \"db\"").await;
    // The old filter is shown selected: the first key typed replaces it.
    c.keys(&["/", "m", "a", "i", "l"]).await;
    let screen = c.wait_for("filter \"mail\"").await;
    assert!(screen.contains("email.send"), "{screen}");
    assert!(!screen.contains("db.delete"), "{screen}");
    c.keys(&["\r"]).await;
    // Enter or an arrow keeps it.
    c.keys(&["/", "\x1b[D", "\r"]).await;
    c.wait_for("filter \"mail\"").await;

    let screen = c.keys_then(&["?"], "? or Esc closes").await;
    // Nothing of a description is cut: long ones wrap.
    assert!(!screen.contains('…'), "{screen}");
    assert!(screen.contains("approve the selected request,"), "{screen}");
    c.keys(&["\x1b"]).await;
    poll(WAIT, || async {
        (!c.screen().contains("? or Esc")).then_some(())
    })
    .await
    .expect("Esc closes the help");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colours_follow_the_depth_the_terminal_announces() {
    let server = TestServer::start().await;
    server
        .file(&NewRequest {
            risk: Some(Risk::Medium),
            ..new_request("db.delete", "agent1")
        })
        .await;
    let run = |env: Vec<(&'static str, String)>| {
        let url = server.url.clone();
        async move {
            let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.push(("ASSENT_URL", &url));
            env.push(("ASSENT_TOKEN", ALICE));
            let c = Console::spawn_with(&["console"], &env, 120, 30, "");
            c.wait_for("db.delete").await;
            c.wait_for("live").await;
            String::from_utf8_lossy(&c.raw()).into_owned()
        }
    };
    // xterm, the Linux console, screen: the 16 colours of the terminal's own palette
    // (crossterm writes them as 38;5;0-15), and no italics.
    for term in ["xterm", "linux", "screen"] {
        let raw = run(vec![("TERM", term.to_owned())]).await;
        assert!(raw.contains("\x1b[38;5;"), "{term}: no colour at all");
        for sgr in raw.split("\x1b[38;5;").skip(1) {
            let n: u32 = sgr
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(999);
            assert!(n < 16, "{term}: colour {n} beyond 16");
        }
        assert!(!raw.contains("\x1b[38;2;"), "{term}: true colour");
        assert!(!raw.contains("\x1b[3m"), "{term}: italics");
    }
    let raw = run(vec![
        ("TERM", "xterm-256color".to_owned()),
        ("COLORTERM", "truecolor".to_owned()),
    ])
    .await;
    assert!(raw.contains("\x1b[38;2;"), "truecolor: no 24-bit colour");
    let raw = run(vec![("TERM", "tmux-256color".to_owned())]).await;
    assert!(!raw.contains("\x1b[38;2;"), "256: 24-bit colour");
    let beyond_16 = raw.split("\x1b[38;5;").skip(1).any(|sgr| {
        sgr.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|n| n >= 16)
    });
    assert!(beyond_16, "256: only the 16 colours");
    // NO_COLOR stays as it was: no colour whatever the terminal says.
    let raw = run(vec![
        ("COLORTERM", "truecolor".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ])
    .await;
    assert!(!raw.contains("\x1b[38;"), "NO_COLOR: a colour");
    server.shutdown().await;
}
