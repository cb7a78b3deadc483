//! The Pending tab: one row per pending request.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::table::{self, Cell, Col};
use super::theme::Theme;
use crate::console::keymap::Action;
use crate::console::model::{Entry, Local, State};
use crate::console::text;
use crate::console::words::{failed_words, sending_words};
use crate::protocol::Risk;
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = Theme::new(state.no_color);
    let queue = state.queue();
    if queue.shown_len() == 0 {
        let msg = if queue.is_empty() {
            if state.loaded {
                "No pending requests. New ones appear here as agents file them."
            } else {
                "Loading the pending requests…"
            }
        } else {
            "No pending request matches the filter (Esc clears it)."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, theme.dim()))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let w = usize::from(area.width);
    // The reason shows from 70 columns (a side pane leaves the queue about 72 at 120
    // wide): below 100 the fixed columns are compact so PARAMS and REASON share the rest.
    let wide = w >= 100;
    let with_reason = w >= 70;
    let medium = w >= 60;
    let col = |title, width| Col { title, width };
    let tool_w = match (wide, medium) {
        (true, _) => 24,
        (false, true) => 18,
        (false, false) => 14,
    };
    let mut cols = vec![col("AGE", 4), col("TOOL", tool_w)];
    if medium {
        cols.push(col("AGENT", if wide { 14 } else { 11 }));
    }
    cols.push(col("PARAMS", 0));
    if with_reason {
        cols.push(col("REASON", 0));
    }
    if medium {
        cols.push(col("RISK", if wide { 8 } else { 4 }));
    }
    cols.push(col("LEFT", if wide { 5 } else { 4 }));

    let refresh = state.keymap.label(Action::Refresh);
    let row_of = |e: &Entry| -> Vec<Cell> {
        let r = e.req();
        let left = r.expires_at.and_then(|x| text::left(x, state.now));
        let left_text = match (r.expires_at, left) {
            (None, _) => "—".to_owned(),
            (Some(_), None) => "0s".to_owned(),
            (Some(_), Some(s)) => text::short_duration(s),
        };
        let (summary, sstyle) = match e.local() {
            // Still decidable: the backend, not this clock, says when it expired.
            Local::Idle if e.expiring(state.now) => {
                (format!("expiring… {}", e.summary()), theme.warn())
            }
            Local::Idle => (e.summary().to_owned(), theme.base()),
            Local::Sending { verdict, scope } => (sending_words(*verdict, *scope), theme.busy()),
            Local::Failed { error, unknown } => (
                format!(
                    "{} {}",
                    if *unknown { "?" } else { "!" },
                    failed_words(error, *unknown, &refresh)
                ),
                theme.error(),
            ),
            Local::Ended { note, .. } => (format!("✗ {note}"), theme.warn()),
        };
        let ended = e.local().is_ended();
        let base = if ended { theme.ended() } else { theme.base() };
        let mut row: Vec<Cell> = vec![
            (text::age(r.created_at, state.now), base),
            (sanitize::line(&r.tool).into_owned(), base),
        ];
        if medium {
            row.push((sanitize::line(&r.agent).into_owned(), base));
        }
        row.push((summary, sstyle));
        if with_reason {
            let mut reason = r
                .reason
                .as_deref()
                .map(sanitize::line)
                .unwrap_or_default()
                .into_owned();
            // The rule that held the call for a human comes first, so a narrow column
            // still shows it; its message is in the detail, under the reason.
            if let Some(p) = &r.policy {
                let rule = p.rule.as_deref().unwrap_or("default");
                reason = format!("[{}] {reason}", sanitize::line(rule));
            }
            row.push((reason, theme.dim()));
        }
        if medium {
            let risk = match (r.risk, wide) {
                (None, _) => "—",
                (Some(x), true) => x.as_str(),
                (Some(x), false) => short_risk(x),
            };
            row.push((risk.to_owned(), theme.risk(r.risk)));
        }
        row.push((
            left_text,
            theme.expiry(r.expires_at.map(|_| left.unwrap_or(0))),
        ));
        row
    };
    // Only the rows on screen are looked up and laid out.
    table::draw(
        frame,
        area,
        &cols,
        queue.shown_len(),
        |k| queue.shown(k).map(row_of),
        queue.selected_index(),
        theme.label(),
        theme.selected(),
    );
}

/// A risk in four columns.
fn short_risk(r: Risk) -> &'static str {
    match r {
        Risk::Low => "low",
        Risk::Medium => "med",
        Risk::High => "high",
        Risk::Critical => "crit",
    }
}
