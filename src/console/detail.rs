//! The detail of one request: every id, reason, risk, times, args hash and the full
//! parameters as pretty-printed JSON. The text is built once per request (a 1 MB blob is
//! pretty-printed and sanitised once, not per frame) and only the visible rows are drawn.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::layout;
use super::state::{Local, State, Tab, ended_sentence, failed_words, outcome_words};
use super::text;
use super::theme::Theme;
use crate::protocol::{ApprovalRequest, Status};
use crate::sanitize;

const LABEL_WIDTH: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `label` + value; the first `LABEL_WIDTH` columns are the label.
    Field,
    Heading,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailLine {
    pub text: String,
    pub kind: Kind,
    /// ASCII without a backslash: wrapped rows are plain slices of `cols` bytes.
    pub ascii: bool,
    /// Display width, and whether no character is wider than one column: then the row
    /// count at any width is a division, not a walk over the text.
    width: usize,
    narrow: bool,
}

impl DetailLine {
    fn new(text: String, kind: Kind) -> DetailLine {
        // A backslash may start an escape that wrapping keeps whole: then rows are not
        // a plain division of the length.
        let ascii = text.is_ascii() && !text.contains('\\');
        let (width, narrow) = if ascii {
            (text.len(), true)
        } else {
            let narrow = !text.contains('\\')
                && text
                    .chars()
                    .all(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) <= 1);
            (text::width(&text), narrow)
        };
        DetailLine {
            text,
            kind,
            ascii,
            width,
            narrow,
        }
    }

    fn rows(&self, cols: usize) -> usize {
        if self.narrow {
            self.width.div_ceil(cols.max(1)).max(1)
        } else {
            text::wrapped_rows(&self.text, self.ascii, cols)
        }
    }
}

/// The sanitised, pretty-printed text of one request's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailCache {
    pub id: String,
    pub status: Status,
    pub lines: Vec<DetailLine>,
}

