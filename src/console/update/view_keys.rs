//! The keys that change how the console is read, never what it decides: scrolling the
//! detail (a row, half a page, a page, either end), the focus of a detail pane beside or
//! under the list, copying through the terminal (OSC 52), the help's keys and the filter
//! input. `keys.rs` dispatches to these. Changes when a reading key's meaning changes.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::super::effect::Effect;
use super::super::keymap::Action;
use super::super::layout;
use super::super::model::{Level, Mode, State, Tab};
use super::super::view::help;
use crate::sanitize;

/// The most one copy sends through the terminal. Terminals cap what they take from an
/// OSC 52 sequence (some at 100 KB, most at a few MB) and drop the rest silently; past
/// this the console says so rather than claim a copy the terminal may have refused.
pub const COPY_LIMIT: usize = 1 << 20;

/// Scrolls the detail shown (pane or view) for a moving `action`; false for any other
/// action, which then keeps its own meaning.
pub(super) fn scroll_detail(state: &mut State, action: Action) -> bool {
    let (total, height) = state.detail_extent();
    let max = total.saturating_sub(height);
    let page = height.max(1);
    let half = (height / 2).max(1);
    let at = state.detail_scroll.min(max);
    let to = match action {
        Action::Down | Action::ScrollDetailDown => at + 1,
        Action::Up | Action::ScrollDetailUp => at.saturating_sub(1),
        Action::HalfPageDown => at + half,
        Action::HalfPageUp => at.saturating_sub(half),
        Action::PageDown => at + page,
        Action::PageUp => at.saturating_sub(page),
        Action::Top => 0,
        Action::Bottom => max,
        _ => return false,
    };
    state.detail_scroll = to.min(max);
    true
}

/// Ctrl-d / Ctrl-u in the list: the cursor moves half a page.
pub(super) fn half_page_list(state: &mut State, action: Action) {
    let half = (layout::list_rows(state.areas().list) / 2).max(1);
    let idx = state.current_index();
    let to = if action == Action::HalfPageDown {
        idx.saturating_add(half)
    } else {
        idx.saturating_sub(half)
    };
    state.select_index(to);
}

/// Moves the keys to the detail (`FocusDetail`: the pane, or the detail view where no
/// pane fits) or back to the list (`FocusList`). True when the reviewer is now reading
/// the detail of the request under the cursor.
pub(super) fn focus(state: &mut State, action: Action) -> bool {
    if action == Action::FocusList {
        if state.mode.is_detail() {
            state.mode = Mode::Normal;
        }
        state.detail_focus = false;
        return false;
    }
    if state.tab == Tab::Grants || state.detail_request().is_none() {
        return false;
    }
    if state.areas().detail.is_some() {
        state.detail_focus = true;
    } else {
        state.mode = Mode::Detail;
    }
    true
}

/// Esc with the detail pane focused gives the keys back to the list; false when the
/// pane did not have them (Esc then keeps its other meanings).
pub(super) fn unfocus(state: &mut State) -> bool {
    let had = state.detail_focused();
    state.detail_focus = false;
    had
}

/// `y` copies the selected request's id (or grant's, on the Grants tab), `Y` its
/// parameters as the JSON the detail shows: it parses to the same value, and its
/// escapes (`\u202e`, `\u001b`) keep whatever is pasted as safe as what was shown. The
/// text goes to the driver, which writes it to the terminal as an OSC 52 sequence.
pub(super) fn copy(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    if !state.copy {
        state.say(
            Level::Warn,
            "copying is off (copy = false under [console] in the config)",
        );
        return;
    }
    let (text, said) = match (action, state.tab) {
        (Action::CopyId, Tab::Grants) => match state.grants().selected() {
            Some(g) => (
                g.id.clone(),
                format!("copied grant id {}", sanitize::line(&g.id)),
            ),
            None => return state.say(Level::Warn, "No grant selected: nothing copied"),
        },
        (_, Tab::Grants) => {
            let key = state.keymap.label(Action::CopyId);
            return state.say(
                Level::Warn,
                format!("A grant has no params: {key} copies its id"),
            );
        }
        (Action::CopyId, _) => match state.detail_request() {
            Some(r) => (r.id.clone(), format!("copied id {}", sanitize::line(&r.id))),
            None => return state.say(Level::Warn, "No request selected: nothing copied"),
        },
        (_, _) => match state.detail() {
            Some(d) if !d.has_params() => {
                return state.say(Level::Warn, "Its params are not loaded: nothing copied");
            }
            Some(d) => {
                let json = d.params_json();
                let said = format!("copied params ({} bytes)", json.len());
                (json, said)
            }
            None => return state.say(Level::Warn, "No request selected: nothing copied"),
        },
    };
    if text.len() > COPY_LIMIT {
        state.say(
            Level::Warn,
            format!(
                "Not copied: {} bytes is more than a terminal takes at once ({COPY_LIMIT}); \
                 `assent show ID --json` prints them",
                text.len()
            ),
        );
        return;
    }
    fx.push(Effect::Copy(text));
    state.say(Level::Info, said);
}

