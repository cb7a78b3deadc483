//! The body of a `format = "slack"` delivery: a Slack incoming webhook's `text` (the
//! notification line) and `blocks` (the message), saying what happened to which call and,
//! for a request still waiting, the exact commands that decide it.
//!
//! Everything an agent wrote (tool, agent, params, reason) is untrusted: it goes through
//! [`untrusted`], so that it can neither mention anyone (`<!channel>`, `<@U…>`, `@here`)
//! nor link anywhere (`<https://…|…>`), nor hide or reorder text (control, bidi and
//! invisible characters are shown as escapes, as in the console).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::protocol::{ApprovalRequest, Event, Grant, Outcome};
use crate::text::{age, fit, until};

/// `s` (untrusted) as Slack mrkdwn that shows it as it is, on one line of at most `max`
/// columns. Slack asks senders to escape `&`, `<` and `>`, which is what makes a control
/// sequence (`<!channel>`, `<@U123>`, `<url|label>`) plain text; `@` becomes the
/// full-width `＠`, so `@here` typed as text notifies nobody; a backtick becomes `ˋ`, so
/// the value cannot leave the code span it is shown in.
pub fn untrusted(s: &str, max: usize) -> String {
    let line = fit(&crate::sanitize::line(s), max);
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push('＠'),
            '`' => out.push('ˋ'),
            c => out.push(c),
        }
    }
    out
}

/// `s` in a code span: shown verbatim, in a monospace font, formatting characters inert.
fn code(s: &str, max: usize) -> String {
    if s.is_empty() {
        return "—".to_owned();
    }
    format!("`{}`", untrusted(s, max))
}

/// The body for `ev`, written at `now` (for the ages it shows).
pub fn body(ev: &Event, now: DateTime<Utc>) -> Value {
    let (headline, blocks) = match (&ev.request, &ev.grant) {
        (Some(r), _) => request_message(ev.kind.as_str(), r, now),
        (None, Some(g)) => grant_message(ev.kind.as_str(), g),
        (None, None) => ("assent: an event with nothing in it".to_owned(), Vec::new()),
    };
    json!({ "text": headline, "blocks": blocks })
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn request_message(kind: &str, r: &ApprovalRequest, now: DateTime<Utc>) -> (String, Vec<Value>) {
    let decision = r.decision.as_ref();
    let what = match (kind, decision.map(|d| d.outcome)) {
        ("request.created", _) => "Approval needed".to_owned(),
        ("request.escalated", _) => "Escalated: still waiting for a decision".to_owned(),
        ("request.approval_added", _) => format!(
            "Approved by {} of {}: waiting on {} more",
            r.approvals.len(),
            r.approvals_required,
            r.approvals_missing()
        ),
        ("request.decided", Some(Outcome::Approved)) => "Approved".to_owned(),
        ("request.decided", _) => "Rejected".to_owned(),
        ("request.expired", _) => "Expired undecided".to_owned(),
        ("request.cancelled", _) => "Cancelled by its filer".to_owned(),
        (other, _) => other.to_owned(),
    };
    let risk = r.risk.map_or("none given", |k| k.as_str());
    let headline = format!(
        "assent: {what}: {} by {} (risk: {risk})",
        untrusted(&r.tool, 80),
        untrusted(&r.agent, 80)
    );
    let mut when = format!("filed {} ago", age(r.created_at, now));
    if let Some(exp) = r.expires_at.filter(|_| !r.status.is_final()) {
        when.push_str(&format!(", expires in {}", until(exp, now)));
    }
    let summary = crate::console::text::summary(&r.params);
    let mut lines = vec![
        format!("*{what}*"),
        format!("*Tool:* {}", code(&r.tool, 100)),
        format!("*Agent:* {}", code(&r.agent, 100)),
        format!("*Risk:* {risk}"),
        format!("*Call:* {}", code(&summary, 300)),
        format!("*Reason:* {}", code(r.reason.as_deref().unwrap_or(""), 500)),
        format!("*When:* {when}"),
    ];
    if r.needs_several() {
        let who: Vec<String> = r
            .approvals
            .iter()
            .map(|a| code(&a.responder, 100))
            .collect();
        let who = if who.is_empty() {
            "nobody yet".to_owned()
        } else {
            who.join(", ")
        };
        lines.push(format!(
            "*Approvals:* {} of {} needed: {who}",
            r.approvals.len(),
            r.approvals_required
        ));
    }
    if let Some(d) = decision {
        lines.push(format!(
            "*Decided by:* {} ({})",
            code(&d.responder, 100),
            d.scope
        ));
        if let Some(reason) = &d.reason {
            lines.push(format!("*Their reason:* {}", code(reason, 500)));
        }
    }
    let mut blocks = vec![section(lines.join("\n"))];
    if !r.status.is_final() {
        // Ids are the server's own (UUIDs); escaped all the same.
        let id = untrusted(&r.id, 64);
        blocks.push(section(format!(
            "Decide from a terminal:\n```assent approve {id}\nassent reject {id} --reason \"…\"```"
        )));
    }
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("request {}", untrusted(&r.id, 64))}
    ]}));
    (headline, blocks)
}

