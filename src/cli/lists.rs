//! The tables of `list`, `grants` and `audit`: which columns they have, in which order,
//! and which give way first when the width is short (the fitting itself is `table`'s).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthStr as _;

use super::render::time;
use super::table::{Column, Table, output_width, short_ids};
use crate::client::UnreadableRow;
use crate::protocol::{
    ApprovalRequest, AuditEntry, Decision, Grant, PolicyAction, Scope, Status, Via,
};
use crate::sanitize;
use crate::text::{age, fit, until};

/// How a human table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: usize,
    pub full_ids: bool,
}

impl Layout {
    pub(super) fn here(full_ids: bool) -> Layout {
        Layout {
            width: output_width(),
            full_ids,
        }
    }

    /// The ids as the table shows them.
    pub(super) fn ids<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<&'a str, String> {
        let ids: Vec<&str> = ids.into_iter().collect();
        let shown = if self.full_ids {
            ids.iter().map(|s| (*s).to_owned()).collect()
        } else {
            short_ids(&ids)
        };
        ids.into_iter().zip(shown).collect()
    }
}

/// What the policy did with a request, in a word, for the tables: `review` marks calls
/// the policy let through for review after the fact (action `audit`).
fn policy_word(r: &ApprovalRequest) -> &'static str {
    let Some(p) = &r.policy else { return "" };
    match p.action {
        PolicyAction::Audit => "review",
        _ if p.error.is_some() => "failed",
        PolicyAction::Allow => "allow",
        PolicyAction::Deny => "deny",
        PolicyAction::RequireApproval if p.rule.is_some() => "held",
        PolicyAction::RequireApproval => "",
    }
}

/// Who or what decided, for the BY column: the reviewer's name, `via grant 0193a3f2-8c2d
/// (alice, conversation)` (the grant's id as the table shows ids) or `policy: reads`.
fn by_cell(d: &Decision, shown: impl Fn(&str) -> String) -> String {
    match &d.via {
        Via::Person => d.responder.clone(),
        Via::Grant {
            grant_id,
            granted_by,
            scope,
        } => format!("via grant {} ({granted_by}, {scope})", shown(grant_id)),
        Via::Policy { rule, .. } => format!("policy: {}", rule.as_deref().unwrap_or("default")),
        Via::Timeout => "timeout".to_owned(),
    }
}

/// Time left to decide a pending request: `9m`, or `-` when it never expires. Blank for
/// a final request, which has no time left to count: a table of those leaves the
/// column out.
fn left_cell(r: &ApprovalRequest, now: DateTime<Utc>) -> String {
    match r.expires_at {
        _ if r.status.is_final() => String::new(),
        Some(e) => until(e, now),
        None => "-".to_owned(),
    }
}

pub fn requests_table(
    requests: &[ApprovalRequest],
    filter: Option<Status>,
    now: DateTime<Utc>,
    layout: Layout,
) -> String {
    if requests.is_empty() {
        return match filter {
            Some(s) => format!("No {s} requests.\n"),
            None => "No requests.\n".to_owned(),
        };
    }
    // The grants that decided requests are shortened with them, so that each prefix
    // is unique among what the table shows (and `assent revoke` takes it).
    let grant_ids = requests
        .iter()
        .filter_map(|r| match r.decision.as_ref().map(|d| &d.via) {
            Some(Via::Grant { grant_id, .. }) => Some(grant_id.as_str()),
            _ => None,
        });
    let ids = layout.ids(requests.iter().map(|r| r.id.as_str()).chain(grant_ids));
    let shown = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    // One status asked for: every row has it, so the column would only take room.
    let with_status = filter.is_none();
    let with_policy = requests.iter().any(|r| !policy_word(r).is_empty());
    let mut cols = vec![Column::fixed("ID")];
    if with_status {
        cols.push(Column::fixed("STATUS"));
    }
    if with_policy {
        cols.push(Column::fixed("POLICY"));
    }
    // Short of room, the agent's reason goes first, then who decided, then the time
    // left; the risk goes last: it says how closely to read the call.
    cols.extend([
        Column::fixed("AGE"),
        Column::optional("LEFT", 4).keep(3),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::optional("RISK", 4).keep(4),
        Column::optional("BY", 6).keep(2),
        Column::optional("REASON", 10).keep(1),
    ]);
    let mut t = Table::new(cols);
    for r in requests {
        let mut row = vec![shown(&r.id)];
        if with_status {
            row.push(r.status.as_str().to_owned());
        }
        if with_policy {
            row.push(policy_word(r).to_owned());
        }
        row.extend([
            age(r.created_at, now),
            left_cell(r, now),
            r.agent.clone(),
            r.tool.clone(),
            r.risk.map_or("", |x| x.as_str()).to_owned(),
            match (&r.decision, approvers_words(r)) {
                (Some(d), Some(all)) => format!("{} ({all})", by_cell(d, shown)),
                (Some(d), None) => by_cell(d, shown),
                (None, Some(so_far)) => so_far,
                (None, None) => String::new(),
            },
            r.reason.clone().unwrap_or_default(),
        ]);
        t.row(row);
    }
    t.render(layout.width)
}

