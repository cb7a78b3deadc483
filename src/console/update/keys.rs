//! What a key does: in a confirmation, the reason or filter input, the help, the detail
//! view and the lists; and where a paste goes. Changes when a key's meaning changes.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::super::action::Conn;
use super::super::effect::Effect;
use super::super::keymap::Action;
use super::super::layout;
use super::super::model::{Confirm, Extra, Level, Mode, State, Tab, grant_duration};
use super::super::words::{cursor_changed, not_on_screen, paste_ignored};
use super::decide::{check_decidable, may_act, params_shown, send, too_small};
use super::view_keys;
use crate::decision_rules::{check_reason, runs_commands};
use crate::protocol::{Scope, Verdict};

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
            // `y` confirms; a grant's confirmation also takes the key of a duration.
            let grant_ttl = match key.code {
                KeyCode::Char('y') => Some(None),
                KeyCode::Char(k) if c.makes_grant() => grant_duration(k).map(Some),
                _ => None,
            };
            let Some(grant_ttl) = grant_ttl else {
                state.say(Level::Info, "Cancelled: nothing was sent");
                return;
            };
            // It acts only on a confirmation that was on screen; refused, it stays open,
            // to be read.
            let label = match key.code {
                KeyCode::Char(k) => k.to_string(),
                _ => "y".to_owned(),
            };
            if let Err(text) = may_act(state, c.subject(), &label) {
                state.mode = Mode::Confirm(c);
                state.say(Level::Warn, text);
                return;
            }
            confirmed(state, c, grant_ttl, fx);
        }
        Mode::Reason {
            id,
            mut input,
            verdict,
            scope,
            extra,
        } => match key.code {
            KeyCode::Enter => {
                // A request that ended while its reason was typed: said, and the prompt
                // closes (it stays open until Enter or Esc, so the rest of a reason typed
                // blind never lands on the list as keys).
                if !check_decidable(state, &id) {
                    return;
                }
                if let Some(refused) = reason_refused(state, &id, &input, verdict) {
                    state.mode = Mode::Reason {
                        id,
                        input,
                        verdict,
                        scope,
                        extra,
                    };
                    state.say(Level::Warn, refused);
                    return;
                }
                let reason = input.value().trim().to_owned();
                let reason = (!reason.is_empty()).then_some(reason);
                send(state, &id, verdict, scope, extra, reason, fx);
            }
            KeyCode::Esc => {
                let what = match verdict {
                    Verdict::Reject => "Rejection",
                    Verdict::Approve => "Approval",
                };
                state.say(Level::Info, format!("{what} cancelled: nothing was sent"));
            }
            _ => {
                if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                    input.handle(req);
                }
                // A refusal shown in place of the hints gives way once the reviewer types.
                state.message = None;
                state.mode = Mode::Reason {
                    id,
                    input,
                    verdict,
                    scope,
                    extra,
                };
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

/// Why Enter in the reason prompt sends nothing, if it does not: the prompt was not on
/// screen, or the reason is blank where the decision needs one (the rule the CLI applies).
fn reason_refused(state: &State, id: &str, input: &Input, verdict: Verdict) -> Option<String> {
    if let Err(text) = may_act(state, id, "Enter") {
        return Some(text);
    }
    let notify = state.queue().get(id).is_some_and(|e| e.notify());
    let reason = Some(input.value().trim()).filter(|r| !r.is_empty());
    check_reason(verdict, notify, reason)
        .err()
        .map(|e| format!("Not sent: {e}"))
}

/// A paste goes into the text field open (the reason or the filter), its line breaks and
/// tabs made spaces; anywhere else it is dropped and said so. It is never read as keys, so
/// it can never decide anything.
pub(super) fn on_paste(state: &mut State, text: &str) {
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Reason {
            id,
            mut input,
            verdict,
            scope,
            extra,
        } => {
            insert(&mut input, text);
            state.message = None;
            state.mode = Mode::Reason {
                id,
                input,
                verdict,
                scope,
                extra,
            };
        }
        Mode::Filter { mut input, replace } => {
            // A paste over the old filter shown selected replaces it, as typing does.
            if replace {
                input = tui_input::Input::default();
            }
            insert(&mut input, text);
            state.queue_mut().set_filter(input.value());
            state.mode = Mode::Filter {
                input,
                replace: false,
            };
        }
        other => {
            state.mode = other;
            let text = paste_ignored(
                &state.keymap.label(Action::Reject),
                &state.keymap.label(Action::Filter),
            );
            state.say(Level::Warn, text);
        }
    }
}