/// A key while the help is open: the moving keys scroll it, any other key closes it
/// (the mode was already taken out by the caller: not putting it back closes).
pub(super) fn help_key(state: &mut State, scroll: usize, key: &KeyEvent) {
    let page = help::page(state).max(1);
    let max = help::max_scroll(state);
    let scroll = scroll.min(max);
    let to = match state.keymap.action_for(key) {
        Some(Action::Down | Action::ScrollDetailDown) => scroll + 1,
        Some(Action::Up | Action::ScrollDetailUp) => scroll.saturating_sub(1),
        Some(Action::HalfPageDown) => scroll + page / 2,
        Some(Action::HalfPageUp) => scroll.saturating_sub(page / 2),
        Some(Action::PageDown) => scroll + page,
        Some(Action::PageUp) => scroll.saturating_sub(page),
        Some(Action::Top) => 0,
        Some(Action::Bottom) => max,
        _ => return,
    };
    state.mode = Mode::Help {
        scroll: to.min(max),
    };
}

/// `/`: the filter input opens on the filter in force, shown selected, so the first
/// character typed replaces it (as a selected text field does) while Enter or an arrow
/// keeps it.
pub(super) fn open_filter(state: &mut State) {
    let old = state.queue().filter().to_owned();
    state.mode = Mode::Filter {
        replace: !old.is_empty(),
        input: Input::new(old),
    };
}

