//! The detail text of one request: every id, reason, risk, times, args hash and the full
//! parameters as pretty-printed JSON. Built once per request (a 1 MB blob is
//! pretty-printed and sanitised once, not per frame), and cut into just the rows shown.
//! Changes when what the detail says, or how it wraps, changes.

use crate::console::text;
use crate::console::words::outcome_words;
use crate::protocol::{ApprovalRequest, Status, Via};
use crate::sanitize;

/// Columns of a field's label.
pub const LABEL_WIDTH: usize = 14;

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
                // The whole id, to revoke the grant: the status line names it short.
                if let Some(g) = &d.grant_id {
                    let whose = match d.via {
                        Via::Person => format!("{g} (made by this approval)"),
                        _ => g.clone(),
                    };
                    field(&mut lines, "grant", &whose);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures;
    use serde_json::json;

    fn req(params: serde_json::Value) -> ApprovalRequest {
        let mut r = fixtures::req("r1", "t", "a", 0, params);
        r.reason = Some("line1\nline2\x1b[31m".into());
        r
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
    fn a_grant_approval_is_the_grant_s_not_a_person_s() {
        use crate::protocol::{Outcome, Scope};
        let r = fixtures::req("r1", "t", "a", 0, json!({}));
        let mut r = fixtures::decided(r, Outcome::Approved, Scope::Always, "alice");
        if let Some(d) = r.decision.as_mut() {
            d.grant_id = Some("0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into());
            d.via = Via::Grant {
                grant_id: "0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into(),
                granted_by: "alice".into(),
                scope: Scope::Always,
            };
        }
        let c = DetailCache::build(&r);
        let texts: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert!(
            texts.contains(
                &"status        approved by grant 0193a3f2-7b1c… (made by alice, always)"
            ),
            "{texts:#?}"
        );
        assert!(
            texts.contains(&"grant         0193a3f2-7b1c-7cc0-9d1e-0123456789ab"),
            "{texts:#?}"
        );
        assert!(
            !texts.iter().any(|t| t.contains(") by alice")),
            "{texts:#?}"
        );
        // The approval that made the grant is the person's.
        if let Some(d) = r.decision.as_mut() {
            d.via = Via::Person;
        }
        let c = DetailCache::build(&r);
        let texts: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert!(
            texts.contains(&"status        approved (always) by alice"),
            "{texts:#?}"
        );
        assert!(
            texts.contains(
                &"grant         0193a3f2-7b1c-7cc0-9d1e-0123456789ab (made by this approval)"
            ),
            "{texts:#?}"
        );
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