/// Inserts pasted `text` at the cursor of a one-line field: a line break (`\r\n`, `\n` or
/// `\r`) or a tab becomes one space, other control characters are dropped.
fn insert(input: &mut Input, text: &str) {
    let one_line = text.replace("\r\n", " ");
    for c in one_line.chars() {
        let c = match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => continue,
            c => c,
        };
        input.handle(InputRequest::InsertChar(c));
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
            // The parameters shown, if their fetch failed, are fetched again too.
            state.retry_full();
            let text = match state.conn {
                Conn::Retrying { .. } | Conn::Connecting => "Retrying now…",
                Conn::Live | Conn::Polling { .. } => "Reloading from the backend…",
            };
            state.say(Level::Info, text);
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
                        "The agent will be notified of this decision, with a reason you give"
                    } else {
                        "The agent will not be notified of this decision"
                    },
                );
            }
        }
        Action::ApproveOnce => {
            if let Some(id) = decidable(state, action) {
                approve(state, id, Scope::Once, Extra::default(), fx);
            }
        }
        Action::ApproveConversation => {
            if let Some(id) = decidable(state, action) {
                let has_conv = state
                    .queue()
                    .get(&id)
                    .is_some_and(|e| e.req().conversation_id.is_some());
                if has_conv {
                    // A grant approves more than the request on screen (every later call,
                    // and the pending ones it covers): it is confirmed every time.
                    let commands = command_tool(state, &id);
                    state.mode = Mode::Confirm(Confirm::Conversation { id, commands });
                } else {
                    no_conversation(state);
                }
            }
        }
        Action::ApproveAlways => {
            if let Some(id) = decidable(state, action) {
                let commands = command_tool(state, &id);
                state.mode = Mode::Confirm(Confirm::Always { id, commands });
            }
        }
        Action::Reject => {
            if let Some(id) = decidable(state, action) {
                ask_reason(state, id, Verdict::Reject, Scope::Once, Extra::default());
            }
        }
        Action::EditApprove => {
            if let Some(id) = decidable(state, action) {
                super::edit::start(state, id, fx);
            }
        }
    }
}

/// Whether request `id` is a call that runs commands (its grant then approves every
/// command line), by the rule the dialogs say it with.
fn command_tool(state: &State, id: &str) -> bool {
    let Some(e) = state.queue().get(id) else {
        return false;
    };
    match state.full_of(id).and_then(|f| f.loaded()) {
        Some(full) => runs_commands(&e.req().tool, &full.params),
        None => runs_commands(&e.req().tool, &e.params()),
    }
}

/// Approves request `id` with `scope` (and `extra`: a grant's duration, or edited
/// params): at once, or, when the agent is to be notified, once the reason it is told has
/// been typed (an approval that notifies needs one).
fn approve(state: &mut State, id: String, scope: Scope, extra: Extra, fx: &mut Vec<Effect>) {
    let notify = state.queue().get(&id).is_some_and(|e| e.notify());
    if notify {
        ask_reason(state, id, Verdict::Approve, scope, extra);
    } else {
        send(state, &id, Verdict::Approve, scope, extra, None, fx);
    }
}

fn ask_reason(state: &mut State, id: String, verdict: Verdict, scope: Scope, extra: Extra) {
    // The status line becomes the prompt; what it said before is done with.
    state.message = None;
    state.mode = Mode::Reason {
        id,
        input: Input::default(),
        verdict,
        scope,
        extra,
    };
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

/// The id of the selected request if decision `action` can act on it now; otherwise says
/// why not: the terminal is too small to show it, the request under the cursor changed
/// unseen (the cursor guard), it cannot be decided, or the last frame did not show it.
fn decidable(state: &mut State, action: Action) -> Option<String> {
    if let Some(text) = too_small(state) {
        state.say(Level::Warn, text);
        return None;
    }
    if state.tab == Tab::Pending
        && let Err(first) = state.queue_mut().guard_check(action)
    {
        let (tool, agent) = state
            .queue()
            .selected()
            .map(|e| (e.req().tool.clone(), e.req().agent.clone()))
            .unwrap_or_default();
        let text = cursor_changed(&tool, &agent, &state.keymap.label(first));
        state.say(Level::Warn, text);
        return None;
    }
    let id = selected_decidable(state)?;
    if state.drawn.selected.as_deref() != Some(id.as_str()) {
        let text = not_on_screen(&state.keymap.label(action));
        state.say(Level::Warn, text);
        return None;
    }
    if !params_shown(state, &id, &state.keymap.label(action)) {
        return None;
    }
    Some(id)
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

/// Acts on confirmation `c`; a grant it makes lasts `grant_ttl` seconds (None: until
/// revoked).
fn confirmed(state: &mut State, c: Confirm, grant_ttl: Option<u64>, fx: &mut Vec<Effect>) {
    match c {
        Confirm::Always { id, .. } => {
            if check_decidable(state, &id) {
                let extra = Extra {
                    grant_ttl,
                    params: None,
                };
                approve(state, id, Scope::Always, extra, fx);
            }
        }
        Confirm::Conversation { id, .. } => {
            if check_decidable(state, &id) {
                let extra = Extra {
                    grant_ttl,
                    params: None,
                };
                approve(state, id, Scope::Conversation, extra, fx);
            }
        }
        Confirm::Revoke { grant_id } => {
            fx.push(Effect::RevokeGrant { id: grant_id });
            state.say(Level::Info, "Revoking…");
        }
        Confirm::Edit { id, params, .. } => {
            if check_decidable(state, &id) {
                let extra = Extra {
                    grant_ttl: None,
                    params: Some(params),
                };
                approve(state, id, Scope::Once, extra, fx);
            }
        }
    }
}
