//! What a key does: in a confirmation, the reason or filter input, the help, the detail
//! view and the lists. Changes when a key's meaning changes.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::super::effect::Effect;
use super::super::keymap::Action;
use super::super::layout;
use super::super::model::{Confirm, Level, Mode, State, Tab};
use super::decide::{check_decidable, send};
use super::view_keys;
use crate::protocol::{Scope, Verdict};
use crate::sanitize;

pub(super) fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    // Ctrl-C quits from anywhere, whatever the mode.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        fx.push(Effect::Quit);
        return;
    }
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Confirm(c) => {
            if key.code == KeyCode::Char('y') {
                confirmed(state, c, fx);
            } else {
                state.say(Level::Info, "Cancelled: nothing was sent");
            }
        }
        Mode::Reason { id, mut input } => match key.code {
            KeyCode::Enter => {
                let reason = input.value().trim().to_owned();
                let reason = (!reason.is_empty()).then_some(reason);
                send(state, &id, Verdict::Reject, Scope::Once, reason, fx);
            }
            KeyCode::Esc => state.say(Level::Info, "Rejection cancelled: nothing was sent"),
            _ => {
                if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                    input.handle(req);
                }
                state.mode = Mode::Reason { id, input };
            }
        },
        Mode::Filter { input, replace } => view_keys::filter_key(state, input, replace, key),
        Mode::Help { scroll } => view_keys::help_key(state, scroll, &key),
        Mode::Detail => {
            state.mode = Mode::Detail;
            let Some(action) = state.keymap.action_for(&key) else {
                return;
            };
            detail_view_key(state, action, fx);
        }
        Mode::Normal => {
            let Some(action) = state.keymap.action_for(&key) else {
                return;
            };
            normal_key(state, action, fx);
        }
    }
}

fn detail_view_key(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    // Scrolling the detail is reading it: the request under the cursor has been seen.
    if view_keys::scroll_detail(state, action) {
        seen(state);
        return;
    }
    match action {
        Action::Back | Action::OpenDetail | Action::FocusList => state.mode = Mode::Normal,
        Action::FocusDetail => {}
        Action::NextTab | Action::PrevTab => {
            state.mode = Mode::Normal;
            normal_key(state, action, fx);
        }
        other => normal_key(state, other, fx),
    }
}

