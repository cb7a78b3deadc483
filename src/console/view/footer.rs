//! The two bottom lines: the message or input line, and the keys that apply now.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::console::keymap::Action;
use crate::console::model::{Level, Mode, State, Tab};
use crate::console::text;
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, status: Rect, keys: Rect) {
    let theme = Theme::new(state.no_color);
    let cols = usize::from(status.width);
    match &state.mode {
        Mode::Reason { id, input } => {
            let tool = state
                .queue()
                .get(id)
                .map(|e| text::fit(&sanitize::line(&e.req().tool), cols / 4))
                .unwrap_or_default();
            let prompt = format!("Reject {tool}, reason: ");
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
        Mode::Confirm(_) => vec![
            ("y".into(), "confirm".into()),
            ("any other key".into(), "cancel".into()),
        ],
        Mode::Reason { .. } => vec![
            ("Enter".into(), "reject".into()),
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
            if selected && !decidable {
                v.push(("—".to_owned(), "this request has ended".to_owned()));
            } else if selected && narrow {
                let decide = [
                    Action::ApproveOnce,
                    Action::ApproveConversation,
                    Action::ApproveAlways,
                    Action::Reject,
                ]
                .map(k)
                .join(" ");
                v.push((decide, "decide".to_owned()));
                v.push((
                    k(Action::ToggleNotify),
                    format!("notify:{}", if notify { "on" } else { "off" }),
                ));
            } else if selected {
                v.push(pair(Action::ApproveOnce, "approve"));
                v.push(pair(Action::ApproveConversation, "conversation"));
                v.push(pair(Action::ApproveAlways, "always"));
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
