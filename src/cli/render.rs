//! What the reviewer commands print besides their tables: `show`'s text, the one line
//! that approve, reject and revoke answer with, `--json` (the protocol's own objects,
//! so it stays as stable as the API), and the one way the CLI writes a time.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use unicode_width::UnicodeWidthStr as _;

use crate::protocol::{ApprovalRequest, Decision, Grant, Scope, Via, short_id};
use crate::sanitize;
use crate::text::{age, until};

/// Every time the CLI prints: RFC 3339 in UTC to the second, `2026-12-01T19:13:09Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One JSON document, pretty, with a final newline.
pub(super) fn json_pretty<T: serde::Serialize>(v: &T) -> serde_json::Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(terminal_safe_json(s))
}

/// JSON lines: one compact object per line, for export.
pub(super) fn json_lines<T: serde::Serialize>(items: &[T]) -> serde_json::Result<String> {
    let mut out = String::new();
    for item in items {
        out.push_str(&serde_json::to_string(item)?);
        out.push('\n');
    }
    Ok(terminal_safe_json(out))
}

/// `json` with every character a terminal must not get raw written as a JSON escape
/// (`\u009b`, `\u202e`, a pair of them beyond the BMP): the same document to a JSON
/// reader, and harmless on a terminal. serde_json escapes only C0 controls (ESC among
/// them); C1 controls, DEL, bidi and invisible characters it writes as they are. They
/// can only be inside strings: serde_json's structure is ASCII, and its only raw control
/// is the newline between lines, which stays.
fn terminal_safe_json(json: String) -> String {
    if matches!(sanitize::block(&json), Cow::Borrowed(_)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut buf = [0u8; 4];
    for c in json.chars() {
        if c == '\n' || matches!(sanitize::line(c.encode_utf8(&mut buf)), Cow::Borrowed(_)) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        }
    }
    out
}

