//! Draws the whole screen from the state. Read-only: views take `&State` and never change
//! it. This file composes the parts; it changes when the screen's parts change.

pub mod detail;
pub mod dialog;
pub mod footer;
pub mod grants;
pub mod header;
pub mod help;
pub mod history;
pub mod queue;
pub mod table;
pub mod theme;

use ratatui::Frame;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::keymap::Keymap;
use super::layout;
use super::model::{Drawn, Level, Mode, State, Tab};
use super::words::too_small;
use theme::Theme;

/// Rows every screen spends around the list (header 2, tabs 1, status 1, keys 1: the
/// fixed rows of `layout::areas`).
const FIXED_ROWS: u16 = 5;
/// Rows the list needs to show one request: its header and the selected row.
const LIST_MIN_ROWS: u16 = 2;
/// Columns the selected row needs for its age and its tool: AGE (4), a space, the narrow
/// TOOL column (14), a space, and a start of the summary.
const ROW_MIN_COLS: u16 = 24;

/// The smallest terminal that shows the selected row with its tool, and the decision keys
/// with the notify state in the footer: 30×7 with the default keys (the footer's
/// `a c A r decide  n notify:off` is the widest part). Below it the console shows only
/// that it is too small, and decides nothing.
pub fn min_size(keymap: &Keymap) -> (u16, u16) {
    let keys = u16::try_from(footer::decision_keys_width(keymap)).unwrap_or(u16::MAX);
    (keys.max(ROW_MIN_COLS), FIXED_ROWS + LIST_MIN_ROWS)
}

/// Draws the screen; says what it showed that a decision may rest on.
pub fn draw(state: &State, frame: &mut Frame) -> Drawn {
    let area = frame.area();
    let (w, h) = min_size(&state.keymap);
    if area.width < w || area.height < h {
        draw_too_small(state, frame, w, h);
        return Drawn::default();
    }
    let a = state.areas();
    header::draw(state, frame, a.header, a.tabs);
    if !state.mode.is_detail() {
        match state.tab {
            Tab::Pending => queue::draw(state, frame, a.list),
            Tab::History => history::draw(state, frame, a.list),
            Tab::Grants => grants::draw(state, frame, a.list),
        }
    }
    if let Some(pane) = a.detail {
        detail::draw(state, frame, pane);
    }
    footer::draw(state, frame, a.status, a.keys);
    let mut drawn = Drawn::default();
    if state.tab == Tab::Pending && state.queue().selected_index().is_some() {
        // The list's rows scroll so the cursor's row is always among those shown
        // (`table::draw`); the detail view's title names the tool.
        let shown = match &state.mode {
            Mode::Detail => a.detail.is_some_and(|d| d.height > 0),
            Mode::Normal | Mode::Filter { .. } | Mode::Reason { .. } => {
                layout::list_rows(a.list) >= 1
            }
            // Drawn over the list.
            Mode::Help { .. } | Mode::Confirm(_) => false,
        };
        if shown {
            drawn.selected = state.queue().selected_id().map(str::to_owned);
            drawn.params = drawn
                .selected
                .as_deref()
                .is_some_and(|id| state.params_held(id));
        }
    }
    drawn.asked = match &state.mode {
        Mode::Help { scroll } => {
            help::draw(state, frame, frame.area(), *scroll);
            None
        }
        Mode::Confirm(c) => dialog::draw(state, frame, c).then(|| c.subject().to_owned()),
        // The prompt applies to the request whose row it was drawn under.
        Mode::Reason { id, .. } => (drawn.selected.as_ref() == Some(id)).then(|| id.clone()),
        _ => None,
    };
    drawn
}

/// The screen of a terminal too small to show what a decision would act on: what size is
/// needed, and the last message (a refused key says why nothing happened).
fn draw_too_small(state: &State, frame: &mut Frame, w: u16, h: u16) {
    let theme = Theme::new(state.no_color);
    let mut lines = vec![Line::styled(too_small(w, h), theme.warn())];
    if let Some(m) = &state.message {
        let style = match m.level {
            Level::Info => theme.ok(),
            Level::Warn => theme.warn(),
            Level::Error => theme.error(),
        };
        lines.push(Line::styled(m.text.clone(), style));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }),
        frame.area(),
    );
}
