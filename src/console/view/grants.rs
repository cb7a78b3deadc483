//! The Grants tab: active conversation and always grants; revoked with `d` after a
//! confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::table::{self, Cell, Col};
use super::theme::Theme;
use crate::console::model::State;
use crate::console::text;
use crate::protocol::{Grant, Scope};
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = Theme::new(state.no_color);
    let grants = state.grants();
    if grants.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "No active grants. Approving for a conversation or always creates one.",
                theme.dim(),
            ))
            .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let medium = area.width >= 60;
    // The conversation is what tells two conversation grants on one tool apart: it keeps
    // a (narrow) column at any width, cut in the middle so both ends of the id show.
    let col = |title, width| Col { title, width };
    let mut cols = vec![
        col("SCOPE", if medium { 12 } else { 6 }),
        col("TOOL", 0),
        col("AGENT", if medium { 14 } else { 9 }),
        col(if medium { "CONVERSATION" } else { "CONV" }, 0),
    ];
    // When it ends: a grant that ended by itself stays in sight, said so, until the
    // list is read again.
    if medium {
        cols.push(col("ENDS", 14));
        cols.push(col("BY", 12));
        cols.push(col("AGE", 4));
    }
    let conv_w = table::widths(&cols, usize::from(area.width))
        .get(3)
        .copied()
        .unwrap_or(0);
    let row_of = |g: &Grant| -> Vec<Cell> {
        let scope = match (g.scope, medium) {
            (Scope::Conversation, false) => "conv".to_owned(),
            (s, _) => s.to_string(),
        };
        let conv = match g.conversation_id.as_deref() {
            Some(c) => text::fit_middle(&sanitize::line(c), conv_w),
            None if medium => "(every conversation)".to_owned(),
            None => "(all)".to_owned(),
        };
        let mut row: Vec<Cell> = vec![
            (scope, theme.warn()),
            (sanitize::line(&g.tool).into_owned(), theme.base()),
            (sanitize::line(&g.agent).into_owned(), theme.base()),
            (conv, theme.base()),
        ];

        if medium {
            let ends = crate::text::grant_ends(g, state.now);
            let ends_style = if g.has_ended(state.now) {
                theme.warn()
            } else {
                theme.base()
            };
            row.push((ends, ends_style));
            row.push((sanitize::line(&g.created_by).into_owned(), theme.base()));
            row.push((text::age(g.created_at, state.now), theme.base()));
        }
        row
    };
    table::draw(
        frame,
        area,
        &cols,
        grants.len(),
        |k| grants.get(k).map(row_of),
        grants.selected_index(),
        theme.label(),
        theme.selected(),
    );
}
