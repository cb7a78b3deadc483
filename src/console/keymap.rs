//! One keymap drives both key dispatch and the `?` help screen, so the two cannot disagree.
//!
//! Defaults come from the issue; `[console.keys]` in the config replaces the keys of the
//! actions it names (action name → key or list of keys).

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::KeyBinding;

/// Everything a key can do in the normal mode of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    ApproveOnce,
    ApproveConversation,
    ApproveAlways,
    EditApprove,
    Reject,
    ToggleNotify,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    HalfPageDown,
    HalfPageUp,
    ScrollDetailDown,
    ScrollDetailUp,
    FocusDetail,
    FocusList,
    OpenDetail,
    Back,
    CopyId,
    CopyParams,
    NextTab,
    PrevTab,
    Filter,
    CycleSort,
    Revoke,
    Refresh,
    Help,
    Quit,
}

impl Action {
    /// Every action, in the order the help screen lists them.
    pub const ALL: [Action; 30] = [
        Action::ApproveOnce,
        Action::ApproveConversation,
        Action::ApproveAlways,
        Action::EditApprove,
        Action::Reject,
        Action::ToggleNotify,
        Action::Up,
        Action::Down,
        Action::Top,
        Action::Bottom,
        Action::PageUp,
        Action::PageDown,
        Action::HalfPageDown,
        Action::HalfPageUp,
        Action::ScrollDetailDown,
        Action::ScrollDetailUp,
        Action::FocusDetail,
        Action::FocusList,
        Action::OpenDetail,
        Action::Back,
        Action::CopyId,
        Action::CopyParams,
        Action::NextTab,
        Action::PrevTab,
        Action::Filter,
        Action::CycleSort,
        Action::Revoke,
        Action::Refresh,
        Action::Help,
        Action::Quit,
    ];

    /// The name used in `[console.keys]`.
    pub fn name(self) -> &'static str {
        match self {
            Action::ApproveOnce => "approve_once",
            Action::ApproveConversation => "approve_conversation",
            Action::ApproveAlways => "approve_always",
            Action::EditApprove => "edit_approve",
            Action::Reject => "reject",
            Action::ToggleNotify => "toggle_notify",
            Action::Up => "up",
            Action::Down => "down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::HalfPageDown => "half_page_down",
            Action::HalfPageUp => "half_page_up",
            Action::ScrollDetailDown => "scroll_detail_down",
            Action::ScrollDetailUp => "scroll_detail_up",
            Action::FocusDetail => "focus_detail",
            Action::FocusList => "focus_list",
            Action::OpenDetail => "open_detail",
            Action::Back => "back",
            Action::CopyId => "copy_id",
            Action::CopyParams => "copy_params",
            Action::NextTab => "next_tab",
            Action::PrevTab => "prev_tab",
            Action::Filter => "filter",
            Action::CycleSort => "cycle_sort",
            Action::Revoke => "revoke",
            Action::Refresh => "refresh",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// What the help screen says the action does.
    pub fn description(self) -> &'static str {
        match self {
            Action::ApproveOnce => "approve the selected request, this call only",
            Action::ApproveConversation => {
                "approve, and every call of this tool in the same conversation"
            }
            Action::ApproveAlways => "always approve this tool from this agent (asks first)",
            Action::EditApprove => {
                "edit the params in $VISUAL or $EDITOR, then approve the edit once (asks first)"
            }
            Action::Reject => "reject, with a one-line reason",
            Action::ToggleNotify => "toggle notify-agent for the decision on this request",
            Action::Up => "previous row (a detail with the keys: scroll up)",
            Action::Down => "next row (a detail with the keys: scroll down)",
            Action::Top => "first row (a detail with the keys: its top)",
            Action::Bottom => "last row (a detail with the keys: its end)",
            Action::PageUp => "up one page, in the list or a detail with the keys",
            Action::PageDown => "down one page, in the list or a detail with the keys",
            Action::HalfPageDown => "down half a page, in the list or a detail with the keys",
            Action::HalfPageUp => "up half a page, in the list or a detail with the keys",
            Action::ScrollDetailDown => "scroll the detail down one row",
            Action::ScrollDetailUp => "scroll the detail up one row",
            Action::FocusDetail => "give the keys to the detail pane (or open the detail view)",
            Action::FocusList => "give the keys back to the list",
            Action::OpenDetail => "open the detail view",
            Action::Back => "close the detail view, help or filter; give the list the keys",
            Action::CopyId => "copy the selected request's id (through the terminal, OSC 52)",
            Action::CopyParams => "copy the selected request's params as JSON (OSC 52)",
            Action::NextTab => "next tab (Pending, History, Grants)",
            Action::PrevTab => "previous tab",
            Action::Filter => "filter by tool, agent, reason and params",
            Action::CycleSort => "cycle the sort: age, risk, expiry",
            Action::Revoke => "revoke the selected grant (asks first)",
            Action::Refresh => "reload everything from the backend",
            Action::Help => "show every key",
            Action::Quit => "quit",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Action::ApproveOnce => &["a"],
            Action::ApproveConversation => &["c"],
            Action::ApproveAlways => &["A"],
            Action::EditApprove => &["e"],
            Action::Reject => &["r"],
            Action::ToggleNotify => &["n"],
            Action::Up => &["k", "up"],
            Action::Down => &["j", "down"],
            Action::Top => &["g", "home"],
            Action::Bottom => &["G", "end"],
            Action::PageUp => &["pageup"],
            Action::PageDown => &["pagedown"],
            Action::HalfPageDown => &["ctrl-d"],
            Action::HalfPageUp => &["ctrl-u"],
            Action::ScrollDetailDown => &["J"],
            Action::ScrollDetailUp => &["K"],
            Action::FocusDetail => &["l", "right"],
            Action::FocusList => &["h", "left"],
            Action::OpenDetail => &["enter"],
            Action::Back => &["esc"],
            Action::CopyId => &["y"],
            Action::CopyParams => &["Y"],
            Action::NextTab => &["tab"],
            Action::PrevTab => &["backtab"],
            Action::Filter => &["/"],
            Action::CycleSort => &["s"],
            Action::Revoke => &["d"],
            Action::Refresh => &["ctrl-r"],
            Action::Help => &["?"],
            Action::Quit => &["q", "ctrl-c"],
        }
    }
}