/// For a request that needs several approvals: `1/2 alice`, how many and who so far.
fn approvers_words(r: &ApprovalRequest) -> Option<String> {
    let progress = r.approvals_progress()?;
    let who: Vec<&str> = r.approvals.iter().map(|a| a.responder.as_str()).collect();
    Some(if who.is_empty() {
        progress
    } else {
        format!("{progress} {}", who.join(","))
    })
}

/// What `list` says of the rows it could not read, two lines each: the id (whole, for
/// a lookup) and why, cut to `width`.
pub fn unreadable_lines(rows: &[UnreadableRow], width: usize) -> String {
    let mut out = String::new();
    for row in rows {
        let what = row.id.as_deref().map_or_else(
            || "a request (its id unknown)".to_owned(),
            |id| format!("request {}", sanitize::line(id)),
        );
        out.push_str(&fit(
            &format!("{what}: could not be read, not listed"),
            width,
        ));
        out.push('\n');
        out.push_str(&fit(&format!("  {}", sanitize::line(&row.error)), width));
        out.push('\n');
    }
    out
}

pub fn grants_table(grants: &[Grant], now: DateTime<Utc>, layout: Layout) -> String {
    if grants.is_empty() {
        return "No active grants.\n".to_owned();
    }
    let ids = layout.ids(
        grants
            .iter()
            .flat_map(|g| std::iter::once(g.id.as_str()).chain(g.source_request_id.as_deref())),
    );
    let shown = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let mut t = Table::new(vec![
        Column::fixed("ID"),
        Column::fixed("AGE"),
        Column::flex("AGENT"),
        Column::flex("TOOL"),
        Column::flex("SCOPE"),
        Column::optional("ENDS", 4).keep(2),
        Column::optional("BY", 6).keep(1),
        Column::optional("FROM REQUEST", 13).keep(0),
    ]);
    for gr in grants {
        // The conversation is what a conversation grant is about: keep it with the scope.
        let scope = match (&gr.scope, &gr.conversation_id) {
            (Scope::Conversation, Some(c)) => format!("conv:{c}"),
            (s, _) => s.to_string(),
        };
        t.row([
            shown(&gr.id),
            age(gr.created_at, now),
            gr.agent.clone(),
            gr.tool.clone(),
            scope,
            crate::text::grant_ends(gr, now),
            gr.created_by.clone(),
            gr.source_request_id
                .as_deref()
                .map(shown)
                .unwrap_or_default(),
        ]);
    }
    t.render(layout.width)
}