/// Who or what made `d`, for `show`: the person, or the grant or policy rule, which no
/// person saw this request through.
fn by_whom(d: &Decision) -> String {
    match &d.via {
        Via::Person => d.responder.clone(),
        Via::Grant {
            grant_id,
            granted_by,
            scope,
        } => format!(
            "grant {} (made by {granted_by}, {scope})",
            short_id(grant_id)
        ),
        Via::Policy { rule, .. } => Via::policy_words(rule.as_deref()),
        Via::Timeout => crate::protocol::TIMEOUT_WORDS.to_owned(),
    }
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
        &format!("{} ({} ago)", time(r.created_at), age(r.created_at, now)),
    );
    match r.expires_at {
        Some(e) if e > now => field("expires", &format!("{} (in {})", time(e), until(e, now))),
        Some(e) => field("expires", &format!("{} ({} ago)", time(e), age(e, now))),
        None => field("expires", "never"),
    }
    if !r.on_timeout.is_expire() {
        field("on timeout", r.on_timeout.as_str());
    }
    match (r.escalated_at, r.escalate_at) {
        (Some(t), _) => field("escalated", &format!("{} ({} ago)", time(t), age(t, now))),
        (None, Some(_)) if r.status.is_final() => {}
        (None, Some(t)) if t > now => {
            field("escalates", &format!("{} (in {})", time(t), until(t, now)))
        }
        (None, Some(t)) => field("escalates", &format!("{} (due)", time(t))),
        (None, None) => {}
    }
    field("args_hash", &r.args_hash);
    if r.needs_several() {
        let mut words = format!(
            "{} of {} different reviewers",
            r.approvals.len(),
            r.approvals_required
        );
        if !r.status.is_final() {
            let _ = write!(words, "; waiting on {} more", r.approvals_missing());
        }
        field("approvals", &words);
        for a in &r.approvals {
            let reason = a
                .reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            field(
                "",
                &format!(
                    "{} at {}, scope {}{reason}",
                    a.responder,
                    time(a.approved_at),
                    a.scope
                ),
            );
        }
    }
    if let Some(d) = &r.decision {
        // A person's scope is their choice; a grant's or the policy's is theirs to say.
        let scope = match d.via {
            Via::Person => format!(", scope {}", d.scope),
            _ => String::new(),
        };
        field(
            "decision",
            &format!(
                "{} by {} at {}{scope}",
                d.outcome.as_str(),
                by_whom(d),
                time(d.decided_at),
            ),
        );
        match &d.via {
            Via::Person => field("  via", &format!("a person ({})", d.responder)),
            Via::Grant { grant_id, .. } => field("  via", &format!("grant {grant_id}")),
            Via::Policy { rule, action } => field(
                "  via",
                &format!(
                    "the policy ({}, action {action})",
                    Via::policy_words(rule.as_deref())
                ),
            ),
            Via::Timeout => field(
                "  via",
                "the timeout (its on_timeout is reject; no person decided)",
            ),
        }
        if let Some(s) = &d.reason {
            field("  reason", s);
        }
        field("  notify", if d.notify_agent { "yes" } else { "no" });
        if let (Some(gid), Via::Person) = (&d.grant_id, &d.via) {
            field("  grant", &format!("{gid} (made by this decision)"));
        }
        if let Some(h) = &d.approved_args_hash {
            field("  approved", &format!("edited params, args_hash {h}"));
        }
    }
    let pretty =
        |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let _ = writeln!(out, "params");
    for line in sanitize::block(&pretty(&r.params)).lines() {
        let _ = writeln!(out, "  {line}");
    }
    // What the agent runs when a reviewer edited the params: never mistaken for those filed.
    if let Some(edit) = r.decision.as_ref().and_then(|d| d.approved_params.as_ref()) {
        let _ = writeln!(
            out,
            "approved params (edited by the reviewer; the agent runs these)"
        );
        for line in sanitize::block(&pretty(edit)).lines() {
            let _ = writeln!(out, "  {line}");
        }
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
            sanitize::line(&by_whom(d)),
            time(d.decided_at),
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
    if r.needs_several() {
        let _ = write!(
            line,
            ", {} approvals",
            r.approvals_progress().unwrap_or_default()
        );
        if !r.status.is_final() {
            let _ = write!(
                line,
                ": waiting on {} more from another reviewer",
                r.approvals_missing()
            );
        }
    }
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
        if let Some(h) = &d.approved_args_hash {
            let _ = write!(line, ", with edited params ({})", sanitize::line(h));
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
        .map(|t| format!(" at {}", time(t)))
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

    #[test]
    fn times_are_rfc3339_utc_to_the_second() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T19:13:09.517+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time(t), "2026-12-01T19:13:09Z");
        let mut r = req("r1", "why", t);
        r.expires_at = Some(t + chrono::Duration::minutes(5));
        let out = request_text(&r, t, 120);
        assert!(
            out.contains("created       2026-12-01T19:13:09Z (0s ago)"),
            "{out}"
        );
        assert!(
            out.contains("expires       2026-12-01T19:18:09Z (in 5m)"),
            "{out}"
        );
        assert!(!out.contains("+00:00"), "{out}");
    }

    #[test]
    fn json_escapes_what_a_terminal_must_not_get_and_still_parses() {
        let v = serde_json::json!({"a": "x\u{9b}31m\u{202e}y\u{1b}z\u{7f}", "e": "é 東京",
                                   "tag": "\u{e0041}", "nl": "l1\nl2"});
        for out in [json_pretty(&v).unwrap(), json_lines(&[&v]).unwrap()] {
            assert!(out.contains(r"x\u009b31m\u202ey\u001bz\u007f"), "{out}");
            assert!(
                out.contains(r"\udb40\udc41"),
                "beyond the BMP, a pair: {out}"
            );
            assert!(
                out.contains("é 東京"),
                "printable text stays as it is: {out}"
            );
            assert!(
                !out.chars()
                    .any(|c| c != '\n' && sanitize::line(&c.to_string()) != c.to_string())
            );
            let back: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn show_says_how_a_decision_was_made() {
        use crate::protocol::{Decision, Outcome, PolicyAction, Status};
        let now = Utc::now();
        let gid = "0193a3f2-8c2d-7dd0-8e2f-0123456789ab";
        let mut r = req("r1", "why", now);
        r.status = Status::Approved;
        let decision = |via| Decision {
            approval_token: None,
            approved_params: None,
            approved_args_hash: None,
            outcome: Outcome::Approved,
            scope: Scope::Conversation,
            reason: None,
            notify_agent: false,
            responder: "alice".into(),
            decided_at: now,
            grant_id: Some(gid.into()),
            via,
        };
        r.decision = Some(Box::new(decision(Via::Person)));
        let person = request_text(&r, now, 120);
        assert!(
            person.contains("decision      approved by alice at "),
            "{person}"
        );
        assert!(
            person.contains("  via         a person (alice)"),
            "{person}"
        );
        assert!(
            person.contains(&format!("  grant       {gid} (made by this decision)")),
            "{person}"
        );
        r.decision = Some(Box::new(decision(Via::Grant {
            grant_id: gid.into(),
            granted_by: "alice".into(),
            scope: Scope::Conversation,
        })));
        let grant = request_text(&r, now, 120);
        assert!(
            grant.contains(
                "decision      approved by grant 0193a3f2-8c2d… (made by alice, conversation) at "
            ),
            "{grant}"
        );
        assert!(
            grant.contains(&format!("  via         grant {gid}\n")),
            "{grant}"
        );
        assert!(!grant.contains("approved by alice"), "{grant}");
        r.decision = Some(Box::new(Decision {
            approval_token: None,
            approved_params: None,
            approved_args_hash: None,
            responder: "policy:reads".into(),
            scope: Scope::Once,
            grant_id: None,
            ..decision(Via::Policy {
                rule: Some("reads".into()),
                action: PolicyAction::Allow,
            })
        }));
        let policy = request_text(&r, now, 120);
        assert!(
            policy.contains("decision      approved by policy rule reads at "),
            "{policy}"
        );
        assert!(
            policy.contains("  via         the policy (policy rule reads, action allow)"),
            "{policy}"
        );
    }
}
