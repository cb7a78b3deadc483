//! The Grants tab: active conversation and always grants; revoked with `d` after a
//! confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::state::State;
use super::table::{self, Cell, Col};
use super::text;
use super::theme::Theme;
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = Theme::new(state.no_color);
    if state.grants.is_empty() {
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
    let mut cols = vec![
        Col {
            title: "SCOPE",
            width: 12,
        },
        Col {
            title: "TOOL",
            width: 0,
        },
        Col {
            title: "AGENT",
            width: 14,
        },
    ];
    if medium {
        cols.push(Col {
            title: "CONVERSATION",
            width: 0,
        });
        cols.push(Col {
            title: "BY",
            width: 12,
        });
        cols.push(Col {
            title: "AGE",
            width: 4,
        });
    }
    let row_of = |g: &crate::protocol::Grant| -> Vec<Cell> {
        let mut row: Vec<Cell> = vec![
            (g.scope.to_string(), theme.warn()),
            (sanitize::line(&g.tool).into_owned(), theme.base()),
            (sanitize::line(&g.agent).into_owned(), theme.base()),
        ];
        if medium {
            let conv = g
                .conversation_id
                .as_deref()
                .map(|c| sanitize::line(c).into_owned())
                .unwrap_or_else(|| "(every conversation)".into());
            row.push((conv, theme.base()));
            row.push((sanitize::line(&g.created_by).into_owned(), theme.base()));
            row.push((text::age(g.created_at, state.now), theme.base()));
        }
        row
    };
    table::draw(
        frame,
        area,
        &cols,
        state.grants.len(),
        |k| state.grants.get(k).map(row_of),
        state.grant_selected_index(),
        theme.label(),
        theme.selected(),
    );
}
