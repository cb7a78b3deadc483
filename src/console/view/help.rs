//! The `?` screen: every action with its keys and what it does, straight from the keymap.
//! Descriptions wrap at word boundaries (a phone's 50 columns cut none of them); the
//! title says which keys close it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use crate::console::keymap::Action;
use crate::console::model::State;
use crate::console::text;

pub fn lines(state: &State) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = state
        .keymap
        .bindings()
        .iter()
        .map(|(a, _)| (state.keymap.labels(*a), a.description()))
        .collect();
    v.push((
        "y".to_owned(),
        "in a confirmation: confirm (any other key cancels)",
    ));
    v.push((
        "1 / 8".to_owned(),
        "in a grant's confirmation: confirm, the grant lasting 1 h / 8 h (y: until revoked)",
    ));
    v.push((
        "Enter / Esc".to_owned(),
        "in the reason or filter input: send / cancel",
    ));
    v
}

/// The help's title: the keys that close it.
fn title(state: &State) -> String {
    format!(
        " {} or {} closes this help ",
        state.keymap.label(Action::Help),
        state.keymap.label(Action::Back)
    )
}

/// Where the help's rows go on a screen `area`: inside its border.
fn inner(area: Rect) -> Rect {
    Block::default().borders(Borders::ALL).inner(area)
}

/// The help's rows at `cols` columns: a key (on the first row of its entry) and a piece
/// of its description.
fn rows(state: &State, cols: usize) -> Vec<(String, String)> {
    let entries = lines(state);
    let keyw = key_width(&entries, cols);
    let descw = cols.saturating_sub(keyw + 2).max(1);
    let mut out = Vec::new();
    for (k, d) in &entries {
        for (i, r) in text::wrap(d, descw, 0).enumerate() {
            let key = if i == 0 { k.clone() } else { String::new() };
            out.push((key, d[r.start..r.end].to_owned()));
        }
    }
    out
}

fn key_width(entries: &[(String, &str)], cols: usize) -> usize {
    entries
        .iter()
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(0)
        .min(cols / 2)
}

/// Rows the help shows at once on this screen.
pub fn page(state: &State) -> usize {
    usize::from(inner(state.area()).height)
}

/// How far the help scrolls on this screen.
pub fn max_scroll(state: &State) -> usize {
    let cols = usize::from(inner(state.area()).width);
    rows(state, cols).len().saturating_sub(page(state))
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect, scroll: usize) {
    let theme = Theme::of(state);
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title(state), theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cols = usize::from(inner.width);
    let keyw = key_width(&lines(state), cols);
    let rows = rows(state, cols);
    let max_scroll = rows.len().saturating_sub(usize::from(inner.height));
    let out: Vec<Line> = rows
        .iter()
        .skip(scroll.min(max_scroll))
        .take(usize::from(inner.height))
        .map(|(k, d)| {
            let k = text::fit(k, keyw);
            let pad = keyw.saturating_sub(text::width(&k));
            Line::from(vec![
                Span::styled(format!("{k}{}  ", " ".repeat(pad)), theme.key()),
                Span::raw(d.clone()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(out), inner);
}