fn field(lines: &mut Vec<DetailLine>, label: &str, value: &str) {
    lines.push(DetailLine::new(
        format!("{label:<LABEL_WIDTH$}{}", sanitize::line(value)),
        Kind::Field,
    ));
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl DetailCache {
    /// What matters for the decision comes first (tool, agent, conversation, reason, risk,
    /// expiry, then the parameters); identifiers and the args hash follow the parameters.
    pub fn build(req: &ApprovalRequest) -> DetailCache {
        let mut lines = Vec::new();
        let none = "—";
        if req.status.is_final() {
            lines.push(DetailLine::new(
                format!("{:<LABEL_WIDTH$}{}", "status", outcome_words(req)),
                Kind::Field,
            ));
            if let Some(d) = &req.decision {
                field(&mut lines, "decided", &time(d.decided_at));
                field(
                    &mut lines,
                    "notify agent",
                    if d.notify_agent { "yes" } else { "no" },
                );
            }
        }
        field(&mut lines, "tool", &req.tool);
        field(&mut lines, "agent", &req.agent);
        field(
            &mut lines,
            "conversation",
            req.conversation_id.as_deref().unwrap_or(none),
        );
        match req.reason.as_deref() {
            Some(r) if !r.is_empty() => {
                let mut first = true;
                for l in sanitize::block(r).lines() {
                    let label = if first { "reason" } else { "" };
                    first = false;
                    lines.push(DetailLine::new(
                        format!("{label:<LABEL_WIDTH$}{l}"),
                        Kind::Field,
                    ));
                }
            }
            _ => field(&mut lines, "reason", none),
        }
        if let Some(p) = &req.policy {
            let mut words = p.describe();
            if p.needs_review() {
                words.push_str(" (let through without a person: review it)");
            }
            field(&mut lines, "policy", &words);
            if let Some(e) = &p.error {
                field(&mut lines, "policy note", e);
            }
        }
        field(&mut lines, "risk", req.risk.map_or(none, |r| r.as_str()));
        field(
            &mut lines,
            "expires",
            &req.expires_at.map_or_else(|| "never".to_owned(), time),
        );
        let pretty = serde_json::to_string_pretty(&req.params).unwrap_or_default();
        lines.push(DetailLine::new(
            format!("params ({} bytes)", pretty.len()),
            Kind::Heading,
        ));
        for l in sanitize::block(&pretty).lines() {
            lines.push(DetailLine::new(l.to_owned(), Kind::Json));
        }
        lines.push(DetailLine::new(String::new(), Kind::Heading));
        field(&mut lines, "request", &req.id);
        field(&mut lines, "run", req.run_id.as_deref().unwrap_or(none));
        field(
            &mut lines,
            "tool call",
            req.tool_call_id.as_deref().unwrap_or(none),
        );
        field(&mut lines, "filed by", &req.filed_by);
        field(&mut lines, "created", &time(req.created_at));
        field(&mut lines, "args hash", &req.args_hash);
        DetailCache {
            id: req.id.clone(),
            status: req.status,
            lines,
        }
    }

    /// Rows the text takes when wrapped at `cols` columns.
    pub fn rows(&self, cols: usize) -> usize {
        self.lines.iter().map(|l| l.rows(cols)).sum()
    }

    /// The wrapped rows `skip..skip+take`, with their kind and whether each is the first
    /// row of its line. Walks line lengths to find the start, so cost is independent of
    /// how much text lies above the view.
    pub fn visible(&self, cols: usize, skip: usize, take: usize) -> Vec<(&str, Kind, bool)> {
        let mut out = Vec::with_capacity(take);
        let mut row = 0;
        for l in &self.lines {
            if out.len() >= take {
                break;
            }
            let n = l.rows(cols);
            if row + n <= skip {
                row += n;
                continue;
            }
            let from = skip.saturating_sub(row);
            let want = take - out.len();
            for (i, s) in text::wrapped_slice(&l.text, l.ascii, cols, from, want)
                .into_iter()
                .enumerate()
            {
                out.push((s, l.kind, from + i == 0));
            }
            row += n;
        }
        out
    }
}

/// Draws the detail of the selected request into `pane` (a side pane or the whole view).
pub fn draw(state: &State, frame: &mut Frame, pane: Rect) {
    let theme = Theme::new(state.no_color);
    let cols = usize::from(pane.width);
    // The scroll position is drawn at the right end of the title row: the title leaves
    // room for it.
    let pos = state.detail.as_ref().and_then(|cache| {
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
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, theme.title()));
    frame.render_widget(block, pane);

    let (Some(req), Some(cache)) = (state.detail_request(), state.detail.as_ref()) else {
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
            .selected_entry()
            .filter(|e| e.req.id == req.id)
            .is_some_and(|e| e.notify);
        status_lines.push(Line::from(vec![
            Span::styled("notify agent: ", theme.label()),
            Span::styled(
                if notify { "on" } else { "off" },
                if notify { theme.warn() } else { theme.dim() },
            ),
            Span::styled(
                format!(
                    " ({} toggles)",
                    state.keymap.label(super::keymap::Action::ToggleNotify)
                ),
                theme.dim(),
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(status_lines), fixed);

    let area = layout::detail_text(pane);
    let (total, height) = (cache.rows(cols), usize::from(area.height));
    let scroll = state.detail_scroll.min(total.saturating_sub(height));
    let rows = cache.visible(cols, scroll, height);
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(s, kind, first)| match kind {
            Kind::Field if first && s.len() >= LABEL_WIDTH && s.is_char_boundary(LABEL_WIDTH) => {
                let (l, v) = s.split_at(LABEL_WIDTH);
                Line::from(vec![Span::styled(l, theme.label()), Span::raw(v)])
            }
            Kind::Field => Line::raw(s),
            Kind::Heading => Line::styled(s, theme.title()),
            Kind::Json => Line::styled(s, theme.json()),
        })
        .collect();
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
        .selected_entry()
        .filter(|e| state.tab == Tab::Pending && e.req.id == req.id);
    let (text, style) = match entry.map(|e| &e.local) {
        Some(Local::Sending { verdict, scope }) => {
            (super::queue::sending_words(*verdict, *scope), theme.busy())
        }
        Some(Local::Failed { error, unknown }) => (
            failed_words(
                error,
                *unknown,
                &state.keymap.label(super::keymap::Action::Refresh),
            ),
            theme.error(),
        ),
        Some(Local::Ended { note, .. }) => (
            format!("{}: it can no longer be decided", ended_sentence(note)),
            theme.warn(),
        ),
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
            (s, theme.base())
        }
        _ => (outcome_words(req), theme.dim()),
    };
    Line::styled(text::fit(&text, cols), style)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn req(params: serde_json::Value) -> ApprovalRequest {
        ApprovalRequest {
            id: "r1".into(),
            status: Status::Pending,
            tool: "t".into(),
            args_hash: crate::protocol::args_hash(&params),
            params,
            reason: Some("line1\nline2\x1b[31m".into()),
            agent: "a".into(),
            conversation_id: None,
            run_id: None,
            tool_call_id: None,
            risk: None,
            filed_by: "a".into(),
            created_at: Utc::now(),
            expires_at: None,
            policy: None,
            decision: None,
            params_truncated: false,
            params_size: None,
        }
    }

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

    #[test]
    fn huge_params_build_once_and_slice_cheaply() {
        let blob = "x".repeat(1_000_000);
        let c = DetailCache::build(&req(json!({"blob": blob, "n": 1})));
        let rows = c.rows(80);
        assert!(rows > 12_000, "{rows}");
        let v = c.visible(80, rows - 5, 10);
        assert_eq!(v.len(), 5);
        assert!(c.lines.iter().all(|l| !l.text.contains('\x1b')));
    }

    #[test]
    fn fast_row_counts_agree_with_the_exact_walk() {
        for text in [
            "plain ascii text",
            "éèê accents",
            "e\u{301}e\u{301} combining",
            "東京 wide",
            "",
        ] {
            let l = DetailLine::new(text.repeat(7), Kind::Json);
            for cols in [1, 3, 7, 10, 80] {
                assert_eq!(
                    l.rows(cols),
                    text::wrapped_rows(&l.text, l.ascii, cols),
                    "{text:?} at {cols}"
                );
            }
        }
    }

    #[test]
    fn reason_keeps_its_lines_and_escapes_controls() {
        let c = DetailCache::build(&req(json!({})));
        let texts: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("reason") && t.ends_with("line1"))
        );
        assert!(texts.iter().any(|t| t.trim() == "line2\\u{1b}[31m"));
    }
}
