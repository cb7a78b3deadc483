//! The Pending tab: one row per pending request. Which columns show, and how wide, is
//! `Plan::new`: names get the room they need (measured on the rows on screen) before the
//! summary shrinks, and the risk cue is the last column to go.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::table::{self, Cell, Col};
use super::theme::Theme;
use crate::console::keymap::Action;
use crate::console::model::{Entry, Local, State};
use crate::console::text;
use crate::console::words::{ESCALATED_CUE, failed_words, sending_words, waiting_words};
use crate::protocol::Risk;
use crate::sanitize;

/// How the risk shows: the word, four letters, or one (with its colour, a cue that fits
/// a phone's 50 columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RiskCol {
    Word,
    Short,
    Letter,
}

/// The widest tool, agent, summary and reason among the rows on screen.
#[derive(Debug, Clone, Copy, Default)]
struct Need {
    tool: usize,
    agent: usize,
    params: usize,
    reason: usize,
}

/// The columns of the queue at one width.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    age: bool,
    tool: usize,
    agent: Option<usize>,
    /// The reason's width, when it shows.
    reason: Option<usize>,
    risk: RiskCol,
    left: Option<usize>,
}

impl Plan {
    /// The columns for a queue `w` wide whose rows on screen `need` this much room. Narrower, columns go in this order:
    /// REASON, AGENT, LEFT, AGE; TOOL, the risk cue and the summary stay.
    fn new(w: usize, need: Need) -> Plan {
        let plan = Plan::at(w, w, need);
        if w >= 100 && plan.reason.is_none() && need.reason > 0 {
            // Long names: the compact widths keep the reason, which is worth more than
            // the risk's full word.
            let compact = Plan::at(w, 99, need);
            if compact.reason.is_some() {
                return compact;
            }
        }
        plan
    }

    /// The plan for a queue `w` wide, with the column widths of a queue `tier` wide.
    fn at(w: usize, tier: usize, need: Need) -> Plan {
        let (tool_cap, agent_cap) = match tier {
            100.. => (32, 16),
            70..100 => (32, 14),
            60..70 => (24, 10),
            40..60 => (16, 0),
            _ => (12, 0),
        };
        let risk = match tier {
            100.. => RiskCol::Word,
            70..100 => RiskCol::Short,
            _ => RiskCol::Letter,
        };
        let mut plan = Plan {
            age: tier >= 24,
            tool: need.tool.clamp(4, tool_cap),
            agent: (agent_cap > 0).then(|| need.agent.clamp(5, agent_cap)),
            reason: None,
            risk,
            left: match tier {
                100.. => Some(5),
                46..100 => Some(4),
                _ => None,
            },
        };
        // The summary keeps a minimum: the agent, then the tool give up room first.
        let min = if tier >= 70 { 15 } else { 12 };
        while plan.rest(w) < min {
            match plan.agent {
                Some(a) if a > 8 => plan.agent = Some(a - 1),
                _ if plan.tool > 10 => plan.tool -= 1,
                _ => break,
            }
        }
        // The reason shares what is left once the summary has enough (about 20 columns
        // for the summary, 12 for the reason): cut shorter it says nothing, and the detail
        // shows it whole.
        // Up to a third of it, more when the summaries are short (what will run matters
        // more); no column when no row on screen has a reason.
        let rest = plan.rest(w);
        plan.reason = (tier >= 70 && rest >= 32 && need.reason > 0).then(|| {
            let room = rest - 1;
            let keep = need.reason.min(room / 3);
            room - need.params.clamp(16, room - keep)
        });
        plan
    }

    fn risk_width(&self) -> usize {
        match self.risk {
            RiskCol::Word => 8,
            RiskCol::Short => 4,
            RiskCol::Letter => 1,
        }
    }

    /// What the fixed columns leave to the summary (and the reason), gaps counted.
    fn rest(&self, w: usize) -> usize {
        let fixed = [
            self.age.then_some(4),
            Some(self.tool),
            self.agent,
            Some(self.risk_width()),
            self.left,
        ];
        let n = fixed.iter().flatten().count() + 1;
        let used: usize = fixed.iter().flatten().sum::<usize>() + n - 1;
        w.saturating_sub(used)
    }

