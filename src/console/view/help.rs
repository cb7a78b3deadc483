//! The `?` screen: every action with its keys and what it does, straight from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
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
        "Enter / Esc".to_owned(),
        "in the reason or filter input: send / cancel",
    ));
    v
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect, scroll: usize) {
    let theme = Theme::new(state.no_color);
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Keys (any other key closes) ", theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let entries = lines(state);
    let keyw = entries
        .iter()
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(0)
        .min(usize::from(inner.width) / 2);
    let descw = usize::from(inner.width).saturating_sub(keyw + 2);
    let max_scroll = entries.len().saturating_sub(usize::from(inner.height));
    let out: Vec<Line> = entries
        .iter()
        .skip(scroll.min(max_scroll))
        .map(|(k, d)| {
            let k = text::fit(k, keyw);
            let pad = keyw.saturating_sub(text::width(&k));
            Line::from(vec![
                Span::styled(format!("{k}{}  ", " ".repeat(pad)), theme.key()),
                Span::raw(text::fit(d, descw)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(out), inner);
}