fn grant_message(kind: &str, g: &Grant) -> (String, Vec<Value>) {
    let what = match kind {
        "grant.created" => "Standing grant made",
        "grant.revoked" => "Standing grant revoked",
        "grant.expired" => "Standing grant ended (past its duration, or used up)",
        other => other,
    };
    let headline = format!(
        "assent: {what}: {} for {} ({})",
        untrusted(&g.tool, 80),
        untrusted(&g.agent, 80),
        g.scope
    );
    let by = g.revoked_by.as_deref().unwrap_or(&g.created_by);
    let lines = [
        format!("*{what}*"),
        format!("*Tool:* {}", code(&g.tool, 100)),
        format!("*Agent:* {}", code(&g.agent, 100)),
        format!("*Scope:* {}", g.scope),
        format!("*By:* {}", code(by, 100)),
    ];
    let mut blocks = vec![section(lines.join("\n"))];
    if g.is_active() {
        blocks.push(section(format!(
            "Revoke from a terminal:\n```assent revoke {}```",
            untrusted(&g.id, 64)
        )));
    }
    (headline, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EventKind, Risk, Status};
    use crate::store::fixtures;

    fn created(r: ApprovalRequest) -> Event {
        Event {
            seq: 1,
            kind: EventKind::RequestCreated,
            at: r.created_at,
            request: Some(r),
            grant: None,
            database_id: None,
        }
    }

    #[test]
    fn agent_text_cannot_mention_link_or_hide() {
        let mut r = fixtures::request("r1", Status::Pending);
        r.agent = "<!channel> bot".into();
        r.tool = "<https://evil.example|click me>".into();
        r.reason = Some("ping <@U123ABC> and @here `x` & <!here>\u{202e}txt\u{200b}".into());
        r.params = serde_json::json!({"command": "<!everyone> rm"});
        r.risk = Some(Risk::High);
        let text = body(&created(r), Utc::now()).to_string();
        for raw in [
            "<!channel>",
            "<https://",
            "<@U123ABC>",
            "<!here>",
            "<!everyone>",
            "@here",
            "\u{202e}",
            "\u{200b}",
        ] {
            assert!(!text.contains(raw), "{raw:?} got through: {text}");
        }
        for shown in [
            "&lt;!channel&gt;",
            "&lt;https://evil.example|click me&gt;",
            "&lt;＠U123ABC&gt;",
            "&amp;",
            "\\\\u{202e}",
        ] {
            assert!(text.contains(shown), "{shown:?} missing: {text}");
        }
    }

    #[test]
    fn a_pending_request_names_everything_and_how_to_decide() {
        let mut r = fixtures::request("0190-abc", Status::Pending);
        r.tool = "shell.exec".into();
        r.agent = "deployer".into();
        r.risk = Some(Risk::Critical);
        r.reason = Some("roll out v2".into());
        r.params = serde_json::json!({"argv": ["kubectl", "apply"], "cwd": "/srv"});
        r.expires_at = Some(r.created_at + chrono::Duration::minutes(30));
        let now = r.created_at + chrono::Duration::minutes(3);
        let v = body(&created(r), now);
        let text = v.to_string();
        for words in [
            "Approval needed",
            "`shell.exec`",
            "`deployer`",
            "critical",
            "kubectl apply",
            "roll out v2",
            "filed 3m ago",
            "expires in 27m",
            "assent approve 0190-abc",
            "assent reject 0190-abc --reason",
        ] {
            assert!(text.contains(words), "{words:?} missing: {text}");
        }
        assert!(v["text"].as_str().unwrap().contains("shell.exec"));
    }

    #[test]
    fn a_decided_request_has_no_commands() {
        let r = fixtures::request("r1", Status::Approved);
        let mut ev = created(r);
        ev.kind = EventKind::RequestDecided;
        assert!(!body(&ev, Utc::now()).to_string().contains("assent approve"));
    }
}