    fn cols(&self) -> Vec<Col> {
        let col = |title, width| Col { title, width };
        let mut cols = Vec::with_capacity(7);
        if self.age {
            cols.push(col("AGE", 4));
        }
        cols.push(col("TOOL", self.tool));
        if let Some(a) = self.agent {
            cols.push(col("AGENT", a));
        }
        cols.push(col("PARAMS", 0));
        if let Some(r) = self.reason {
            cols.push(col("REASON", r));
        }
        let title = if self.risk == RiskCol::Letter {
            "R"
        } else {
            "RISK"
        };
        cols.push(col(title, self.risk_width()));
        if let Some(l) = self.left {
            cols.push(col("LEFT", l));
        }
        cols
    }
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = Theme::of(state);
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
    // Names are measured on the rows on screen only: a frame costs the same with ten
    // rows or a hundred thousand.
    let mut need = Need::default();
    for k in table::visible(area, queue.shown_len(), queue.selected_index()) {
        if let Some(e) = queue.shown(k) {
            let r = e.req();
            need.tool = need.tool.max(text::width(&sanitize::line(&r.tool)));
            need.agent = need.agent.max(text::width(&sanitize::line(&r.agent)));
            need.params = need.params.max(text::width(state.summary_of(e)));
            let reason = r
                .reason
                .as_deref()
                .map_or(0, |x| text::width(&sanitize::line(x)));
            let rule = r.policy.as_ref().map_or(0, |p| {
                3 + p
                    .rule
                    .as_deref()
                    .map_or(7, |x| text::width(&sanitize::line(x)))
            });
            need.reason = need.reason.max(reason + rule);
        }
    }
    let plan = Plan::new(usize::from(area.width), need);
    let cols = plan.cols();

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
                (format!("expiring… {}", state.summary_of(e)), theme.warn())
            }
            // Approved here already: it is someone else's to decide now.
            Local::Idle if state.waits_on_others(r) => (waiting_words(r), theme.busy()),
            // Nobody decided it in time: the backend escalated it (and it sorts first).
            Local::Idle if r.is_escalated() => (
                format!("{ESCALATED_CUE} {}{}", progress(r), state.summary_of(e)),
                theme.warn(),
            ),
            Local::Idle => (
                format!("{}{}", progress(r), state.summary_of(e)),
                theme.base(),
            ),
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
        let mut row: Vec<Cell> = Vec::with_capacity(7);
        if plan.age {
            row.push((text::age(r.created_at, state.now), base));
        }
        row.push((sanitize::line(&r.tool).into_owned(), base));
        if plan.agent.is_some() {
            row.push((sanitize::line(&r.agent).into_owned(), base));
        }
        row.push((summary, sstyle));
        if plan.reason.is_some() {
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
        let risk = match (r.risk, plan.risk) {
            (None, _) => "—",
            (Some(x), RiskCol::Word) => x.as_str(),
            (Some(x), RiskCol::Short) => short_risk(x),
            (Some(x), RiskCol::Letter) => risk_letter(x),
        };
        row.push((risk.to_owned(), theme.risk(r.risk)));
        if plan.left.is_some() {
            row.push((
                left_text,
                theme.expiry(r.expires_at.map(|_| left.unwrap_or(0))),
            ));
        }
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

/// A risk in one column: L, M, H, C.
fn risk_letter(r: Risk) -> &'static str {
    match r {
        Risk::Low => "L",
        Risk::Medium => "M",
        Risk::High => "H",
        Risk::Critical => "C",
    }
}

/// `1/2 ` before the summary of a request that needs several approvals.
fn progress(r: &crate::protocol::ApprovalRequest) -> String {
    r.approvals_progress()
        .map(|p| format!("{p} "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(p: &Plan) -> Vec<&'static str> {
        p.cols().iter().map(|c| c.title).collect()
    }

    #[test]
    fn the_risk_cue_is_the_last_column_to_go() {
        let mut last = titles(&Plan::new(
            200,
            Need {
                tool: 26,
                agent: 13,
                params: 40,
                reason: 30,
            },
        ));
        assert_eq!(
            last,
            ["AGE", "TOOL", "AGENT", "PARAMS", "REASON", "RISK", "LEFT"]
        );
        for w in (8..200).rev() {
            let now = titles(&Plan::new(
                w,
                Need {
                    tool: 26,
                    agent: 13,
                    params: 40,
                    reason: 30,
                },
            ));
            assert!(
                now.contains(&"TOOL") && now.contains(&"PARAMS"),
                "{w}: {now:?}"
            );
            assert!(now.contains(&"RISK") || now.contains(&"R"), "{w}: {now:?}");
            // Narrower never brings a column back.
            for t in &now {
                let same = if *t == "R" { "RISK" } else { t };
                assert!(last.contains(t) || last.contains(&same), "{w}: {now:?}");
            }
            last = now;
        }
        assert_eq!(
            titles(&Plan::new(
                50,
                Need {
                    tool: 20,
                    agent: 13,
                    params: 40,
                    reason: 30
                }
            )),
            ["AGE", "TOOL", "PARAMS", "R", "LEFT"]
        );
    }

    #[test]
    fn names_up_to_32_columns_are_not_cut_beside_a_detail_pane_at_120() {
        // The queue beside the detail pane at 120 columns.
        let w = crate::console::layout::areas(Rect::new(0, 0, 120, 30), false, true)
            .list
            .width;
        let p = Plan::new(
            usize::from(w),
            Need {
                tool: 32,
                agent: 13,
                params: 40,
                reason: 30,
            },
        );
        assert_eq!(p.tool, 32, "{p:?} at {w}");
        assert_eq!(p.agent, Some(13), "{p:?} at {w}");
        assert!(p.rest(usize::from(w)) >= 15, "{p:?} at {w}");
        // No row on screen with a reason: no REASON column, the summary gets its room.
        let none = Need {
            reason: 0,
            ..Need {
                tool: 10,
                agent: 8,
                params: 80,
                reason: 0,
            }
        };
        assert_eq!(Plan::new(160, none).reason, None);
        // Short names take only the room they need.
        assert_eq!(
            Plan::new(
                120,
                Need {
                    tool: 9,
                    agent: 5,
                    params: 40,
                    reason: 30
                }
            )
            .tool,
            9
        );
    }
}