fn normal_key(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    // A page is the rows the list shows; the selection clamps what runs past an end.
    let page = layout::list_rows(state.areas().list).max(1);
    let idx = state.current_index();
    // A detail pane with the keys takes the moving keys (view_keys); scrolling it is
    // reading the request under the cursor.
    if state.detail_focused() && view_keys::scroll_detail(state, action) {
        seen(state);
        return;
    }
    match action {
        Action::Quit => fx.push(Effect::Quit),
        Action::Help => state.mode = Mode::Help { scroll: 0 },
        Action::Up => state.select_index(idx.saturating_sub(1)),
        Action::Down => state.select_index(idx + 1),
        Action::Top => state.select_index(0),
        Action::Bottom => state.select_index(usize::MAX),
        Action::PageUp => state.select_index(idx.saturating_sub(page)),
        Action::PageDown => state.select_index(idx.saturating_add(page)),
        // Reading the detail (scrolling it, opening it) counts as having looked at the
        // request under the cursor, as moving onto it does.
        Action::ScrollDetailDown | Action::ScrollDetailUp => {
            view_keys::scroll_detail(state, action);
            seen(state);
        }
        Action::HalfPageDown | Action::HalfPageUp => view_keys::half_page_list(state, action),
        Action::FocusDetail | Action::FocusList => {
            if view_keys::focus(state, action) {
                seen(state);
            }
        }
        Action::CopyId | Action::CopyParams => view_keys::copy(state, action, fx),
        Action::OpenDetail => {
            if state.detail_request().is_some() {
                state.mode = Mode::Detail;
                seen(state);
            }
        }
        Action::Back => {
            if view_keys::unfocus(state) {
                // Esc first gives the list its keys back.
            } else if !state.queue().filter().is_empty() {
                state.queue_mut().set_filter("");
                state.say(Level::Info, "Filter cleared");
            }
        }
        Action::NextTab | Action::PrevTab => {
            let i = Tab::ALL.iter().position(|t| *t == state.tab).unwrap_or(0);
            let n = Tab::ALL.len();
            let next = if action == Action::NextTab {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            state.tab = Tab::ALL[next];
            state.detail_scroll = 0;
        }
        Action::Filter => view_keys::open_filter(state),
        Action::CycleSort => {
            let sort = state.queue().sort().next();
            state.queue_mut().set_sort(sort);
            state.say(Level::Info, format!("Sorted by {}", sort.as_str()));
        }
        Action::Refresh => {
            fx.push(Effect::Refresh);
            state.say(Level::Info, "Reloading from the backend…");
        }
        Action::Revoke => {
            if state.tab != Tab::Grants {
                state.say(
                    Level::Warn,
                    "Revoke works on the Grants tab (Tab to switch)",
                );
            } else if let Some(g) = state.grants().selected() {
                state.mode = Mode::Confirm(Confirm::Revoke {
                    grant_id: g.id.clone(),
                });
            } else {
                state.say(Level::Warn, "No grant selected");
            }
        }
        Action::ToggleNotify => {
            // It decides nothing, so the "cursor moved" guard does not apply.
            if let Some(id) = selected_decidable(state)
                && let Some(on) = state.queue_mut().toggle_notify(&id)
            {
                state.say(
                    Level::Info,
                    if on {
                        "The agent will be notified of this decision"
                    } else {
                        "The agent will not be notified of this decision"
                    },
                );
            }
        }
        Action::ApproveOnce => {
            if let Some(id) = decidable(state) {
                send(state, &id, Verdict::Approve, Scope::Once, None, fx);
            }
        }
        Action::ApproveConversation => {
            if let Some(id) = decidable(state) {
                let has_conv = state
                    .queue()
                    .get(&id)
                    .is_some_and(|e| e.req().conversation_id.is_some());
                if !has_conv {
                    no_conversation(state);
                } else if state.queue().covered_by(&id, Scope::Conversation) > 0 {
                    // The grant approves the other pending calls it covers at once: that
                    // is more than one request, so it is confirmed like `always`.
                    state.mode = Mode::Confirm(Confirm::Conversation { id });
                } else {
                    send(state, &id, Verdict::Approve, Scope::Conversation, None, fx);
                }
            }
        }
        Action::ApproveAlways => {
            if let Some(id) = decidable(state) {
                state.mode = Mode::Confirm(Confirm::Always { id });
            }
        }
        Action::Reject => {
            if let Some(id) = decidable(state) {
                state.mode = Mode::Reason {
                    id,
                    input: Input::default(),
                };
            }
        }
    }
}

fn no_conversation(state: &mut State) {
    let text = format!(
        "This request has no conversation: approve once ({}) or always ({}) instead",
        state.keymap.label(Action::ApproveOnce),
        state.keymap.label(Action::ApproveAlways)
    );
    state.say(Level::Warn, text);
}

/// The reviewer has looked at the request under the cursor.
fn seen(state: &mut State) {
    if state.tab == Tab::Pending {
        state.queue_mut().seen();
    }
}

/// The id of the selected request if it can be decided now; otherwise says why not.
fn decidable(state: &mut State) -> Option<String> {
    let queue = state.queue();
    if state.tab == Tab::Pending && queue.selected_id().is_some() && queue.moved() {
        let what = queue
            .selected()
            .map(|e| {
                format!(
                    "{} from {}",
                    sanitize::line(&e.req().tool),
                    sanitize::line(&e.req().agent)
                )
            })
            .unwrap_or_default();
        state.queue_mut().seen();
        state.say(
            Level::Warn,
            format!("The cursor moved to {what}: read it, then press the key again"),
        );
        return None;
    }
    selected_decidable(state)
}

/// Like [`decidable`], without the "cursor moved" guard (for keys that decide nothing).
fn selected_decidable(state: &mut State) -> Option<String> {
    if state.tab != Tab::Pending {
        state.say(
            Level::Warn,
            "Decisions are made on the Pending tab (Tab to switch)",
        );
        return None;
    }
    let Some(id) = state.queue().selected_id().map(str::to_owned) else {
        state.say(Level::Warn, "No request selected");
        return None;
    };
    check_decidable(state, &id).then_some(id)
}

fn confirmed(state: &mut State, c: Confirm, fx: &mut Vec<Effect>) {
    match c {
        Confirm::Always { id } => send(state, &id, Verdict::Approve, Scope::Always, None, fx),
        Confirm::Conversation { id } => {
            send(state, &id, Verdict::Approve, Scope::Conversation, None, fx)
        }
        Confirm::Revoke { grant_id } => {
            fx.push(Effect::RevokeGrant { id: grant_id });
            state.say(Level::Info, "Revoking…");
        }
    }
}
