//! The detail text of one request: every id, reason, risk, times, args hash and the full
//! parameters as pretty-printed JSON (with JSON's own escapes, so it parses). Built once
//! per request (a 1 MB blob is pretty-printed and escaped once, not per frame), wrapped
//! once per pane width, and cut into just the rows shown. Changes when what the detail
//! says, or how it wraps, changes.

use serde_json::Value;

use super::full::{Fetch, Full};
use crate::console::text;
use crate::console::words::{self, outcome_words};
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
}

impl DetailLine {
    fn new(text: String, kind: Kind) -> DetailLine {
        DetailLine { text, kind }
    }

    /// How far rows after the first are indented at `cols` columns: a field's under its
    /// value (when that leaves room), a JSON line's a step deeper than the line itself,
    /// so a wrapped value still reads as part of its key.
    fn indent(&self, cols: usize) -> usize {
        match self.kind {
            Kind::Field if cols >= LABEL_WIDTH + 20 => LABEL_WIDTH,
            Kind::Json => {
                let lead = self.text.bytes().take_while(|b| *b == b' ').count();
                (lead + 2).min(cols / 3)
            }
            _ => 0,
        }
    }

    fn wrap(&self, cols: usize) -> text::Wrap<'_> {
        text::wrap(&self.text, cols, self.indent(cols))
    }
}

/// One row of the detail as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown<'a> {
    pub text: &'a str,
    pub kind: Kind,
    /// The first row of its line (where a field's label is).
    pub first: bool,
    /// Spaces drawn before `text`.
    pub indent: usize,
}

