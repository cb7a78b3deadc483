//! The History tab: decided, expired and cancelled requests, newest first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::table::{self, Cell, Col};
use super::theme::Theme;
use crate::console::model::State;
use crate::console::text;
use crate::console::words;
use crate::protocol::{ApprovalRequest, Outcome, Scope, Status};
use crate::sanitize;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = Theme::new(state.no_color);
    let history = state.history();
    if history.shown_len() == 0 {
        let msg = if history.is_empty() {
            "No decided, expired or cancelled requests yet."
        } else {
            "No request in the history matches the filter (Esc clears it)."
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.dim())), area);
        return;
    }
    let w = usize::from(area.width);
    // What the issue asks of the History tab (responder, scope, reason, notify flag) shows
    // from 70 columns, in compact widths; the policy rule and roomier columns from 110.
    let wide = w >= 110;
    let compact = w >= 70;
    let col = |title, width| Col { title, width };
    let mut cols = vec![col("WHEN", 4), col("STATUS", 9)];
    if compact {
        cols.push(col("SCOPE", if wide { 12 } else { 6 }));
    }
    cols.push(col("TOOL", 0));
    if compact {
        cols.push(col("AGENT", if wide { 14 } else { 10 }));
    }
    cols.push(col("BY", if wide { 12 } else { 8 }));
    if compact {
        cols.push(col("NOTIFY", 6));
    }
    if wide {
        cols.push(col("POLICY", 18));
    }
    if compact {
        cols.push(col("REASON", 0));
    }
    let row_of = |r: &ApprovalRequest| -> Vec<Cell> {
        let d = r.decision.as_deref();
        let when = history.when(r);
        let audited = r.policy.as_ref().is_some_and(|p| p.needs_review());
        let style = match (r.status, d.map(|d| d.outcome)) {
            _ if audited => theme.warn(),
            (_, Some(Outcome::Approved)) => theme.ok(),
            (_, Some(Outcome::Rejected)) => theme.error(),
            (Status::Expired | Status::Cancelled, _) => theme.dim(),
            _ => theme.base(),
        };
        let mut row: Vec<Cell> = vec![
            (text::age(when, state.now), theme.base()),
            (r.status.to_string(), style),
        ];
        if compact {
            // A rejection is for this call only: its scope says nothing.
            let scope = match d {
                Some(d) if d.outcome == Outcome::Approved => match (d.scope, wide) {
                    (Scope::Conversation, false) => "conv",
                    (s, _) => s.as_str(),
                },
                _ => "—",
            };
            row.push((scope.to_owned(), theme.base()));
        }
        row.push((sanitize::line(&r.tool).into_owned(), theme.base()));
        if compact {
            row.push((sanitize::line(&r.agent).into_owned(), theme.base()));
        }
        // Who or what decided: a grant's approvals are never shown as its creator's.
        let by = d.map(words::by_words);
        row.push((by.unwrap_or_else(|| "—".into()), theme.base()));
        if compact {
            let notify = d.map_or("—", |d| if d.notify_agent { "yes" } else { "no" });
            row.push((notify.to_owned(), theme.base()));
        }
        if wide {
            // `audit` calls were let through unseen: flag them for the review they await.
            let policy = match &r.policy {
                Some(p) if p.needs_review() => (
                    format!(
                        "audit {}",
                        sanitize::line(p.rule.as_deref().unwrap_or("default"))
                    ),
                    theme.warn(),
                ),
                Some(p) => (
                    sanitize::line(p.rule.as_deref().unwrap_or("default")).into_owned(),
                    theme.base(),
                ),
                None => ("—".to_owned(), theme.dim()),
            };
            row.push(policy);
        }
        if compact {
            let reason = d
                .and_then(|d| d.reason.as_deref())
                .map(|s| sanitize::line(s).into_owned())
                .unwrap_or_default();
            row.push((reason, theme.dim()));
        }
        row
    };
    table::draw(
        frame,
        area,
        &cols,
        history.shown_len(),
        |k| history.shown(k).map(row_of),
        history.selected_index(),
        theme.label(),
        theme.selected(),
    );
}
