//! The header: backend, reviewer, connection state with the last error, and counts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use super::theme::Theme;
use crate::console::action::Conn;
use crate::console::model::{State, Tab};
use crate::console::text;
use crate::console::words::conn_words;
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, header: Rect, tabs: Rect) {
    let theme = Theme::new(state.no_color);
    let cols = usize::from(header.width);
    let who = match &state.me {
        Some(me) => format!("{} ({})", sanitize::line(&me.name), role(me.role)),
        None => "not signed in".to_owned(),
    };
    let (mode, error) = conn_words(&state.conn, state.now);
    let mode_style = match state.conn {
        Conn::Live => theme.ok(),
        Conn::Polling { .. } => theme.warn(),
        Conn::Connecting => theme.busy(),
        Conn::Retrying { .. } => theme.error(),
    };
    let backend = sanitize::line(&state.backend).into_owned();
    // Connection state first: on a narrow terminal it is the part that must show. What
    // follows is fitted to the columns left, so a cut value ends in "…", never mid-word.
    let mut left = cols.saturating_sub("assent ".len() + text::width(&mode));
    let mut spans = vec![
        Span::styled("assent ", theme.title()),
        Span::styled(mode, mode_style),
    ];
    for (part, cap) in [(who, 24), (backend, cols)] {
        if left <= 4 {
            break;
        }
        let shown = text::fit(&part, cap.min(left - 3));
        left = left.saturating_sub(3 + text::width(&shown));
        spans.push(Span::styled(" · ", theme.dim()));
        spans.push(Span::styled(shown, theme.base()));
    }
    let line1 = Line::from(spans);
    // Only what can still be decided counts as pending; rows that ended and are about to
    // leave are counted apart.
    let (queue, grants) = (state.queue(), state.grants());
    let pending = match queue.ended_count() {
        0 => format!("{} pending", queue.pending_count()),
        n => format!("{} pending, {n} ended", queue.pending_count()),
    };
    let counts = format!(
        "{pending}{} · {} grant{} · sort: {}",
        if queue.filter().is_empty() {
            String::new()
        } else {
            format!(
                " ({} shown, filter \"{}\")",
                queue.shown_len(),
                text::fit(&sanitize::line(queue.filter()), 20)
            )
        },
        grants.len(),
        if grants.len() == 1 { "" } else { "s" },
        queue.sort().as_str()
    );
    let line2 = match error {
        // The count stays in sight while offline: what waits is what matters.
        Some(e) => Line::styled(
            text::fit(
                &format!("{pending} · last error: {}", sanitize::line(&e)),
                cols,
            ),
            theme.error(),
        ),
        None => Line::styled(text::fit(&counts, cols), theme.dim()),
    };
    frame.render_widget(Paragraph::new(vec![line1, line2]), header);

    let titles: Vec<Line> = Tab::ALL
        .iter()
        .map(|t| {
            let n = match t {
                Tab::Pending => queue.pending_count().to_string(),
                // Capped: the backend holds more than the console keeps.
                Tab::History if state.history().more() => format!("{}+", state.history().len()),
                Tab::History => state.history().len().to_string(),
                Tab::Grants => grants.len().to_string(),
            };
            Line::from(format!("{} {n}", t.title()))
        })
        .collect();
    let selected = Tab::ALL.iter().position(|t| *t == state.tab).unwrap_or(0);
    let tabs_widget = Tabs::new(titles)
        .select(selected)
        .highlight_style(theme.selected())
        .divider("|");
    frame.render_widget(tabs_widget, tabs);
}

fn role(r: crate::protocol::Role) -> &'static str {
    match r {
        crate::protocol::Role::Agent => "agent",
        crate::protocol::Role::Reviewer => "reviewer",
        crate::protocol::Role::Admin => "admin",
    }
}