/// The parameters a detail shows: whole (listed with them, or fetched in full), or left
/// out, with where their fetch stands.
#[derive(Debug, Clone, Copy)]
pub enum ParamsShown<'a> {
    Whole(&'a Value),
    LeftOut { size: u64, fetch: Option<&'a Fetch> },
}

impl<'a> ParamsShown<'a> {
    /// The parameters of `req` as shown: `full`, the fetch of its full parameters, when it
    /// was listed without them.
    pub fn of(req: &'a ApprovalRequest, full: Option<&'a Full>) -> ParamsShown<'a> {
        if !req.params_truncated {
            return ParamsShown::Whole(&req.params);
        }
        match full.and_then(Full::loaded) {
            Some(l) => ParamsShown::Whole(&l.params),
            None => ParamsShown::LeftOut {
                size: req.params_size.unwrap_or(0),
                fetch: full.map(Full::fetch),
            },
        }
    }

    /// What the detail text depends on: a detail built with another key is stale.
    fn key(&self) -> ParamsKey {
        match self {
            ParamsShown::Whole(_) => ParamsKey::Whole,
            ParamsShown::LeftOut { fetch: None, .. } => ParamsKey::NotLoaded,
            ParamsShown::LeftOut {
                fetch: Some(Fetch::Loading),
                ..
            } => ParamsKey::Loading,
            ParamsShown::LeftOut {
                fetch: Some(Fetch::Failed(_)),
                ..
            } => ParamsKey::Failed,
            ParamsShown::LeftOut {
                fetch: Some(Fetch::Loaded(_)),
                ..
            } => ParamsKey::Whole,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamsKey {
    Whole,
    NotLoaded,
    Loading,
    Failed,
}

/// The sanitised, pretty-printed text of one request's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailCache {
    pub id: String,
    pub status: Status,
    /// When it escalated, as shown.
    escalated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How many approvals it had, as shown.
    approvals: usize,
    /// What was shown of its parameters.
    params: ParamsKey,
    pub lines: Vec<DetailLine>,
    /// The line range of the parameters' JSON in `lines`.
    json: std::ops::Range<usize>,
    /// The rows each line takes at the width last wrapped for.
    wrapped: Wrapped,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Wrapped {
    cols: usize,
    rows: Vec<usize>,
    total: usize,
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
        DetailCache::build_with(req, ParamsShown::of(req, None))
    }

    /// Whether this is the detail of `req` as it stands, with `full`, the fetch of its
    /// parameters.
    pub fn is_of(&self, req: &ApprovalRequest, full: Option<&Full>) -> bool {
        self.id == req.id
            && self.status == req.status
            && self.escalated_at == req.escalated_at
            && self.approvals == req.approvals.len()
            && self.params == ParamsShown::of(req, full).key()
    }

    /// The detail of `req`, showing `params` for its parameters.
    pub fn build_with(req: &ApprovalRequest, params: ParamsShown<'_>) -> DetailCache {
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
        if req.needs_several() {
            field(&mut lines, "approvals", &words::approvals_field(req));
        }
        if let Some(at) = req.escalated_at {
            field(&mut lines, "escalated", &words::escalated_field(at));
        }
        if req.on_timeout == crate::protocol::TimeoutAction::Reject && !req.status.is_final() {
            field(&mut lines, "on timeout", words::REJECT_AT_TIMEOUT);
        }
        // JSON's own escapes for anything a terminal must not get raw: what is shown
        // parses, to the parameters the decision's hash is of.
        let json = match params {
            ParamsShown::Whole(v) => {
                let json = text::params_json(v);
                lines.push(DetailLine::new(
                    format!("params ({} bytes)", json.len()),
                    Kind::Heading,
                ));
                let from = lines.len();
                for l in json.split('\n') {
                    lines.push(DetailLine::new(l.to_owned(), Kind::Json));
                }
                from..lines.len()
            }
            // Nothing stands in their place that could be read as them.
            ParamsShown::LeftOut { size, fetch } => {
                lines.push(DetailLine::new(
                    words::params_left_out(size, fetch),
                    Kind::Heading,
                ));
                lines.len()..lines.len()
            }
        };
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
            escalated_at: req.escalated_at,
            approvals: req.approvals.len(),
            params: params.key(),
            lines,
            json,
            wrapped: Wrapped::default(),
        }
    }

    /// Whether the parameters are shown (not left out of a list and not yet loaded).
    pub fn has_params(&self) -> bool {
        self.params == ParamsKey::Whole
    }

    /// The parameters as shown: the JSON text `Y` copies.
    pub fn params_json(&self) -> String {
        let json = self.lines.get(self.json.clone()).unwrap_or_default();
        let mut out = String::with_capacity(json.iter().map(|l| l.text.len() + 1).sum());
        for (i, l) in json.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&l.text);
        }
        out
    }

    /// Wraps the text for a pane `cols` wide, once per width: rows are then counted and
    /// found without walking the text again.
    pub fn wrap(&mut self, cols: usize) {
        if self.wrapped.cols == cols && !self.wrapped.rows.is_empty() {
            return;
        }
        let rows: Vec<usize> = self.lines.iter().map(|l| l.wrap(cols).count()).collect();
        let total = rows.iter().sum();
        self.wrapped = Wrapped { cols, rows, total };
    }

    fn line_rows(&self, i: usize, cols: usize) -> usize {
        if self.wrapped.cols == cols
            && let Some(n) = self.wrapped.rows.get(i)
        {
            return *n;
        }
        self.lines.get(i).map_or(0, |l| l.wrap(cols).count())
    }

    /// Rows the text takes when wrapped at `cols` columns.
    pub fn rows(&self, cols: usize) -> usize {
        if self.wrapped.cols == cols && self.wrapped.rows.len() == self.lines.len() {
            return self.wrapped.total;
        }
        self.lines.iter().map(|l| l.wrap(cols).count()).sum()
    }

    /// The wrapped rows `skip..skip+take`. Steps over whole lines by their row counts,
    /// so the cost does not grow with the text above the view.
    pub fn visible(&self, cols: usize, skip: usize, take: usize) -> Vec<Shown<'_>> {
        let mut out = Vec::with_capacity(take.min(256));
        let mut row = 0;
        for (i, l) in self.lines.iter().enumerate() {
            if out.len() >= take {
                break;
            }
            let n = self.line_rows(i, cols);
            if row + n <= skip {
                row += n;
                continue;
            }
            let from = skip.saturating_sub(row);
            let want = take - out.len();
            for (k, r) in l.wrap(cols).enumerate().skip(from).take(want) {
                out.push(Shown {
                    text: &l.text[r.start..r.end],
                    kind: l.kind,
                    first: k == 0,
                    indent: r.indent,
                });
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
        let mut c = DetailCache::build(&req(json!({"blob": blob, "n": 1})));
        c.wrap(80);
        let rows = c.rows(80);
        assert!(rows > 12_000, "{rows}");
        let v = c.visible(80, rows - 5, 10);
        assert_eq!(v.len(), 5);
        assert!(c.lines.iter().all(|l| !l.text.contains('\x1b')));
    }

    #[test]
    fn row_counts_agree_with_the_rows_shown_at_every_width() {
        let mut r = req(json!({
            "command": "rm -rf /tmp/old builds && echo done, and a few more words to wrap",
            "wide": "東京タワー東京タワー", "esc": "\u{1b}[2J\u{202e}"
        }));
        r.id = "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f".into();
        let mut c = DetailCache::build(&r);
        for cols in [1, 3, 7, 20, 41, 80, 200] {
            let slow = c.rows(cols);
            c.wrap(cols);
            assert_eq!(c.rows(cols), slow, "at {cols}");
            assert_eq!(c.visible(cols, 0, usize::MAX).len(), slow, "at {cols}");
            for s in c.visible(cols, 0, usize::MAX) {
                // (One column cannot hold a wide character: it is shown anyway.)
                assert!(
                    cols < 2 || s.indent + text::width(s.text) <= cols,
                    "{s:?} at {cols}"
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
    fn ids_and_hashes_are_not_wrapped_in_the_middle() {
        let mut r = req(json!({}));
        r.id = "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f".into();
        let c = DetailCache::build(&r);
        for cols in [41, 48] {
            let rows = c.visible(cols, 0, usize::MAX);
            assert!(
                rows.iter().any(|s| s.text == r.id),
                "the id whole on a row of its own at {cols}: {rows:?}"
            );
        }
        // Where it fits after its label, it stays there.
        let rows = c.visible(60, 0, usize::MAX);
        assert!(
            rows.iter()
                .any(|s| s.text == format!("request       {}", r.id))
        );
        let rows = c.visible(90, 0, usize::MAX);
        let hash = rows
            .iter()
            .find(|s| s.text.starts_with("args hash"))
            .unwrap();
        assert!(hash.text.ends_with(&r.args_hash), "{hash:?}");
    }

    #[test]
    fn the_params_shown_parse_and_are_what_y_copies() {
        let params = json!({"note": "bidi \u{202e} esc \u{1b}[2J", "n": [1, 2]});
        let c = DetailCache::build(&req(params.clone()));
        let json = c.params_json();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            params
        );
        assert!(
            json.contains("\\u202e") && json.contains("\\u001b[2J"),
            "{json}"
        );
        let heading = c
            .lines
            .iter()
            .find(|l| l.text.starts_with("params ("))
            .unwrap();
        assert_eq!(heading.text, format!("params ({} bytes)", json.len()));
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
