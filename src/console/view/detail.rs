//! The detail pane or view of the selected request: its title, where it stands now, and
//! the rows of its detail text (built once, in the model) that are on screen. Changes
//! when how the detail is shown changes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme::Theme;
use crate::console::keymap::Action;
use crate::console::layout;
use crate::console::model::detail::{Kind, LABEL_WIDTH, Shown};
use crate::console::model::{Local, State, Tab};
use crate::console::text;
use crate::console::words::{
    ESCALATED_CUE, failed_words, no_longer_decidable, outcome_words, sending_words,
};
use crate::protocol::{ApprovalRequest, Status};
use crate::sanitize;

/// Draws the detail of the selected request into `pane` (a side pane or the whole view).
pub fn draw(state: &State, frame: &mut Frame, pane: Rect) {
    let theme = Theme::of(state);
    let cols = usize::from(pane.width);
    // The scroll position is drawn at the right end of the title row: the title leaves
    // room for it.
    let pos = state.detail().and_then(|cache| {
        let area = layout::detail_text(pane);
        let (total, height) = (cache.rows(cols), usize::from(area.height));
        (total > height && area.height > 0).then(|| {
            let scroll = state.detail_scroll.min(total.saturating_sub(height));
            format!(
                " {}-{}/{} ",
                scroll + 1,
                (scroll + height).min(total),
                total
            )
        })
    });
    let title = match state.detail_request() {
        Some(r) => {
            let reserve = pos.as_deref().map_or(0, text::width);
            title(&r.tool, &r.agent, cols.saturating_sub(reserve))
        }
        None => " Detail ".to_owned(),
    };
    // A pane that has the keys says so: its title reversed, as a selected row is.
    let title_style = if state.detail_focused() {
        theme.title().patch(theme.selected())
    } else {
        theme.title()
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, title_style));
    frame.render_widget(block, pane);

    let (Some(req), Some(cache)) = (state.detail_request(), state.detail()) else {
        let msg = Paragraph::new(Line::styled("nothing selected", theme.dim()));
        frame.render_widget(msg, layout::detail_text(pane));
        return;
    };

    let fixed = Rect {
        y: pane.y.saturating_add(1),
        height: pane
            .height
            .saturating_sub(1)
            .min(layout::DETAIL_FIXED_ROWS - 1),
        ..pane
    };
    let mut status_lines = vec![live_status(state, req, &theme, cols)];
    if req.status == Status::Pending && state.tab == Tab::Pending {
        let notify = state
            .queue()
            .selected()
            .filter(|e| e.req().id == req.id)
            .is_some_and(|e| e.notify());
        status_lines.push(Line::from(vec![
            Span::styled("notify agent: ", theme.label()),
            Span::styled(
                if notify { "on" } else { "off" },
                if notify { theme.warn() } else { theme.dim() },
            ),
            Span::styled(
                format!(" ({} toggles)", state.keymap.label(Action::ToggleNotify)),
                theme.dim(),
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(status_lines), fixed);

    let area = layout::detail_text(pane);
    let (total, height) = (cache.rows(cols), usize::from(area.height));
    let scroll = state.detail_scroll.min(total.saturating_sub(height));
    let rows = cache.visible(cols, scroll, height);
    let lines: Vec<Line> = rows.into_iter().map(|r| row(r, &theme)).collect();
    frame.render_widget(Paragraph::new(lines), area);
    if let Some(pos) = pos {
        let w = text::width(&pos) as u16;
        if w < pane.width {
            let r = Rect {
                x: pane.x + pane.width - w,
                y: pane.y,
                width: w,
                height: 1,
            };
            frame.render_widget(Paragraph::new(Span::styled(pos, theme.dim())), r);
        }
    }
}

/// One wrapped row of the detail text: a field's label (on its first row) in the label
/// style, continuation rows indented.
fn row<'a>(r: Shown<'a>, theme: &Theme) -> Line<'a> {
    let mut spans = Vec::with_capacity(3);
    if r.indent > 0 {
        spans.push(Span::raw(" ".repeat(r.indent)));
    }
    match r.kind {
        Kind::Field if r.first => {
            // Labels are ASCII: the label is the row's first LABEL_WIDTH bytes, or all of
            // it when the value went on to a row of its own.
            let at = LABEL_WIDTH.min(r.text.len());
            let (l, v) = r
                .text
                .split_at(if r.text.is_char_boundary(at) { at } else { 0 });
            spans.push(Span::styled(l, theme.label()));
            spans.push(Span::raw(v));
        }
        Kind::Field => spans.push(Span::raw(r.text)),
        Kind::Heading => spans.push(Span::styled(r.text, theme.title())),
        Kind::Json => spans.push(Span::styled(r.text, theme.json())),
    }
    Line::from(spans)
}

/// ` TOOL · AGENT ` in `cols` columns: both names always show, each cut with `…` when
/// they do not fit together (the agent may take up to half of the room).
fn title(tool: &str, agent: &str, cols: usize) -> String {
    let (tool, agent) = (sanitize::line(tool), sanitize::line(agent));
    let room = cols.saturating_sub(5);
    let (tw, aw) = (text::width(&tool), text::width(&agent));
    let (tool_w, agent_w) = if tw + aw <= room {
        (tw, aw)
    } else {
        let agent_w = aw.min((room / 2).max(room.saturating_sub(tw)));
        (room - agent_w, agent_w)
    };
    format!(
        " {} · {} ",
        text::fit(&tool, tool_w),
        text::fit(&agent, agent_w)
    )
}

/// The first status line: where the request stands right now.
fn live_status<'a>(state: &State, req: &ApprovalRequest, theme: &Theme, cols: usize) -> Line<'a> {
    let entry = state
        .queue()
        .selected()
        .filter(|e| state.tab == Tab::Pending && e.req().id == req.id);
    let (text, style) = match entry.map(|e| e.local()) {
        Some(Local::Sending { verdict, scope }) => (sending_words(*verdict, *scope), theme.busy()),
        Some(Local::Failed { error, unknown }) => (
            failed_words(error, *unknown, &state.keymap.label(Action::Refresh)),
            theme.error(),
        ),
        Some(Local::Ended { note, .. }) => (no_longer_decidable(note), theme.warn()),
        _ if req.status == Status::Pending => {
            let mut s = format!("pending for {}", text::age(req.created_at, state.now));
            match req.expires_at {
                Some(e) => match text::left(e, state.now) {
                    Some(l) => s.push_str(&format!(", expires in {}", text::short_duration(l))),
                    // The backend's clock decides; until it says, this can be decided.
                    None => s.push_str(", expiring (waiting for the backend)"),
                },
                None => s.push_str(", no expiry"),
            }
            if req.is_escalated() {
                (format!("{ESCALATED_CUE}: {s}"), theme.warn())
            } else {
                (s, theme.base())
            }
        }
        _ => (outcome_words(req), theme.dim()),
    };
    Line::styled(text::fit(&text, cols), style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_cuts_both_names_visibly_and_fits() {
        let t = title("order_tools.process_refund", "order-manager", 48);
        assert_eq!(t, " order_tools.process_refund · order-manager ");
        let long_tool = "x".repeat(240);
        let t = title(&long_tool, "order-manager", 40);
        assert!(text::width(&t) <= 40, "{t}");
        assert!(t.contains("· order-manager "), "{t}");
        let t = title(&long_tool, &"agent-".repeat(20), 40);
        assert!(text::width(&t) <= 40, "{t}");
        assert_eq!(t.matches('…').count(), 2, "{t}");
        assert!(t.contains("· agent-"), "{t}");
    }
}
