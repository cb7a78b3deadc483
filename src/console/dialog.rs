//! Confirmation of the dangerous: a box that names exactly what `y` will do.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::state::{Confirm, State};
use super::theme::Theme;
use crate::sanitize;

/// The question, in words: what `y` will do.
pub fn question(state: &State, c: &Confirm) -> (String, String) {
    match c {
        Confirm::Always { id } => {
            let (tool, agent) = state
                .entries
                .get(id)
                .map(|e| {
                    (
                        sanitize::line(&e.req.tool).into_owned(),
                        sanitize::line(&e.req.agent).into_owned(),
                    )
                })
                .unwrap_or_default();
            (
                " Always approve? ".to_owned(),
                format!(
                    "every future `{tool}` call from `{agent}`\nwill be approved without asking (this one included)."
                ),
            )
        }
        Confirm::Revoke { grant_id } => {
            let what = state
                .grants
                .iter()
                .find(|g| &g.id == grant_id)
                .map(|g| {
                    let scope = match &g.conversation_id {
                        Some(c) => format!("in conversation `{}`", sanitize::line(c)),
                        None => "in every conversation".to_owned(),
                    };
                    format!(
                        "`{}` calls from `{}` {scope}\nwill need approval again.",
                        sanitize::line(&g.tool),
                        sanitize::line(&g.agent)
                    )
                })
                .unwrap_or_else(|| "This grant will stop applying.".to_owned());
            (" Revoke grant? ".to_owned(), what)
        }
    }
}

pub fn draw(state: &State, frame: &mut Frame, c: &Confirm) {
    let theme = Theme::new(state.no_color);
    let area = frame.area();
    let w = area.width.min(72);
    let h = area.height.min(8);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    let (title, q) = question(state, c);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warn())
        .title(Span::styled(title, theme.warn()));
    let mut text: Vec<Line> = q.lines().map(|l| Line::raw(l.to_owned())).collect();
    text.extend([
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" confirms, any other key cancels"),
        ]),
    ]);
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        r,
    );
}
