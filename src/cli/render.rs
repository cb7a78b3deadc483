//! What the reviewer commands print besides their tables: `show`'s text, the one line
//! that approve, reject and revoke answer with, and `--json` (the protocol's own objects,
//! so it stays as stable as the API).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthStr as _;

use crate::protocol::{ApprovalRequest, Grant, Scope};
use crate::sanitize;
use crate::text::{age, until};

/// One JSON document, pretty, with a final newline.
pub(super) fn json_pretty<T: serde::Serialize>(v: &T) -> serde_json::Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

/// JSON lines: one compact object per line, for export.
pub(super) fn json_lines<T: serde::Serialize>(items: &[T]) -> serde_json::Result<String> {
    let mut out = String::new();
    for item in items {
        out.push_str(&serde_json::to_string(item)?);
        out.push('\n');
    }
    Ok(out)
}

/// Width of the field names in `show`.
const LABEL: usize = 14;

/// `assent show`: every field of the request, one per line, sanitised.
pub fn request_text(r: &ApprovalRequest, now: DateTime<Utc>, width: usize) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let value = sanitize::line(value);
        // A single word that does not fit beside its name (a hash) goes on its own line,
        // whole: ids and hashes are never cut.
        if LABEL + value.width() > width && !value.contains(' ') {
            let _ = writeln!(out, "{name}\n  {value}");
        } else {
            let _ = writeln!(out, "{name:<LABEL$}{value}");
        }
    };
    field("id", &r.id);
    field("status", r.status.as_str());
    field("tool", &r.tool);
    field("agent", &r.agent);
    field("filed by", &r.filed_by);
    if let Some(s) = &r.reason {
        field("reason", s);
    }
    if let Some(p) = &r.policy {
        field("policy", &p.describe());
        if p.needs_review() {
            field("", "let through by the policy without a person: review it");
        }
        if let Some(e) = &p.error {
            field("policy note", e);
        }
    }
    if let Some(risk) = r.risk {
        field("risk", risk.as_str());
    }
    for (name, v) in [
        ("conversation", &r.conversation_id),
        ("run", &r.run_id),
        ("tool call", &r.tool_call_id),
    ] {
        if let Some(v) = v {
            field(name, v);
        }
    }
    field(
        "created",
        &format!(
            "{} ({} ago)",
            r.created_at.to_rfc3339(),
            age(r.created_at, now)
        ),
    );
    match r.expires_at {
        Some(e) if e > now => field(
            "expires",
            &format!("{} (in {})", e.to_rfc3339(), until(e, now)),
        ),
        Some(e) => field(
            "expires",
            &format!("{} ({} ago)", e.to_rfc3339(), age(e, now)),
        ),
        None => field("expires", "never"),
    }
    field("args_hash", &r.args_hash);
    if let Some(d) = &r.decision {
        field(
            "decision",
            &format!(
                "{} by {} at {}, scope {}",
                d.outcome.as_str(),
                d.responder,
                d.decided_at.to_rfc3339(),
                d.scope
            ),
        );
        if let Some(s) = &d.reason {
            field("  reason", s);
        }
        field("  notify", if d.notify_agent { "yes" } else { "no" });
        if let Some(gid) = &d.grant_id {
            field("  grant", gid);
        }
    }
    let params = serde_json::to_string_pretty(&r.params).unwrap_or_else(|_| r.params.to_string());
    let _ = writeln!(out, "params");
    for line in sanitize::block(&params).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The answer to approve or reject. `replayed`: the request was final before the decision
/// was sent, and yet the backend said 200, so it replayed this reviewer's own identical
/// decision, which must not read as news.
pub(super) fn decided(r: &ApprovalRequest, replayed: bool) -> String {
    if replayed && let Some(d) = &r.decision {
        return format!(
            "request {} was already {} by {} at {} (scope {}); nothing changed\n",
            sanitize::line(&r.id),
            r.status,
            sanitize::line(&d.responder),
            d.decided_at.to_rfc3339(),
            d.scope
        );
    }
    let mut line = format!(
        "{} {} ({} from {})",
        r.status,
        sanitize::line(&r.id),
        sanitize::line(&r.tool),
        sanitize::line(&r.agent)
    );
    if let Some(d) = &r.decision {
        if d.scope != Scope::Once {
            let _ = write!(line, ", scope {}", d.scope);
        }
        if let Some(gid) = &d.grant_id {
            let _ = write!(line, ", grant {}", sanitize::line(gid));
        }
        if d.notify_agent {
            line.push_str(", agent notified");
        }
    }
    line.push('\n');
    line
}

/// The answer to revoke. `was_active`: the grant was active before; a second revoke of
/// a grant answers 200 with the grant as it was revoked, which must not read as news.
pub(super) fn revoked(gr: &Grant, was_active: bool) -> String {
    let what = format!(
        "grant {} ({} {} from {})",
        sanitize::line(&gr.id),
        gr.scope,
        sanitize::line(&gr.tool),
        sanitize::line(&gr.agent)
    );
    if was_active {
        return format!("revoked {what}\n");
    }
    let by = gr.revoked_by.as_deref().unwrap_or("someone");
    let at = gr
        .revoked_at
        .map(|t| format!(" at {}", t.to_rfc3339()))
        .unwrap_or_default();
    format!(
        "{what} was already revoked by {}{at}; nothing changed\n",
        sanitize::line(by)
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::req;
    use super::*;
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn show_sanitises_params() {
        let now = Utc::now();
        let out = request_text(&req("r1", "why", now), now, 80);
        assert!(out.contains("conv-1"));
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn show_puts_a_hash_too_long_for_the_width_on_its_own_line_whole() {
        let now = Utc::now();
        let r = req("r1", "why", now);
        let narrow = request_text(&r, now, 80);
        assert!(
            narrow.contains(&format!("args_hash\n  {}\n", r.args_hash)),
            "{narrow}"
        );
        for line in narrow.lines().filter(|l| !l.starts_with("  ")) {
            assert!(line.width() <= 80, "{line:?}");
        }
        let wide = request_text(&r, now, 120);
        assert!(
            wide.contains(&format!("args_hash     {}\n", r.args_hash)),
            "{wide}"
        );
    }
}
