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

use super::model::{Mode, State, Tab};

pub fn draw(state: &State, frame: &mut Frame) {
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
    match &state.mode {
        Mode::Help { scroll } => help::draw(state, frame, frame.area(), *scroll),
        Mode::Confirm(c) => dialog::draw(state, frame, c),
        _ => {}
    }
}