/// A key as the keymap sees it: a code and the modifiers that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalises a terminal key event: Shift is part of the character itself (`A`), so it
    /// is dropped from character keys; only Ctrl and Alt count.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            // Some terminals report Ctrl-letters in upper case.
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::ALT);
                KeyCode::BackTab
            }
            c => c,
        };
        Key { code, mods }
    }

    /// Parses `a`, `A`, `?`, `enter`, `ctrl-c`, `alt-x`, `pagedown`...
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            other => {
                let mut chars = other.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => {
                        if mods.contains(KeyModifiers::CONTROL) {
                            KeyCode::Char(c.to_ascii_lowercase())
                        } else {
                            KeyCode::Char(c)
                        }
                    }
                    _ => {
                        return Err(format!(
                            "'{s}' is not a key: use one character (\"a\", \"A\") or a name \
                             (enter, esc, tab, backtab, up, down, left, right, home, end, \
                             pageup, pagedown, space), optionally with ctrl- or alt-"
                        ));
                    }
                }
            }
        };
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    /// Bindings in help order: each action with its keys.
    bindings: Vec<(Action, Vec<Key>)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL
            .into_iter()
            .map(|a| {
                let keys = a
                    .default_keys()
                    .iter()
                    .filter_map(|k| Key::parse(k).ok())
                    .collect();
                (a, keys)
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with `[console.keys]` applied. A binding replaces every default key of
    /// its action. Unknown action names, unreadable keys and a key bound to two actions are
    /// refused, so a typo never leaves a decision key silently unbound.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyBinding>) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        for (name, binding) in overrides {
            let action = Action::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "[console.keys] {name}: no such action; actions are: {}",
                    names.join(", ")
                )
            })?;
            let mut keys = Vec::new();
            for k in binding.keys() {
                keys.push(Key::parse(k).map_err(|e| format!("[console.keys] {name}: {e}"))?);
            }
            if keys.is_empty() {
                return Err(format!("[console.keys] {name}: give at least one key"));
            }
            for (a, ks) in &mut map.bindings {
                if *a == action {
                    *ks = keys.clone();
                }
            }
        }
        let mut seen: Vec<(Key, Action)> = Vec::new();
        for (a, ks) in &map.bindings {
            for k in ks {
                if let Some((_, other)) = seen.iter().find(|(sk, _)| sk == k) {
                    return Err(format!(
                        "[console.keys]: key {k} is bound to both {} and {}; bind one of them \
                         to another key",
                        other.name(),
                        a.name()
                    ));
                }
                seen.push((*k, *a));
            }
        }
        Ok(map)
    }

    pub fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev);
        self.bindings
            .iter()
            .find(|(_, ks)| ks.contains(&key))
            .map(|(a, _)| *a)
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.bindings
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, ks)| ks.as_slice())
            .unwrap_or(&[])
    }

    /// The first key of an action as shown in the footer, e.g. `a`.
    pub fn label(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "(unbound)".to_owned())
    }

    /// Every key of an action, e.g. `k/↑`.
    pub fn labels(&self, action: Action) -> String {
        let ks: Vec<String> = self.keys(action).iter().map(|k| k.to_string()).collect();
        if ks.is_empty() {
            "(unbound)".to_owned()
        } else {
            ks.join("/")
        }
    }

    pub fn bindings(&self) -> &[(Action, Vec<Key>)] {
        &self.bindings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_follow_the_issue() {
        let km = Keymap::default();
        let cases = [
            (KeyCode::Char('a'), KeyModifiers::NONE, Action::ApproveOnce),
            (
                KeyCode::Char('c'),
                KeyModifiers::NONE,
                Action::ApproveConversation,
            ),
            (
                KeyCode::Char('A'),
                KeyModifiers::SHIFT,
                Action::ApproveAlways,
            ),
            (KeyCode::Char('r'), KeyModifiers::NONE, Action::Reject),
            (KeyCode::Char('n'), KeyModifiers::NONE, Action::ToggleNotify),
            (KeyCode::Char('j'), KeyModifiers::NONE, Action::Down),
            (KeyCode::Down, KeyModifiers::NONE, Action::Down),
            (KeyCode::Char('G'), KeyModifiers::SHIFT, Action::Bottom),
            (KeyCode::Tab, KeyModifiers::NONE, Action::NextTab),
            (KeyCode::Char('q'), KeyModifiers::NONE, Action::Quit),
            (KeyCode::Char('c'), KeyModifiers::CONTROL, Action::Quit),
            (KeyCode::Char('?'), KeyModifiers::SHIFT, Action::Help),
            (KeyCode::Char('y'), KeyModifiers::NONE, Action::CopyId),
            (KeyCode::Char('Y'), KeyModifiers::SHIFT, Action::CopyParams),
            (
                KeyCode::Char('d'),
                KeyModifiers::CONTROL,
                Action::HalfPageDown,
            ),
            (
                KeyCode::Char('u'),
                KeyModifiers::CONTROL,
                Action::HalfPageUp,
            ),
            (
                KeyCode::Char('J'),
                KeyModifiers::SHIFT,
                Action::ScrollDetailDown,
            ),
            (KeyCode::Right, KeyModifiers::NONE, Action::FocusDetail),
            (KeyCode::Char('h'), KeyModifiers::NONE, Action::FocusList),
            (KeyCode::PageDown, KeyModifiers::NONE, Action::PageDown),
        ];
        for (code, mods, want) in cases {
            assert_eq!(km.action_for(&ev(code, mods)), Some(want), "{code:?}");
        }
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn overrides_replace_the_defaults_of_that_action() {
        let mut o = BTreeMap::new();
        o.insert("approve_once".to_owned(), KeyBinding::One("o".into()));
        o.insert(
            "quit".to_owned(),
            KeyBinding::Many(vec!["x".into(), "ctrl-q".into()]),
        );
        let km = Keymap::with_overrides(&o).unwrap();
        let a = ev(KeyCode::Char('a'), KeyModifiers::NONE);
        assert_eq!(km.action_for(&a), None);
        let o_key = ev(KeyCode::Char('o'), KeyModifiers::NONE);
        assert_eq!(km.action_for(&o_key), Some(Action::ApproveOnce));
        let q = ev(KeyCode::Char('q'), KeyModifiers::CONTROL);
        assert_eq!(km.action_for(&q), Some(Action::Quit));
        assert_eq!(km.labels(Action::Quit), "x/Ctrl-q");
        assert_eq!(km.label(Action::ApproveOnce), "o");
    }

    #[test]
    fn bad_overrides_are_refused_plainly() {
        let mut o = BTreeMap::new();
        o.insert("approve_al".to_owned(), KeyBinding::One("x".into()));
        let err = Keymap::with_overrides(&o).unwrap_err();
        assert!(err.contains("no such action") && err.contains("approve_always"));

        let mut o = BTreeMap::new();
        o.insert("reject".to_owned(), KeyBinding::One("a".into()));
        let err = Keymap::with_overrides(&o).unwrap_err();
        assert!(err.contains("bound to both"), "{err}");

        let mut o = BTreeMap::new();
        o.insert("reject".to_owned(), KeyBinding::One("ctrl-enterr".into()));
        assert!(Keymap::with_overrides(&o).is_err());
    }

    #[test]
    fn every_documented_name_parses() {
        for name in [
            "approve_once",
            "approve_conversation",
            "approve_always",
            "reject",
            "toggle_notify",
            "filter",
            "cycle_sort",
            "help",
            "quit",
        ] {
            assert!(Action::parse(name).is_some(), "{name}");
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(a));
            assert!(!Keymap::default().keys(a).is_empty(), "{a:?} has no key");
        }
    }
}
