//! Snapshot tests of rendered screens (ratatui TestBackend + insta). Fixtures use fixed
//! times, so no filter is needed for ages or ids.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use serde_json::json;

use super::action::{Conn, Msg};
use super::fixtures::{self, answer, api_error, decided, entry, event, listed, loaded, now, req};
use super::model::State;
use super::update::update;
use super::view;
use crate::protocol::{EventKind, Outcome, PolicyAction, Scope, Status};

fn render(s: &State) -> String {
    let mut t = Terminal::new(TestBackend::new(s.width, s.height)).unwrap();
    t.draw(|f| {
        view::draw(s, f);
    })
    .unwrap();
    t.backend().to_string()
}

/// Draws a frame as the driver does before it reads a key, and tells `update` what it
/// showed (a decision acts only on what was drawn).
fn frame(s: &mut State) {
    let mut t = Terminal::new(TestBackend::new(s.width, s.height)).unwrap();
    let mut drawn = Default::default();
    t.draw(|f| drawn = view::draw(s, f)).unwrap();
    update(s, Msg::Drawn(drawn));
}

fn key(s: &mut State, c: char) {
    frame(s);
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(s, Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)));
}

fn code(s: &mut State, c: KeyCode) {
    frame(s);
    update(s, Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

fn live(s: &mut State) {
    update(s, Msg::Identity(fixtures::reviewer("alice")));
    update(s, Msg::Conn(Conn::Live));
}

#[test]
fn queue_80x24() {
    let mut s = loaded(80, 24);
    live(&mut s);
    insta::assert_snapshot!(render(&s));
}

#[test]
fn queue_with_side_pane_160x40() {
    let mut s = loaded(160, 40);
    live(&mut s);
    key(&mut s, 'n');
    insta::assert_snapshot!(render(&s));
}

#[test]
fn queue_with_lower_pane_100x36() {
    let mut s = loaded(100, 36);
    live(&mut s);
    insta::assert_snapshot!(render(&s));
}

#[test]
fn detail_view_80x24() {
    let mut s = loaded(80, 24);
    live(&mut s);
    code(&mut s, KeyCode::Enter);
    insta::assert_snapshot!(render(&s));
}

#[test]
fn narrow_40x10_queue_and_detail() {
    let mut s = loaded(40, 10);
    live(&mut s);
    let queue = render(&s);
    code(&mut s, KeyCode::Enter);
    let detail = render(&s);
    insta::assert_snapshot!(format!("{queue}\n{detail}"));
}

#[test]
fn every_size_down_to_tiny_renders_without_panic() {
    // (TestBackend itself cannot be 0 wide.)
    for (w, h) in [
        (40, 10),
        (1, 1),
        (10, 3),
        (39, 9),
        (200, 5),
        (5, 80),
        (1, 40),
    ] {
        let mut s = loaded(w, h);
        live(&mut s);
        render(&s);
        code(&mut s, KeyCode::Enter);
        render(&s);
        key(&mut s, 'A');
        render(&s);
        code(&mut s, KeyCode::Esc);
        key(&mut s, '?');
        render(&s);
        code(&mut s, KeyCode::Esc);
        key(&mut s, 'r');
        render(&s);
    }
}

#[test]
fn reason_input() {
    let mut s = loaded(80, 24);
    live(&mut s);
    key(&mut s, 'r');
    for c in "amount too high".chars() {
        key(&mut s, c);
    }
    insta::assert_snapshot!(render(&s));
}

#[test]
fn always_confirmation() {
    let mut s = loaded(80, 24);
    live(&mut s);
    key(&mut s, 'A');
    let screen = render(&s);
    assert!(screen.contains("every future"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn conflict_message() {
    let mut s = loaded(80, 24);
    live(&mut s);
    key(&mut s, 'a');
    let sending = render(&s);
    assert!(sending.contains("approving once…"), "{sending}");
    let first = decided(
        entry(&s, "req-1").request(),
        Outcome::Rejected,
        Scope::Once,
        "bob",
    );
    update(
        &mut s,
        answer(
            "req-1",
            Err(api_error(409, "conflict", "already decided", Some(first))),
        ),
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn network_error_on_the_row() {
    let mut s = loaded(100, 24);
    live(&mut s);
    key(&mut s, 'a');
    update(&mut s, answer("req-1", Err(fixtures::refused())));
    insta::assert_snapshot!(render(&s));
}

#[test]
fn offline_state() {
    let mut s = fixtures::state(80, 24);
    update(
        &mut s,
        Msg::Conn(Conn::Retrying {
            at: now() + chrono::Duration::seconds(4),
            error: "cannot reach the backend at http://127.0.0.1:7878: connection refused or host unreachable".into(),
        }),
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn rejected_token_is_said_plainly() {
    let mut s = fixtures::state(80, 24);
    let e = api_error(401, "unauthorized", "unknown token", None);
    update(
        &mut s,
        Msg::Conn(Conn::Retrying {
            at: now() + chrono::Duration::seconds(2),
            error: super::stream::describe(&e, true),
        }),
    );
    let screen = render(&s);
    assert!(screen.contains("rejected the token"), "{screen}");
    assert!(screen.contains("reconnecting in 2s"), "{screen}");
}

#[test]
fn injected_escape_sequences_are_shown_not_run() {
    let mut s = fixtures::state(120, 40);
    live(&mut s);
    let evil = "\x1b[2J\x1b]0;pwned\x07";
    let mut r = req(
        "id\x1b[31m",
        &format!("tool{evil}"),
        "agent\u{202e}x",
        5,
        json!({format!("key{evil}"): format!("value{evil}\r\n"), "wide": "東京タワー東京タワー東京タワー", "comb": "e\u{301}e\u{301}"}),
    );
    r.reason = Some(format!("reason{evil}"));
    update(&mut s, listed(vec![r]));
    let screen = render(&s);
    assert!(!screen.contains('\x1b'), "raw escape reached the screen");
    assert!(!screen.contains('\x07'));
    assert!(!screen.contains('\u{202e}'));
    assert!(screen.contains("\\u{1b}"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn help_screen() {
    let mut s = loaded(80, 30);
    live(&mut s);
    let (screens, text) = help_pages(&mut s);
    for a in super::keymap::Action::ALL {
        assert!(text.contains(a.description()), "{a:?}: {text}");
    }
    assert!(
        screens[0].contains("? or Esc closes this help"),
        "{}",
        screens[0]
    );
    insta::assert_snapshot!(screens[0]);
}

#[test]
fn expired_row_on_screen() {
    let mut s = loaded(80, 24);
    live(&mut s);
    // Past its expiry by this clock: expiring, still decidable, until the backend says.
    update(&mut s, Msg::Tick(now() + chrono::Duration::seconds(46)));
    let expiring = render(&s);
    assert!(expiring.contains("expiring…"), "{expiring}");
    assert!(expiring.contains("3 pending ·"), "{expiring}");
    let mut r1 = entry(&s, "req-1").request();
    r1.status = Status::Expired;
    update(&mut s, event(EventKind::RequestExpired, 3, r1));
    let screen = render(&s);
    assert!(screen.contains("✗ expired"), "{screen}");
    // Only decidable rows count as pending.
    assert!(screen.contains("2 pending, 1 ended"), "{screen}");
    assert!(screen.contains("Pending 2"), "{screen}");
    insta::assert_snapshot!(format!("{expiring}\n{screen}"));
}

#[test]
fn history_and_grants_tabs() {
    let mut s = loaded(120, 30);
    live(&mut s);
    let mut r = decided(
        entry(&s, "req-1").request(),
        Outcome::Rejected,
        Scope::Once,
        "alice",
    );
    if let Some(d) = r.decision.as_mut() {
        d.reason = Some("too much".into());
        d.notify_agent = true;
    }
    update(&mut s, event(EventKind::RequestDecided, 4, r));
    let mut c = entry(&s, "req-2").request();
    c.status = Status::Cancelled;
    update(&mut s, event(EventKind::RequestCancelled, 5, c));
    let mut grant = fixtures::conversation_grant("g1", "conv-77");
    grant.source_request_id = Some("req-0".into());
    update(&mut s, Msg::Grants(vec![grant]));
    code(&mut s, KeyCode::Tab);
    let history = render(&s);
    code(&mut s, KeyCode::Tab);
    let grants = render(&s);
    insta::assert_snapshot!(format!("{history}\n{grants}"));
}

#[test]
fn huge_params_scroll_in_the_detail() {
    let mut s = fixtures::state(80, 24);
    live(&mut s);
    // Non-ASCII, so every wrapped row is measured char by char.
    let blob = "0123456789é東".repeat(80_000);
    update(
        &mut s,
        listed(vec![req("big", "t", "a", 0, json!({"blob": blob, "z": 1}))]),
    );
    code(&mut s, KeyCode::Enter);
    key(&mut s, 'G');
    let start = std::time::Instant::now();
    let screen = render(&s);
    let took = start.elapsed();
    eprintln!("one frame of a 1 MB detail: {took:?}");
    assert!(took < std::time::Duration::from_secs(2));
    assert!(screen.contains("\"z\": 1"), "{screen}");
}

#[test]
fn policy_rule_and_message_beside_the_reason() {
    let mut s = fixtures::state(160, 30);
    live(&mut s);
    let mut held = req(
        "held",
        "order_tools.process_refund",
        "order-manager",
        30,
        json!({"order_id": "A-1", "amount": 1500}),
    );
    held.reason = Some("customer angry".into());
    held.policy = Some(fixtures::policy(
        "big-refunds",
        PolicyAction::RequireApproval,
        Some("Refunds over $1000 need a manager."),
    ));
    update(&mut s, listed(vec![held]));
    let queue = render(&s);
    assert!(queue.contains("[big-refunds] cu"), "{queue}");
    // Wrapped at a word, the rest under the value.
    assert!(
        queue.contains("policy        big-refunds → require_approval: Refunds "),
        "{queue}"
    );
    assert!(
        queue.contains("              over $1000 need a manager."),
        "{queue}"
    );

    // An `audit` call let through by the policy is flagged in the history.
    let mut audited = decided(
        req("aud", "email.send", "intern-3", 60, json!({"to": "x@y"})),
        Outcome::Approved,
        Scope::Once,
        "policy:watch-interns",
    );
    audited.policy = Some(fixtures::policy("watch-interns", PolicyAction::Audit, None));
    update(&mut s, event(EventKind::RequestCreated, 7, audited));
    code(&mut s, KeyCode::Tab);
    let history = render(&s);
    assert!(
        history.contains("policy        watch-interns → audit (let through"),
        "{history}"
    );
    insta::assert_snapshot!(format!("{queue}\n{history}"));
}

#[test]
fn a_very_long_tool_name_never_hides_what_y_does() {
    for (w, h) in [(80, 24), (40, 10)] {
        let mut s = fixtures::state(w, h);
        live(&mut s);
        let tool = format!("tool_{}", "x".repeat(240));
        let agent = format!("agent_{}", "y".repeat(100));
        update(
            &mut s,
            listed(vec![req("long", &tool, &agent, 5, json!({"n": 1}))]),
        );
        key(&mut s, 'A');
        let screen = render(&s);
        assert!(screen.contains("y, 1 or 8 confirms"), "{w}x{h}:\n{screen}");
        assert!(screen.contains("every future `tool_xx"), "{screen}");
        assert!(screen.contains("…` call"), "{screen}");
        assert!(screen.contains("`agent_yy"), "{screen}");
        if w == 80 {
            insta::assert_snapshot!(screen);
        }
    }
}

#[test]
fn the_columns_the_issue_lists_show_at_common_sizes() {
    // 160x40: the queue beside the detail pane is 103 columns wide.
    let mut s = loaded(160, 40);
    live(&mut s);
    let queue = render(&s);
    let header = queue.lines().nth(3).unwrap_or_default();
    for col in ["AGE", "TOOL", "AGENT", "PARAMS", "REASON", "RISK", "LEFT"] {
        assert!(header.contains(col), "{col} missing at 160x40:\n{queue}");
    }
    // 120x40: 77 columns beside the pane. The names come first; the reason gives way
    // (the pane beside shows it whole) rather than cut the summary to nothing.
    let mut s = loaded(120, 40);
    live(&mut s);
    let queue = render(&s);
    let header = queue.lines().nth(3).unwrap_or_default();
    for col in ["AGE", "TOOL", "AGENT", "PARAMS", "RISK", "LEFT"] {
        assert!(header.contains(col), "{col} missing at 120x40:\n{queue}");
    }
    assert!(
        queue.contains("order_tools.process_refund order-manager"),
        "{queue}"
    );
    // History: responder, scope, reason and notify, at 120x40 and at 80x24.
    for (w, h) in [(120, 40), (80, 24)] {
        let mut s = loaded(w, h);
        live(&mut s);
        let mut r = decided(
            entry(&s, "req-1").request(),
            Outcome::Approved,
            Scope::Conversation,
            "alice",
        );
        if let Some(d) = r.decision.as_mut() {
            d.reason = Some("ok".into());
        }
        update(&mut s, event(EventKind::RequestDecided, 4, r));
        code(&mut s, KeyCode::Tab);
        let history = render(&s);
        let header = history.lines().nth(3).unwrap_or_default();
        for col in [
            "WHEN", "STATUS", "SCOPE", "TOOL", "AGENT", "BY", "NOTIFY", "REASON",
        ] {
            assert!(header.contains(col), "{col} missing at {w}x{h}:\n{history}");
        }
        let row = history.lines().nth(4).unwrap_or_default();
        assert!(row.contains(" conv "), "{row}");
        assert!(row.contains(" alice "), "{row}");
        assert!(row.contains(" no "), "{row}");
    }
}

#[test]
fn narrow_grants_keep_the_conversation_apart() {
    let mut s = fixtures::state(40, 10);
    live(&mut s);
    update(
        &mut s,
        Msg::Grants(vec![
            fixtures::conversation_grant("g1", "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f"),
            fixtures::conversation_grant("g2", "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d0042"),
        ]),
    );
    code(&mut s, KeyCode::BackTab);
    let screen = render(&s);
    let rows: Vec<&str> = screen.lines().skip(4).take(2).collect();
    assert!(screen.contains("CONV"), "{screen}");
    assert_ne!(rows[0], rows[1], "{screen}");
    assert!(rows[0].contains("e8f"), "{screen}");
    assert!(rows[1].contains("042"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn conversation_confirmation_names_what_it_approves_at_once() {
    let mut s = loaded(100, 30);
    live(&mut s);
    let mut sibling = entry(&s, "req-1").request();
    sibling.id = "req-4".into();
    sibling.params = json!({"order_id": "A-1002", "amount": 80});
    update(&mut s, event(EventKind::RequestCreated, 8, sibling));
    key(&mut s, 'c');
    let screen = render(&s);
    assert!(
        screen.contains("Also approves 1 other pending `order_tools.process_refund` call in this"),
        "{screen}"
    );
    assert!(
        screen.contains("y, 1 or 8 confirms, any other key cancels"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn a_capped_history_does_not_pretend_to_be_the_total() {
    let mut s = loaded(80, 24);
    live(&mut s);
    let done = |id: &str| {
        decided(
            req(id, "t", "a", 60, json!({})),
            Outcome::Approved,
            Scope::Once,
            "alice",
        )
    };
    update(
        &mut s,
        Msg::History {
            requests: vec![done("h1"), done("h2")],
            more: false,
        },
    );
    assert!(render(&s).contains("History 2 "));
    // The backend holds older ones than the console keeps.
    update(
        &mut s,
        Msg::History {
            requests: vec![done("h1"), done("h2")],
            more: true,
        },
    );
    let screen = render(&s);
    assert!(screen.contains("History 2+"), "{screen}");
}

/// A gate call in a conversation: a tool that runs commands.
fn shell_exec_queue(w: u16, h: u16) -> State {
    let mut s = fixtures::state(w, h);
    live(&mut s);
    let mut exec = req(
        "x1",
        "shell.exec",
        "deploy-bot",
        12,
        json!({"argv": ["rm", "-rf", "build"], "cwd": "/srv/app"}),
    );
    exec.conversation_id = Some("conv-31".into());
    update(&mut s, listed(vec![exec]));
    s
}

#[test]
fn conversation_confirmation_of_a_command_tool_says_it_covers_every_command() {
    let mut s = shell_exec_queue(80, 24);
    // Asked though nothing else pending is covered.
    key(&mut s, 'c');
    let screen = render(&s);
    assert!(screen.contains("This covers every command"), "{screen}");
    assert!(screen.contains("8 confirms"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn always_confirmation_of_a_command_tool_says_any_conversation() {
    let mut s = shell_exec_queue(80, 24);
    key(&mut s, 'A');
    let screen = render(&s);
    assert!(screen.contains("in any"), "{screen}");
    assert!(
        screen.contains("conversation, not only this one."),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn a_confirmation_cut_by_a_small_screen_cannot_be_confirmed() {
    let mut s = shell_exec_queue(30, 7);
    key(&mut s, 'A');
    let screen = render(&s);
    assert!(screen.contains("cut: enlarge"), "{screen}");
    assert!(!screen.contains("y confirms"), "{screen}");
    key(&mut s, 'y');
    assert!(
        matches!(s.mode, super::model::Mode::Confirm(_)),
        "y refused"
    );
}

#[test]
fn too_small_screen_says_what_it_needs_and_why_nothing_was_decided() {
    let mut s = loaded(30, 6);
    live(&mut s);
    let screen = render(&s);
    assert!(
        !screen.contains("order_tools"),
        "no row off the layout:\n{screen}"
    );
    key(&mut s, 'a');
    let refused = render(&s);
    insta::assert_snapshot!(format!("{screen}\n{refused}"));
}

#[test]
fn the_smallest_screen_shows_the_row_its_tool_and_the_decision_keys() {
    let mut s = loaded(30, 7);
    live(&mut s);
    let screen = render(&s);
    assert!(screen.contains("order_too"), "{screen}");
    assert!(screen.contains("a c A r decide  n notify:off"), "{screen}");
    insta::assert_snapshot!(screen);
    // The layout gives the list exactly one row there, and none a row shorter.
    let rows = |w, h| {
        let a = super::layout::areas(ratatui::layout::Rect::new(0, 0, w, h), false, true);
        super::layout::list_rows(a.list)
    };
    assert_eq!((rows(30, 7), rows(30, 6)), (1, 0));
}

#[test]
fn an_approval_that_notifies_asks_for_its_reason() {
    let mut s = loaded(80, 24);
    live(&mut s);
    key(&mut s, 'n');
    key(&mut s, 'a');
    code(&mut s, KeyCode::Enter);
    let screen = render(&s);
    assert!(screen.contains("Approve once, reason:"), "{screen}");
    assert!(
        screen.contains("Not sent: notifying the agent needs a reason"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

/// The screen's cells, for what the text alone does not show (styles).
fn cells(s: &State) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(s.width, s.height)).unwrap();
    t.draw(|f| {
        view::draw(s, f);
    })
    .unwrap();
    t.backend().buffer().clone()
}

/// Whether the cells of the first `text` on row `y` all have `modifier`.
fn styled(buf: &ratatui::buffer::Buffer, y: u16, text: &str, modifier: Modifier) -> bool {
    let row: String = (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_owned())
        .collect();
    let Some(at) = row.find(text) else {
        return false;
    };
    let x0 = row[..at].chars().count() as u16;
    (x0..x0 + text.chars().count() as u16).all(|x| buf[(x, y)].modifier.contains(modifier))
}

/// The detail pane's scroll position `first-last/total`, from its title row.
fn position(screen: &str) -> Option<(usize, usize, usize)> {
    screen.lines().find_map(|l| {
        l.split_whitespace().find_map(|w| {
            let (range, total) = w.split_once('/')?;
            let (a, b) = range.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
        })
    })
}

/// Every screen of the help, scrolled from top to bottom, and its text with the wrapped
/// descriptions joined again.
fn help_pages(s: &mut State) -> (Vec<String>, String) {
    key(s, '?');
    let mut screens = vec![render(s)];
    for _ in 0..80 {
        key(s, 'j');
        let screen = render(s);
        if screens.last() == Some(&screen) {
            break;
        }
        screens.push(screen);
    }
    let mut text = String::new();
    for screen in &screens {
        for l in screen.lines().skip(1) {
            let l = l.trim_matches('"').trim_matches('│').trim();
            text.push(' ');
            text.push_str(l);
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (screens, text)
}

#[test]
fn the_help_wraps_at_50_columns_and_says_how_to_close_it() {
    let mut s = loaded(50, 20);
    live(&mut s);
    let (screens, text) = help_pages(&mut s);
    for a in super::keymap::Action::ALL {
        assert!(text.contains(a.description()), "{a:?}: {text}");
    }
    for screen in &screens {
        assert!(!screen.contains('…'), "nothing cut:\n{screen}");
    }
    assert!(screens.len() > 1, "it scrolls");
    assert!(
        screens[0].contains("? or Esc closes this help"),
        "{}",
        screens[0]
    );
    insta::assert_snapshot!(screens[0]);
    // Esc closes it; so does any key that does not scroll it.
    code(&mut s, KeyCode::Esc);
    assert!(!render(&s).contains("closes this help"));
    key(&mut s, '?');
    key(&mut s, 'a');
    assert!(!render(&s).contains("closes this help"));
}

#[test]
fn queue_50x20_keeps_tool_age_risk_and_summary() {
    let mut s = fixtures::state(50, 20);
    live(&mut s);
    let mut list = fixtures::queue();
    list.push(fixtures::gate_request("req-g", 30));
    update(&mut s, listed(list));
    let screen = render(&s);
    let header = screen.lines().nth(3).unwrap_or_default();
    for col in ["AGE", "TOOL", "PARAMS", " R "] {
        assert!(header.contains(col), "{col} missing at 50x20:\n{screen}");
    }
    let risk_at = header.find(" R ").map(|i| i + 1).unwrap_or(0);
    for (tool, letter) in [("db.delete", 'C'), ("email.send", 'L'), ("shell.exec", 'H')] {
        let row = screen
            .lines()
            .find(|l| l.contains(tool))
            .unwrap_or_default();
        assert_eq!(row.chars().nth(risk_at), Some(letter), "{tool}:\n{screen}");
    }
    assert!(screen.contains("rm -rf '/tmp/old"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn queue_120x30_gives_names_room_before_the_pane() {
    let mut s = fixtures::state(120, 30);
    live(&mut s);
    let mut list = fixtures::queue();
    list.push(req(
        "req-l",
        fixtures::LONG_TOOL,
        "billing-agent",
        40,
        json!({"customer_id": "C-77", "reason": "churned"}),
    ));
    list.push(fixtures::gate_request("req-g", 30));
    update(&mut s, listed(list));
    let screen = render(&s);
    for name in [
        fixtures::LONG_TOOL,
        "order_tools.process_refund",
        "order-manager",
    ] {
        assert!(
            screen.contains(&format!("{name} ")),
            "{name} cut:\n{screen}"
        );
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn a_gate_row_shows_its_command_line() {
    let mut s = fixtures::state(160, 40);
    live(&mut s);
    update(&mut s, listed(vec![fixtures::gate_request("req-g", 30)]));
    let screen = render(&s);
    let row = screen.lines().nth(4).unwrap_or_default();
    assert!(
        row.contains(" rm -rf '/tmp/old builds'  (in /srv/app)"),
        "{screen}"
    );
    assert!(!screen.contains("argv=["), "{screen}");
}

#[test]
fn the_detail_pane_with_the_keys_scrolls_and_says_so() {
    let mut s = fixtures::state(160, 40);
    live(&mut s);
    update(
        &mut s,
        listed(vec![
            fixtures::long_request("req-l"),
            req("req-2", "t", "a", 5, json!({})),
        ]),
    );
    let before = render(&s);
    let (first, last, _) = position(&before).unwrap_or_default();
    assert_eq!(first, 1, "{before}");
    // Without the keys the pane does not move: PgDn moves the cursor.
    code(&mut s, KeyCode::PageDown);
    assert_eq!(s.queue().selected_id(), Some("req-2"));
    key(&mut s, 'g');
    assert!(!styled(
        &cells(&s),
        3,
        "crm.bulk_update",
        Modifier::REVERSED
    ));
    key(&mut s, 'l');
    // The pane with the keys says so: its title reversed.
    assert!(styled(
        &cells(&s),
        3,
        " crm.bulk_update",
        Modifier::REVERSED
    ));
    code(&mut s, KeyCode::PageDown);
    let screen = render(&s);
    assert_eq!(position(&screen).map(|p| p.0), Some(last + 1), "{screen}");
    let page = last;
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    assert_eq!(
        position(&render(&s)).map(|p| p.0),
        Some(last + 1 - page / 2)
    );
    // The cursor did not move: the same request is shown.
    assert_eq!(s.queue().selected_id(), Some("req-l"));
    key(&mut s, 'G');
    let end = render(&s);
    assert!(end.contains("args hash"), "{end}");
    insta::assert_snapshot!(end);
    // Esc gives the list its keys back: j moves the cursor again.
    code(&mut s, KeyCode::Esc);
    key(&mut s, 'j');
    assert_eq!(s.queue().selected_id(), Some("req-2"));
}

#[test]
fn the_detail_wraps_ids_whole_and_params_parse() {
    let mut s = fixtures::state(120, 30);
    live(&mut s);
    let mut r = req(
        "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f",
        "t",
        "a",
        5,
        json!({"note": "bidi \u{202e} and esc \u{1b}[2J"}),
    );
    r.conversation_id = Some("0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d0042".into());
    update(&mut s, listed(vec![r]));
    key(&mut s, 'l');
    key(&mut s, 'G');
    let screen = render(&s);
    assert!(
        screen.contains("0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f "),
        "the id whole on a row:\n{screen}"
    );
    // JSON's escapes in the params (the queue's summary keeps the sanitiser's).
    let json = screen
        .lines()
        .find(|l| l.contains("\"note\""))
        .unwrap_or_default();
    assert!(
        json.contains("\"bidi \\u202e and esc \\u001b[2J\""),
        "{screen}"
    );
}

#[test]
fn slash_shows_the_old_filter_selected() {
    let mut s = loaded(80, 24);
    live(&mut s);
    key(&mut s, '/');
    for c in "db".chars() {
        key(&mut s, c);
    }
    code(&mut s, KeyCode::Enter);
    key(&mut s, '/');
    let screen = render(&s);
    assert!(screen.contains("Filter: db"), "{screen}");
    let buf = cells(&s);
    assert!(
        styled(&buf, s.height - 2, "db", Modifier::REVERSED),
        "selected"
    );
    insta::assert_snapshot!(screen);
    // The first character replaces it; the new text is not selected.
    key(&mut s, 'e');
    assert_eq!(s.queue().filter(), "e");
    assert!(!styled(&cells(&s), s.height - 2, "e ", Modifier::REVERSED));
    code(&mut s, KeyCode::Enter);
    // An arrow, or Enter, keeps it.
    key(&mut s, '/');
    code(&mut s, KeyCode::Left);
    key(&mut s, 'x');
    assert_eq!(s.queue().filter(), "xe");
    code(&mut s, KeyCode::Enter);
    key(&mut s, '/');
    code(&mut s, KeyCode::Enter);
    assert_eq!(s.queue().filter(), "xe");
    // Backspace on the selection deletes it all.
    key(&mut s, '/');
    code(&mut s, KeyCode::Backspace);
    assert_eq!(s.queue().filter(), "");
}

#[test]
fn the_reject_prompt_names_the_request() {
    use super::words::reject_prompt;
    assert_eq!(
        reject_prompt("refund", "order-bot", 80),
        "Reject refund from order-bot — reason: "
    );
    let long = reject_prompt(&"t".repeat(100), &"a".repeat(100), 60);
    assert!(crate::text::width(&long) <= 60, "{long}");
    assert!(
        long.starts_with("Reject ttt") && long.contains("… from aaa"),
        "{long}"
    );
    assert!(long.ends_with("… — reason: "), "{long}");
    assert_eq!(
        reject_prompt("x", "y\u{1b}[2J", 80),
        "Reject x from y\\u{1b}[2J — reason: "
    );
    assert_eq!(
        reject_prompt("refund", "order-bot", 20),
        "Reject — reason: "
    );
}

#[test]
fn an_escalated_request_is_marked_on_its_row_and_in_its_detail_and_comes_first() {
    let mut s = loaded(100, 36);
    live(&mut s);
    let mut r = entry(&s, "req-3").request();
    r.escalated_at = Some(now());
    update(&mut s, event(EventKind::RequestEscalated, 4, r));
    let screen = render(&s);
    let row = screen
        .lines()
        .find(|l| l.contains("ESCALATED"))
        .unwrap_or_else(|| panic!("no escalated row: {screen}"));
    assert!(row.contains("db."), "{row}");
    assert_eq!(s.queue().shown_ids().next(), Some("req-3"));
    key(&mut s, 'g');
    assert_eq!(s.queue().selected_id(), Some("req-3"));
    code(&mut s, KeyCode::Enter);
    let detail = render(&s);
    assert!(detail.contains("ESCALATED: pending for"), "{detail}");
    assert!(detail.contains("escalated"), "{detail}");
    insta::assert_snapshot!(format!("{screen}\n{detail}"));
}
