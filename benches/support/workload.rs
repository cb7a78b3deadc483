//! Realistic, deterministic requests for the benchmarks (criterion benches and the load
//! generator share this file through `#[path]`): the same six kinds of call the demo's
//! agents file, with parameters of a realistic size and shape, so a benchmark pays for
//! the JSON, the summaries and the filter text a real queue holds.
#![allow(dead_code)]

use assent::protocol::{ApprovalRequest, Decision, NewRequest, Outcome, Risk, Scope, Status};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

const AGENTS: [&str; 6] = [
    "order-manager",
    "support-bot",
    "db-janitor",
    "release-bot",
    "ops-shell",
    "crm-sync",
];

const CUSTOMERS: [(&str, &str); 6] = [
    ("Jane Park", "jane.park@example.com"),
    ("Omar Haddad", "omar.h@example.net"),
    ("Lena Schmidt", "lena.schmidt@example.de"),
    ("Kenji Watanabe", "kenji@example.jp"),
    ("Ana Souza", "ana.souza@example.com.br"),
    ("Tom O'Brien", "tobrien@example.ie"),
];

/// A cheap deterministic mix of `i` (splitmix64), so request `i` is always the same.
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(items: &[T], r: u64) -> T {
    items[(r % items.len() as u64) as usize]
}

/// The `i`-th request an agent would file.
pub fn new_request(i: u64) -> NewRequest {
    let r = mix(i);
    let (name, email) = pick(&CUSTOMERS, r >> 8);
    let agent = AGENTS[(i % AGENTS.len() as u64) as usize];
    let (tool, params, reason, risk, conv) = match i % 6 {
        0 => {
            let cents = pick(&[1250u64, 4999, 12000, 25000, 89900, 480000], r >> 16);
            (
                "order_tools.process_refund",
                json!({
                    "order_id": format!("A-{}", 1000 + (r >> 20) % 9000),
                    "amount": format!("{}.{:02}", cents / 100, cents % 100),
                    "currency": "EUR",
                    "customer": {"name": name, "email": email},
                    "method": "original_payment",
                }),
                pick(
                    &[
                        "Customer reports the item arrived damaged",
                        "Package lost in transit according to the carrier",
                        "Duplicate charge on the customer's card",
                    ],
                    r >> 24,
                ),
                if cents < 5000 {
                    Risk::Low
                } else {
                    Risk::Medium
                },
                Some(format!("conv-ord-{:04}", (r >> 28) % 10_000)),
            )
        }
        1 => (
            "email.send",
            json!({
                "to": email,
                "subject": "Your refund is on its way",
                "body": format!("Hello {name},\n\nwe have issued a refund to your original payment \
                    method. It should appear within 3-5 business days.\n\nBest regards,\nThe Support Team"),
            }),
            "Reply to the customer's latest ticket",
            Risk::Low,
            Some(format!("conv-sup-{:04}", (r >> 28) % 10_000)),
        ),
        2 => {
            let (table, filter) = pick(
                &[
                    ("sessions", "last_seen < now() - interval '90 days'"),
                    ("audit_tmp", "created_at < '2026-01-01'"),
                    ("users", "deleted_at IS NOT NULL"),
                ],
                r >> 16,
            );
            (
                "db.delete",
                json!({"database": "prod-eu-1", "table": table, "where": filter,
                       "estimated_rows": (r >> 32) % 2_000_000}),
                "Scheduled retention cleanup",
                if table == "users" {
                    Risk::Critical
                } else {
                    Risk::High
                },
                None,
            )
        }
        3 => {
            let service = pick(
                &["checkout", "search-api", "billing-worker", "web"],
                r >> 16,
            );
            (
                "deploy.release",
                json!({
                    "service": service,
                    "environment": if r & 1 == 0 { "production" } else { "staging" },
                    "version": format!("v2.{}.{}", 10 + (r >> 20) % 30, (r >> 24) % 10),
                    "strategy": "canary",
                    "canary_percent": 10,
                    "changes": ["fix: retry payment webhook on 502", "feat: faster search ranking"],
                }),
                "CI passed on main; scheduled release",
                Risk::High,
                Some(format!("release-{service}")),
            )
        }
        4 => (
            "shell.run",
            json!({
                "command": pick(&[
                    "kubectl rollout restart deployment/search-api -n prod",
                    "df -h /var/lib/postgresql",
                    "rm -rf /var/log/app/*.gz",
                    "systemctl restart nginx",
                ], r >> 16),
                "host": "ops-bastion-2",
                "timeout_s": 120,
            }),
            "Investigating an on-call alert",
            Risk::Medium,
            None,
        ),
        _ => (
            "crm.add_note",
            json!({
                "customer_id": format!("C-{}", (r >> 16) % 100_000),
                "note": format!("{name} asked about their order; promised a call back tomorrow."),
                "tags": ["follow-up", "order"],
            }),
            "Keep the CRM in step with the conversation",
            Risk::Low,
            Some(format!("conv-crm-{:04}", (r >> 28) % 10_000)),
        ),
    };
    NewRequest {
        tool: tool.to_owned(),
        params,
        reason: Some(reason.to_owned()),
        agent: agent.to_owned(),
        conversation_id: conv,
        run_id: Some(format!("run-{agent}-{}", i / 4)),
        tool_call_id: None,
        risk: Some(risk),
        ttl_seconds: None,
    }
}

/// A server-style id (UUIDv7 text) for request `i`.
pub fn id(i: u64) -> String {
    uuid::Uuid::from_u128((0x0193_0000_0000_7000_8000_0000_0000_0000u128) | u128::from(i) << 32)
        .to_string()
}

/// Request `i` as the backend returns it while pending: filed `age_secs` before `now`,
/// one in four with an expiry in the next hour.
pub fn pending(i: u64, now: DateTime<Utc>, age_secs: i64) -> ApprovalRequest {
    let new = new_request(i);
    let expires_at = i
        .is_multiple_of(4)
        .then(|| now + Duration::seconds(60 + (mix(i) % 3600) as i64));
    ApprovalRequest {
        id: id(i),
        status: Status::Pending,
        args_hash: assent::protocol::args_hash(&new.params),
        tool: new.tool,
        params: new.params,
        reason: new.reason,
        agent: new.agent.clone(),
        conversation_id: new.conversation_id,
        run_id: new.run_id,
        tool_call_id: Some(format!("call_{:012x}", mix(i) & 0xffff_ffff_ffff)),
        risk: new.risk,
        filed_by: new.agent,
        created_at: now - Duration::seconds(age_secs),
        expires_at,
        policy: None,
        decision: None,
        params_truncated: false,
        params_size: None,
        escalate_at: None,
        escalated_at: None,
        on_timeout: Default::default(),
        approvals_required: 1,
        approvals: Vec::new(),
    }
}

/// `n` pending requests, oldest first, filed one every 50 ms up to `now`.
pub fn queue(n: u64, now: DateTime<Utc>) -> Vec<ApprovalRequest> {
    (0..n)
        .map(|i| pending(i, now, ((n - i) / 20) as i64))
        .collect()
}

/// `req` approved once by a reviewer at `at`.
pub fn approved(mut req: ApprovalRequest, at: DateTime<Utc>) -> ApprovalRequest {
    req.status = Status::Approved;
    req.decision = Some(Box::new(Decision {
        approval_token: None,
        approved_params: None,
        approved_args_hash: None,
        outcome: Outcome::Approved,
        scope: Scope::Once,
        reason: None,
        notify_agent: false,
        responder: "alice".to_owned(),
        decided_at: at,
        grant_id: None,
        via: Default::default(),
    }));
    req
}
