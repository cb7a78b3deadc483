//! Confirmation of the dangerous: a box that names exactly what `y` will do, and how far
//! a grant reaches (for a tool that runs commands: every command line, not just this one).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::console::model::{Confirm, DiffLine, GRANT_DURATIONS, State};
use crate::console::text;
use crate::protocol::Scope;
use crate::sanitize;

/// Widest box drawn, in columns.
const MAX_WIDTH: u16 = 80;

/// `n other pending `TOOL` calls`, with the plural right.
fn others(n: usize, tool: &str) -> String {
    format!(
        "{n} other pending `{tool}` call{}",
        if n == 1 { "" } else { "s" }
    )
}

/// The question, in words: what `y` will do. Untrusted names are fitted to `cols` (the
/// box's inner width) so a long name can never push the question off the box.
pub fn question(state: &State, c: &Confirm, cols: usize) -> (String, Vec<String>) {
    let tool_cap = (cols * 2 / 5).max(12);
    let agent_cap = (cols / 4).max(8);
    let fitted = |s: &str, cap: usize| text::fit(&sanitize::line(s), cap);
    match c {
        Confirm::Always { id, commands } | Confirm::Conversation { id, commands } => {
            let Some(req) = state.queue().get(id).map(|e| e.req()) else {
                return (
                    " Approve? ".to_owned(),
                    vec!["This request has ended.".into()],
                );
            };
            let tool = fitted(&req.tool, tool_cap);
            let agent = fitted(&req.agent, agent_cap);
            let always = matches!(c, Confirm::Always { .. });
            let scope = if always {
                Scope::Always
            } else {
                Scope::Conversation
            };
            let n = state.queue().covered_by(id, scope);
            let mut lines = Vec::new();
            if always {
                lines.push(format!("every future `{tool}` call from `{agent}`"));
            } else {
                let conv = fitted(req.conversation_id.as_deref().unwrap_or(""), agent_cap);
                lines.push(format!(
                    "every `{tool}` call from `{agent}` in conversation `{conv}`"
                ));
            }
            lines.push("will be approved without asking (this one included).".to_owned());
            if *commands {
                // The call on screen is one command line; the grant is for the tool.
                lines.push(if always {
                    format!(
                        "This covers every command `{agent}` runs with `{tool}`, in any \
                         conversation, not only this one."
                    )
                } else {
                    format!(
                        "This covers every command `{agent}` runs with `{tool}` in this \
                         conversation, not only this one."
                    )
                });
            }
            if n > 0 {
                let where_ = if always { "" } else { " in this conversation" };
                lines.push(format!(
                    "Also approves {}{where_} at once.",
                    others(n, &tool)
                ));
            }
            // The keys that confirm, each with how long the grant then lasts.
            // The keys that confirm, each with how long the grant then lasts (short, so
            // the question fits a 40-column terminal whole).
            let mut how_long = vec!["y: until revoked".to_owned()];
            how_long.extend(
                GRANT_DURATIONS
                    .iter()
                    .map(|(key, _, words)| format!("{key}: {}", words.trim_start_matches("for "))),
            );
            lines.push(how_long.join(" · "));
            let title = if always {
                " Always approve? "
            } else {
                " Approve for the conversation? "
            };
            (title.to_owned(), lines)
        }
        Confirm::Edit { id, diff, .. } => {
            let Some(req) = state.queue().get(id).map(|e| e.req()) else {
                return (
                    " Approve edited params? ".to_owned(),
                    vec!["This request has ended.".into()],
                );
            };
            let mut lines = vec![
                format!(
                    "Approve `{}` from `{}`, this call only, with the params as edited:",
                    fitted(&req.tool, tool_cap),
                    fitted(&req.agent, agent_cap)
                ),
                String::new(),
            ];
            // Untrusted text both sides (the agent's params, the editor's result): each
            // line escaped before the terminal.
            lines.extend(diff.iter().map(|l| match l {
                DiffLine::Same(t) => format!("  {}", sanitize::line(t)),
                DiffLine::Removed(t) => format!("- {}", sanitize::line(t)),
                DiffLine::Added(t) => format!("+ {}", sanitize::line(t)),
                DiffLine::Gap => "  …".to_owned(),
            }));
            lines.push(String::new());
            lines.push(
                "The agent runs the + lines' params; the request keeps those it filed.".to_owned(),
            );
            (" Approve edited params? ".to_owned(), lines)
        }
        Confirm::Revoke { grant_id } => {
            let what = state
                .grants()
                .find(grant_id)
                .map(|g| {
                    let scope = match &g.conversation_id {
                        Some(c) => format!("in conversation `{}`", fitted(c, agent_cap)),
                        None => "in every conversation".to_owned(),
                    };
                    vec![
                        format!(
                            "`{}` calls from `{}` {scope}",
                            fitted(&g.tool, tool_cap),
                            fitted(&g.agent, agent_cap)
                        ),
                        "will need approval again.".to_owned(),
                    ]
                })
                .unwrap_or_else(|| vec!["This grant will stop applying.".to_owned()]);
            (" Revoke grant? ".to_owned(), what)
        }
    }
}

/// Draws the confirmation; true when the whole question was shown (`y` acts only then).
pub fn draw(state: &State, frame: &mut Frame, c: &Confirm) -> bool {
    let theme = Theme::new(state.no_color);
    let area = frame.area();
    let w = area.width.min(MAX_WIDTH);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let (title, q) = question(state, c, inner_w);
    // Rows the wrapped question takes, plus a blank line and the instruction.
    let q_rows: usize = q
        .iter()
        .map(|l| text::width(l).div_ceil(inner_w).max(1))
        .sum();
    let want = u16::try_from(q_rows + 4).unwrap_or(u16::MAX);
    let h = area.height.min(want.max(6));
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warn())
        .title(Span::styled(text::fit(&title, inner_w), theme.warn()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    if inner.height == 0 {
        return false;
    }
    // The instruction has the last row to itself: however long the question, what `y`
    // does and how to cancel stay in sight.
    let last = Rect {
        y: inner.y + inner.height - 1,
        height: 1,
        ..inner
    };
    let rest = Rect {
        height: inner.height.saturating_sub(2),
        ..inner
    };
    let whole = q_rows <= usize::from(rest.height);
    let lines: Vec<Line> = q.into_iter().map(Line::raw).collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), rest);
    let instruction = if whole && c.makes_grant() {
        let mut keys = vec!["y".to_owned()];
        keys.extend(GRANT_DURATIONS.iter().map(|(k, _, _)| k.to_string()));
        let keys = match keys.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => "y".to_owned(),
        };
        let w = text::width(&keys);
        Line::from(vec![
            Span::styled(keys, theme.key()),
            Span::raw(text::fit(
                " confirms, any other key cancels",
                inner_w.saturating_sub(w),
            )),
        ])
    } else if whole {
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(text::fit(
                " confirms, any other key cancels",
                inner_w.saturating_sub(1),
            )),
        ])
    } else {
        // What `y` would confirm is cut: it confirms nothing until it can be read whole.
        Line::styled(
            text::fit("cut: enlarge the terminal; any key but y cancels", inner_w),
            theme.warn(),
        )
    };
    frame.render_widget(Paragraph::new(instruction), last);
    whole
}