/// The audit log for people: one line per entry (sequence, time, what happened, to which
/// request or grant, by whom), and its details beside it when the width allows, or on a
/// second line below it. Calls the policy let through for review (action `audit`) are
/// marked `[review]`, on their `filed` entry and on the policy's `approved` entry.
pub fn audit_table(entries: &[AuditEntry], layout: Layout) -> String {
    if entries.is_empty() {
        return "The audit log is empty.\n".to_owned();
    }
    let to_review: HashSet<&str> = entries
        .iter()
        .filter(|e| e.policy.as_ref().is_some_and(|p| p.needs_review()))
        .filter_map(|e| e.request_id.as_deref())
        .collect();
    let ids = layout.ids(entries.iter().flat_map(|e| {
        e.request_id
            .as_deref()
            .into_iter()
            .chain(e.grant_id.as_deref())
    }));
    let shown = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let rows: Vec<([String; 5], String)> = entries
        .iter()
        .map(|e| {
            let is_grant = e.action.starts_with("grant_");
            // A grant entry is about the grant: its id is the one `assent revoke` takes.
            let subject = if is_grant {
                e.grant_id.as_deref()
            } else {
                e.request_id.as_deref()
            };
            let review = e
                .request_id
                .as_deref()
                .is_some_and(|id| to_review.contains(id))
                && (e.action == "filed" || e.actor.starts_with("policy:"));
            let mut detail: Vec<String> = Vec::new();
            if review {
                detail.push("[review]".into());
            }
            // Most telling first: a cut note loses the free text at its end, not the rule.
            detail.extend(
                [
                    e.policy
                        .as_ref()
                        .map(|p| format!("policy {}", p.describe())),
                    e.policy
                        .as_ref()
                        .and_then(|p| p.error.as_ref())
                        .map(|err| format!("(failed closed: {err})")),
                    // What a grant approved reads apart from the approval that made it.
                    match (&e.via, e.grant_id.as_deref()) {
                        _ if is_grant => None,
                        (Some(Via::Grant { grant_id, .. }), _) => {
                            Some(format!("via grant {}", shown(grant_id)))
                        }
                        (Some(Via::Person), Some(g)) => Some(format!("made grant {}", shown(g))),
                        (_, g) => g.map(|g| format!("grant {}", shown(g))),
                    },
                    e.approved_args_hash
                        .as_ref()
                        .map(|h| format!("edited params {h}")),
                    e.scope
                        .filter(|s| *s != Scope::Once)
                        .map(|s| format!("scope {s}")),
                    if is_grant {
                        e.request_id
                            .as_deref()
                            .map(|r| format!("from request {}", shown(r)))
                    } else {
                        None
                    },
                    e.tool.clone(),
                    e.agent.as_ref().map(|a| format!("from {a}")),
                    e.reason.as_ref().map(|r| format!("\"{r}\"")),
                ]
                .into_iter()
                .flatten(),
            );
            let cells = [
                e.seq.to_string(),
                time(e.at),
                // "decided" alone says little: the outcome is the news.
                match (e.action.as_str(), &e.outcome) {
                    ("decided", Some(o)) => o.clone(),
                    (a, _) => a.to_owned(),
                },
                subject.map(shown).unwrap_or_else(|| "-".to_owned()),
                e.actor.clone(),
            ];
            (cells, detail.join(" "))
        })
        .collect();
    let columns = || {
        vec![
            Column::fixed("SEQ"),
            Column::fixed("TIME"),
            Column::fixed("ACTION"),
            Column::fixed("REQUEST/GRANT"),
            Column::flex("ACTOR"),
        ]
    };
    let mut t = Table::new(columns());
    for (cells, detail) in &rows {
        t.row_with_note(cells, detail);
    }
    // Details beside each entry when they get room to be read (all of it, or 60 columns),
    // on a line of their own below it otherwise.
    let detail_width = rows.iter().map(|(_, d)| d.width()).max().unwrap_or(0);
    if t.natural_width() + 2 + detail_width.min(60) <= layout.width {
        let mut inline = Table::new([columns(), vec![Column::flex("DETAIL")]].concat());
        for (cells, detail) in &rows {
            inline.row(cells.iter().map(String::as_str).chain([detail.as_str()]));
        }
        return inline.render(layout.width);
    }
    t.render(layout.width)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::req;
    use super::super::render::request_text;
    use super::*;
    use crate::text::until;
    use chrono::Duration;
    use unicode_width::UnicodeWidthStr;

    const AT_80: Layout = Layout {
        width: 80,
        full_ids: false,
    };

    #[test]
    fn unreadable_rows_are_named_within_the_width() {
        let rows = [
            UnreadableRow {
                id: Some("01a2332e-dbd2-72cd-92b9-9da5569ea431".into()),
                error: format!(
                    "recursion limit exceeded at line 1 column {}",
                    "9".repeat(80)
                ),
            },
            UnreadableRow {
                id: None,
                error: "unknown variant `\u{1b}[31mon-hold`".into(),
            },
        ];
        let out = unreadable_lines(&rows, 80);
        assert!(out.lines().all(|l| l.width() <= 80), "{out}");
        assert!(out.starts_with(
            "request 01a2332e-dbd2-72cd-92b9-9da5569ea431: could not be read, not listed\n  recursion limit"
        ), "{out}");
        assert!(
            out.contains("a request (its id unknown): could not be read"),
            "{out}"
        );
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn list_table_fits_80_columns() {
        let now = Utc::now();
        let rows = vec![
            req(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
                &"a long reason ".repeat(9),
                now - Duration::seconds(75),
            ),
            req(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789ac",
                "short",
                now - Duration::hours(3),
            ),
        ];
        let out = requests_table(&rows, Some(Status::Pending), now, AT_80);
        for line in out.lines() {
            assert!(line.width() <= 80, "{line:?} is {} columns", line.width());
        }
        assert!(
            out.contains("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"),
            "ids are never cut: {out}"
        );
        assert!(out.contains("1m") && out.contains("3h"));
        assert!(out.contains('…'));
        assert_eq!(
            requests_table(&[], Some(Status::Pending), now, AT_80),
            "No pending requests.\n"
        );
    }

    #[test]
    fn show_names_the_policy_rule_and_flags_audited_calls() {
        use crate::protocol::{PolicyAction, PolicyMatch};
        let now = Utc::now();
        let mut r = req("r1", "why", now);
        r.policy = Some(PolicyMatch {
            rule: Some("watch-interns".into()),
            action: PolicyAction::Audit,
            message: Some("New agent.".into()),
            error: None,
        });
        let out = request_text(&r, now, 80);
        assert!(
            out.contains("policy        watch-interns → audit: New agent."),
            "{out}"
        );
        assert!(out.contains("review it"), "{out}");
        // Marked in the list too.
        r.status = Status::Approved;
        let out = requests_table(&[r], None, now, AT_80);
        let row = out.lines().nth(1).unwrap();
        assert!(row.contains("approved") && row.contains("review"), "{out}");
    }

    #[test]
    fn wider_terminals_show_more() {
        let now = Utc::now();
        let mut r = req(
            "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
            "damaged item, customer upset",
            now,
        );
        r.risk = Some(crate::protocol::Risk::High);
        let narrow = requests_table(std::slice::from_ref(&r), Some(Status::Pending), now, AT_80);
        let wide = requests_table(
            std::slice::from_ref(&r),
            Some(Status::Pending),
            now,
            Layout {
                width: 160,
                full_ids: true,
            },
        );
        assert!(wide.contains("RISK") && wide.contains("high"), "{wide}");
        assert!(wide.contains("damaged item, customer upset"), "{wide}");
        assert!(wide.contains(&r.id), "{wide}");
        assert!(
            !narrow.contains(&r.id) && narrow.contains("0193a3f2-7b1c "),
            "{narrow}"
        );
    }

    #[test]
    fn list_keeps_risk_and_time_left_ahead_of_the_reason_at_80_columns() {
        let now = Utc::now();
        // Ids of requests filed a few seconds apart: their short forms are 13 characters.
        let mut r = req(
            "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
            "damaged item, customer upset, see ticket 4411",
            now - Duration::seconds(75),
        );
        r.risk = Some(crate::protocol::Risk::Critical);
        r.expires_at = Some(now + Duration::minutes(9) + Duration::seconds(30));
        let mut no_expiry = req("0193a3f2-8d2e-7cc0-9d1e-0123456789ac", "short", now);
        no_expiry.risk = Some(crate::protocol::Risk::Low);
        let out = requests_table(&[r.clone(), no_expiry], Some(Status::Pending), now, AT_80);
        let header = out.lines().next().unwrap();
        assert!(
            header.contains("RISK") && header.contains("LEFT") && !header.contains("REASON"),
            "{out}"
        );
        let row = out.lines().nth(1).unwrap();
        assert!(row.contains("critical") && row.contains(" 9m "), "{out}");
        assert!(out.lines().nth(2).unwrap().contains(" - "), "{out}");
        for line in out.lines() {
            assert!(line.width() <= 80, "{line:?}");
        }
        // With room, every column.
        let wide = Layout {
            width: 160,
            full_ids: false,
        };
        let out = requests_table(std::slice::from_ref(&r), None, now, wide);
        assert!(out.lines().next().unwrap().contains("REASON"), "{out}");
        // Decided, there is no time left to count: a table of such leaves LEFT out.
        r.status = Status::Approved;
        let out = requests_table(&[r], None, now, wide);
        assert!(!out.contains("LEFT"), "{out}");
    }

    #[test]
    fn list_says_who_or_what_decided() {
        use crate::protocol::{Decision, Outcome, PolicyAction};
        let now = Utc::now();
        let gid = "0193a3f2-8c2d-7dd0-8e2f-0123456789ab";
        let decided = |id: &str, responder: &str, via: Via| {
            let mut r = req(id, "", now);
            r.reason = None;
            r.status = Status::Approved;
            r.decision = Some(Box::new(Decision {
                approval_token: None,
                approved_params: None,
                approved_args_hash: None,
                outcome: Outcome::Approved,
                scope: Scope::Conversation,
                reason: None,
                notify_agent: false,
                responder: responder.into(),
                decided_at: now,
                grant_id: None,
                via,
            }));
            r
        };
        let rows = [
            decided("0193a3f2-7b1c-7cc0-9d1e-0123456789a1", "alice", Via::Person),
            decided(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789a2",
                "alice",
                Via::Grant {
                    grant_id: gid.into(),
                    granted_by: "alice".into(),
                    scope: Scope::Conversation,
                },
            ),
            decided(
                "0193a3f2-7b1c-7cc0-9d1e-0123456789a3",
                "policy:reads",
                Via::Policy {
                    rule: Some("reads".into()),
                    action: PolicyAction::Allow,
                },
            ),
        ];
        let wide = Layout {
            width: 160,
            full_ids: false,
        };
        let out = requests_table(&rows, Some(Status::Approved), now, wide);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("BY"), "{out}");
        assert!(lines[1].trim_end().ends_with("alice"), "{out}");
        assert!(
            lines[2].contains("via grant 0193a3f2-8c2d (alice, conversation)"),
            "{out}"
        );
        assert!(lines[3].contains("policy: reads"), "{out}");
    }

    fn entry(seq: u64, actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: Utc::now(),
            actor: actor.into(),
            action: action.into(),
            request_id: Some("0193a3f2-7b1c-7cc0-9d1e-0123456789ab".into()),
            tool: Some("order_tools.process_refund".into()),
            agent: Some("intern-3".into()),
            outcome: None,
            scope: None,
            reason: None,
            args_hash: None,
            approved_args_hash: None,
            grant_id: None,
            policy: None,
            via: None,
            prev_hash: None,
            hash: None,
        }
    }

    #[test]
    fn audit_at_80_columns_names_the_policy_and_the_grant() {
        use crate::protocol::{PolicyAction, PolicyMatch};
        let mut filed = entry(1, "intern-token", "filed");
        filed.reason = Some("customer asked twice, see the ticket".into());
        filed.policy = Some(PolicyMatch {
            rule: Some("watch-interns".into()),
            action: PolicyAction::Audit,
            message: Some("New agent: reviewed after the fact.".into()),
            error: None,
        });
        let mut decided = entry(2, "policy:watch-interns", "decided");
        decided.outcome = Some("approved".into());
        let mut granted = entry(3, "alice", "grant_created");
        granted.grant_id = Some("0193a3f2-8c2d-7dd0-8e2f-0123456789ab".into());
        granted.scope = Some(Scope::Always);
        let out = audit_table(&[filed, decided, granted], AT_80);
        for line in out.lines() {
            assert!(
                line.width() <= 80,
                "{line:?} is {} wide\n{out}",
                line.width()
            );
        }
        assert!(
            out.contains("policy:watch-interns"),
            "the actor is readable: {out}"
        );
        assert!(
            out.contains("policy watch-interns → audit: New agent"),
            "the rule is named: {out}"
        );
        assert_eq!(
            out.matches("[review]").count(),
            2,
            "filed and approved are marked: {out}"
        );
        let grant_line = out.lines().find(|l| l.contains("grant_created")).unwrap();
        assert!(
            grant_line.contains("0193a3f2-8c2d "),
            "the grant's id, as revoke takes it: {out}"
        );
        assert!(out.contains("from request 0193a3f2-7b1c"), "{out}");
        // Wide enough: one line per entry, details beside.
        let wide = audit_table(
            &[entry(1, "a", "filed")],
            Layout {
                width: 200,
                full_ids: false,
            },
        );
        assert_eq!(wide.lines().count(), 2, "{wide}");
        assert!(wide.starts_with("SEQ") && wide.contains("DETAIL"), "{wide}");
    }

    #[test]
    fn audit_tells_a_grant_s_approvals_from_the_approval_that_made_it() {
        let gid = "0193a3f2-8c2d-7dd0-8e2f-0123456789ab";
        let at = DateTime::parse_from_rfc3339("2026-12-01T19:13:09.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let decided = |seq, request: &str, via| AuditEntry {
            at,
            request_id: Some(request.into()),
            outcome: Some("approved".into()),
            scope: Some(Scope::Conversation),
            grant_id: Some(gid.into()),
            via: Some(via),
            ..entry(seq, "alice", "decided")
        };
        let mut made = entry(2, "alice", "grant_created");
        made.grant_id = Some(gid.into());
        made.scope = Some(Scope::Conversation);
        let by_grant = Via::Grant {
            grant_id: gid.into(),
            granted_by: "alice".into(),
            scope: Scope::Conversation,
        };
        let entries = [
            decided(1, "0193a3f2-7b1c-7cc0-9d1e-0123456789ab", Via::Person),
            made,
            decided(3, "0193a3f2-9e3f-7cc0-9d1e-0123456789ab", by_grant),
        ];
        for width in [80, 200] {
            let layout = Layout {
                width,
                full_ids: false,
            };
            let out = audit_table(&entries, layout);
            assert!(out.contains("2026-12-01T19:13:09Z"), "{out}");
            let made_at = out.find("made grant 0193a3f2-8c2d").unwrap_or(usize::MAX);
            let via_at = out.find("via grant 0193a3f2-8c2d").unwrap_or(usize::MAX);
            assert!(made_at < via_at && via_at < usize::MAX, "{out}");
            assert_eq!(out.matches("via grant").count(), 1, "{out}");
            for line in out.lines() {
                assert!(line.width() <= width, "{line:?}\n{out}");
            }
        }
    }

    #[test]
    fn ages() {
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(12), now), "12s");
        assert_eq!(age(now - Duration::minutes(4), now), "4m");
        assert_eq!(age(now - Duration::hours(2), now), "2h");
        assert_eq!(age(now - Duration::days(3), now), "3d");
        assert_eq!(until(now + Duration::minutes(5), now), "5m");
        // The console's word for the same request: one formatter.
        assert_eq!(
            age(now - Duration::hours(30), now),
            crate::console::text::age(now - Duration::hours(30), now)
        );
        assert_eq!(age(now - Duration::hours(30), now), "30h");
    }
}