/// A key in the filter input. The filter applies as it is typed; Enter keeps it, Esc
/// clears it.
pub(super) fn filter_key(state: &mut State, mut input: Input, replace: bool, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => {}
        KeyCode::Esc => state.queue_mut().set_filter(""),
        code => {
            if replace {
                let typed = matches!(code, KeyCode::Char(_))
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                let erase = matches!(code, KeyCode::Backspace | KeyCode::Delete);
                if typed || erase {
                    input = Input::default();
                }
                if erase {
                    // Deleting a selection deletes it all, and nothing more.
                    state.queue_mut().set_filter("");
                    state.mode = Mode::Filter {
                        input,
                        replace: false,
                    };
                    return;
                }
            }
            if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                input.handle(req);
            }
            state.queue_mut().set_filter(input.value());
            state.mode = Mode::Filter {
                input,
                replace: false,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use serde_json::json;

    use super::super::update;
    use super::*;
    use crate::console::action::Msg;
    use crate::console::fixtures::{self, listed, loaded, req};

    fn press(s: &mut State, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
        update(s, Msg::Key(KeyEvent::new(code, mods)))
    }

    fn key(s: &mut State, c: char) -> Vec<Effect> {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        press(s, KeyCode::Char(c), mods)
    }

    fn said(s: &State) -> String {
        s.message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default()
    }

    #[test]
    fn y_copies_the_id_and_shift_y_the_params_as_shown() {
        let mut s = loaded(120, 30);
        assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("req-1".into())]);
        assert_eq!(said(&s), "copied id req-1");
        let fx = key(&mut s, 'Y');
        let Some(Effect::Copy(json)) = fx.first() else {
            panic!("{fx:?}");
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json).ok(),
            Some(fixtures::queue()[0].params.clone())
        );
        assert_eq!(said(&s), format!("copied params ({} bytes)", json.len()));
        // Nothing is decided, and the request is still the one under the cursor.
        assert_eq!(s.queue().selected_id(), Some("req-1"));
    }

    #[test]
    fn copying_off_says_so_and_copies_nothing() {
        let mut s = loaded(120, 30);
        s.copy = false;
        assert!(key(&mut s, 'y').is_empty());
        assert!(said(&s).starts_with("copying is off"), "{}", said(&s));
        assert!(key(&mut s, 'Y').is_empty());
    }

    #[test]
    fn copying_on_other_tabs_and_past_the_limit() {
        let mut s = loaded(120, 30);
        update(
            &mut s,
            Msg::Grants(vec![fixtures::conversation_grant("g1", "conv-77")]),
        );
        press(&mut s, KeyCode::BackTab, KeyModifiers::NONE);
        assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("g1".into())]);
        assert!(key(&mut s, 'Y').is_empty());
        assert!(said(&s).contains("y copies its id"), "{}", said(&s));

        let mut s = fixtures::state(120, 30);
        let blob = "x".repeat(COPY_LIMIT);
        update(
            &mut s,
            listed(vec![req("big", "t", "a", 0, json!({"blob": blob}))]),
        );
        assert!(key(&mut s, 'Y').is_empty());
        assert!(said(&s).starts_with("Not copied"), "{}", said(&s));
        assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("big".into())]);
    }

    #[test]
    fn the_moving_keys_go_to_whatever_has_the_keys() {
        let mut s = fixtures::state(160, 40);
        let mut list = vec![fixtures::long_request("long")];
        list.extend((0..40).map(|i| req(&format!("r{i:02}"), "t", "a", 10 - i, json!({}))));
        update(&mut s, listed(list));
        let (total, height) = s.detail_extent();
        assert!(total > 2 * height, "{total} rows in {height}");
        // The list has them: Ctrl-d moves the cursor half a page.
        press(&mut s, KeyCode::Char('d'), KeyModifiers::CONTROL);
        let half = layout::list_rows(s.areas().list) / 2;
        assert_eq!(s.current_index(), half);
        key(&mut s, 'g');
        // The pane has them: every moving key scrolls it, the cursor stays.
        key(&mut s, 'l');
        assert!(s.detail_focused());
        for (code, mods, want) in [
            (KeyCode::Char('j'), KeyModifiers::NONE, 1),
            (KeyCode::Char('d'), KeyModifiers::CONTROL, 1 + height / 2),
            (KeyCode::Char('u'), KeyModifiers::CONTROL, 1),
            (KeyCode::PageDown, KeyModifiers::NONE, 1 + height),
            (KeyCode::PageUp, KeyModifiers::NONE, 1),
            (KeyCode::Char('G'), KeyModifiers::SHIFT, total - height),
            (KeyCode::PageDown, KeyModifiers::NONE, total - height),
            (KeyCode::Char('g'), KeyModifiers::NONE, 0),
        ] {
            press(&mut s, code, mods);
            assert_eq!(s.detail_scroll, want, "{code:?}");
            assert_eq!(s.queue().selected_id(), Some("long"));
        }
        // Esc, or h, gives them back.
        press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
        assert!(!s.detail_focused());
        key(&mut s, 'l');
        key(&mut s, 'h');
        assert!(!s.detail_focused());
        key(&mut s, 'j');
        assert_eq!(s.queue().selected_id(), Some("r00"));
    }

    #[test]
    fn where_no_pane_fits_l_opens_the_detail_view_and_h_closes_it() {
        let mut s = loaded(80, 24);
        key(&mut s, 'l');
        assert!(s.mode.is_detail());
        press(&mut s, KeyCode::Char('d'), KeyModifiers::CONTROL);
        let (total, height) = s.detail_extent();
        assert_eq!(s.detail_scroll, (height / 2).min(total - height));
        key(&mut s, 'h');
        assert!(matches!(s.mode, Mode::Normal));
    }

    #[test]
    fn the_help_scrolls_within_its_length() {
        let mut s = loaded(50, 20);
        key(&mut s, '?');
        let max = help::max_scroll(&s);
        assert!(max > 0);
        key(&mut s, 'G');
        assert!(matches!(s.mode, Mode::Help { scroll } if scroll == max));
        press(&mut s, KeyCode::PageDown, KeyModifiers::NONE);
        assert!(matches!(s.mode, Mode::Help { scroll } if scroll == max));
        key(&mut s, 'k');
        assert!(matches!(s.mode, Mode::Help { scroll } if scroll == max - 1));
        key(&mut s, '?');
        assert!(matches!(s.mode, Mode::Normal));
    }
}
