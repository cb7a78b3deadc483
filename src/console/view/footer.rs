//! The two bottom lines: the message or input line, and the keys that apply now.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::console::keymap::{Action, Keymap};
use crate::console::model::{GRANT_DURATIONS, Level, Mode, State, Tab};
use crate::console::text;
use crate::console::words::{reason_prompt, reject_prompt};
use crate::protocol::Verdict;
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, status: Rect, keys: Rect) {
    let theme = Theme::new(state.no_color);
    let cols = usize::from(status.width);
    match &state.mode {
        Mode::Reason {
            id,
            input,
            verdict,
            scope,
            ..
        } => {
            let req = state.queue().get(id).map(|e| e.req());
            let prompt = match (verdict, req) {
                // A rejection names the request it rejects, tool and agent, fitted.
                (Verdict::Reject, Some(r)) => reject_prompt(&r.tool, &r.agent, cols / 2),
                _ => {
                    let tool = req
                        .map(|r| text::fit(&sanitize::line(&r.tool), cols / 4))
                        .unwrap_or_default();
                    // What Enter does stays in the prompt when the tool's name does not fit.
                    let full = reason_prompt(*verdict, *scope, Some(&tool));
                    if text::width(&full) > cols / 2 {
                        reason_prompt(*verdict, *scope, None)
                    } else {
                        full
                    }
                }
            };
            input_line(frame, status, &theme, &prompt, input, false);
        }
        // The filter in force is shown selected: the first key typed replaces it.
        Mode::Filter { input, replace } => {
            input_line(frame, status, &theme, "Filter: ", input, *replace)
        }
        _ => {
            if let Some(m) = &state.message {
                let style = match m.level {
                    Level::Info => theme.ok(),
                    Level::Warn => theme.warn(),
                    Level::Error => theme.error(),
                };
                let line = Line::styled(text::fit(&m.text, cols), style);
                frame.render_widget(Paragraph::new(line), status);
            }
        }
    }
    // With the status line taken by the prompt, a refused Enter (a blank reason) is said
    // where the hints are, until the reviewer types again.
    if let (Mode::Reason { .. }, Some(m)) = (&state.mode, &state.message) {
        let line = Line::styled(text::fit(&m.text, usize::from(keys.width)), theme.warn());
        frame.render_widget(Paragraph::new(line), keys);
        return;
    }
    let hints = hints(state);
    let mut spans = Vec::new();
    let mut used = 0;
    for (k, what) in hints {
        let w = text::width(&k) + text::width(&what) + 3;
        if used + w > usize::from(keys.width) {
            break;
        }
        used += w;
        spans.push(Span::styled(k, theme.key()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), keys);
}

fn input_line(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    prompt: &str,
    input: &tui_input::Input,
    selected: bool,
) {
    let prompt = if text::width(prompt) > usize::from(area.width) / 2 {
        "Reason: ".to_owned()
    } else {
        prompt.to_owned()
    };
    let pw = text::width(&prompt) as u16;
    let room = area.width.saturating_sub(pw).saturating_sub(1);
    let scroll = input.visual_scroll(usize::from(room));
    let shown: String = sanitize::line(input.value()).chars().skip(scroll).collect();
    let line = Line::from(vec![
        Span::styled(prompt, theme.key()),
        Span::styled(
            text::fit(&shown, usize::from(room)),
            if selected {
                theme.selected()
            } else {
                theme.base()
            },
        ),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    let cursor = input.visual_cursor().saturating_sub(scroll) as u16;
    if area.height > 0 {
        frame.set_cursor_position(Position::new(area.x + pw + cursor.min(room), area.y));
    }
}

/// The keys that apply in the current mode and tab, first keys of each action.
fn hints(state: &State) -> Vec<(String, String)> {
    let km = &state.keymap;
    let k = |a: Action| km.label(a);
    let pair = |a: Action, what: &str| (k(a), what.to_owned());
    match &state.mode {
        Mode::Confirm(c) => {
            let mut v = vec![("y".into(), "confirm".into())];
            if c.makes_grant() {
                for (k, _, words) in GRANT_DURATIONS {
                    v.push((k.to_string(), words.to_owned()));
                }
            }
            v.push(("any other key".into(), "cancel".into()));
            v
        }
        Mode::Reason { verdict, .. } => vec![
            (
                "Enter".into(),
                match verdict {
                    Verdict::Reject => "reject".into(),
                    Verdict::Approve => "approve".into(),
                },
            ),
            ("Esc".into(), "cancel".into()),
        ],
        Mode::Filter { .. } => vec![
            ("Enter".into(), "keep filter".into()),
            ("Esc".into(), "clear".into()),
        ],
        Mode::Help { .. } => vec![
            ("j/k".into(), "scroll".into()),
            ("any other key".into(), "close".into()),
        ],
        Mode::Detail | Mode::Normal => {
            let mut v = Vec::new();
            let detail = matches!(state.mode, Mode::Detail);
            // Below 100 columns the decision keys share one hint, so the keys that open
            // the detail, switch tabs and quit still fit at 80.
            let narrow = state.width < 100;
            // A row that expired, was cancelled or was decided elsewhere takes no decision.
            let queue = state.queue();
            let selected = state.tab == Tab::Pending && queue.selected_id().is_some();
            let decidable = queue.selected().is_some_and(|e| !e.local().is_ended());
            let notify = queue.selected().is_some_and(|e| e.notify());
            let waits = queue
                .selected()
                .is_some_and(|e| state.waits_on_others(e.req()));
            if selected && !decidable {
                v.push(("—".to_owned(), "this request has ended".to_owned()));
            } else if selected && waits {
                v.push((
                    "—".to_owned(),
                    "you approved: waiting on another reviewer".to_owned(),
                ));
            } else if selected && narrow {
                v.extend(narrow_decision_hints(km, notify));
            } else if selected {
                v.push(pair(Action::ApproveOnce, "approve"));
                v.push(pair(Action::ApproveConversation, "conversation"));
                v.push(pair(Action::ApproveAlways, "always"));
                v.push(pair(Action::EditApprove, "edit"));
                v.push(pair(Action::Reject, "reject"));
                v.push((
                    k(Action::ToggleNotify),
                    format!("notify:{}", if notify { "on" } else { "off" }),
                ));
            }
            if state.tab == Tab::Grants && state.grants().selected().is_some() {
                v.push(pair(Action::Revoke, "revoke"));
            }
            // Help comes early: when the line is cut, `?` still shows where every key is.
            v.push(pair(Action::Help, "help"));
            if detail {
                v.push(pair(Action::Back, "back"));
                v.push(("j/k".into(), "scroll".into()));
            } else if state.tab != Tab::Grants && state.current_len() > 0 {
                v.push(pair(Action::OpenDetail, "detail"));
            }
            v.push(pair(Action::NextTab, "tab"));
            v.push(pair(Action::Quit, "quit"));
            // Filter and sort act on the request lists, not on grants.
            if !detail && state.tab != Tab::Grants {
                v.push(pair(Action::Filter, "filter"));
                v.push(pair(Action::CycleSort, "sort"));
            }
            v
        }
    }
}

/// The decision keys as a narrow footer shows them: one hint for the four decisions, then
/// notify with its state.
fn narrow_decision_hints(km: &Keymap, notify: bool) -> [(String, String); 2] {
    let decide = [
        Action::ApproveOnce,
        Action::ApproveConversation,
        Action::ApproveAlways,
        Action::Reject,
    ]
    .map(|a| km.label(a))
    .join(" ");
    [
        (decide, "decide".to_owned()),
        (
            km.label(Action::ToggleNotify),
            format!("notify:{}", if notify { "on" } else { "off" }),
        ),
    ]
}

/// Columns the narrow footer needs to show the decision keys and the notify state whole
/// (as `draw` lays hints out: key, space, words, two spaces), for the smallest screen.
pub fn decision_keys_width(km: &Keymap) -> usize {
    // "off" is as wide as any state the hint can show.
    narrow_decision_hints(km, false)
        .iter()
        .map(|(k, what)| text::width(k) + text::width(what) + 3)
        .sum()
}
