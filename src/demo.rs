//! `assent demo`: the server in-process, a simulated fleet of agents, and the console on it.
//!
//! The backend runs on an ephemeral 127.0.0.1 port with an in-memory store. Each simulated
//! agent is a task with its own token that files realistic requests at a human pace, waits
//! for the decision (long poll), and reacts to it the way a real agent would: a follow-up
//! after an approval, a revised request after a rejection. Some requests carry a short TTL
//! and expire if left alone; some are cancelled by their agent. Quitting the console ends
//! everything.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::GlobalOpts;
use crate::client::Client;
use crate::config::{ClientSettings, ServerConfig, TokenConfig};
use crate::protocol::{ApprovalRequest, NewRequest, Risk, Role, Status};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DemoArgs {
    /// Seconds between an agent's requests, roughly (each agent varies around it).
    #[arg(long, value_name = "SECONDS", default_value_t = 12)]
    pub pace: u64,
}

pub fn main(g: &GlobalOpts, a: DemoArgs) -> ExitCode {
    // The demo reads only [console] keys and colours from a config; a missing file is fine.
    let console = match g.load_config() {
        Ok(cfg) => cfg.console,
        Err(e) => {
            eprintln!("assent demo: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let _log = crate::logging::to_file("demo");
    let rt = match crate::runtime::multi_thread(None) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(console, a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A fresh random secret (UUIDv7 carries 74 random bits; two of them make a token).
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::now_v7().simple(),
        uuid::Uuid::now_v7().simple()
    )
}

/// A small policy so the demo shows all of it: a harmless command runs without a person,
/// a forbidden delete is refused at once (both land in History), and big refunds are held
/// with the rule's words beside the reason.
const DEMO_POLICY: &str = r#"
[policy]
default = "require_approval"

[[policy.rules]]
name = "read-only-shell"
tool = "shell.run"
when = "params.command.startsWith('df ')"
action = "allow"
message = "Read-only disk checks run without a person."

[[policy.rules]]
name = "no-user-deletes"
tool = "db.delete"
when = "params.table == 'users'"
action = "deny"
message = "User rows are deleted by the GDPR job, never by an agent."

[[policy.rules]]
name = "big-refunds"
tool = "order_tools.process_refund"
when = "double(params.amount) >= 1000.0"
action = "require_approval"
message = "Refunds of 1000 EUR or more need a manager."
"#;

const AGENTS: [&str; 5] = [
    "order-manager",
    "support-bot",
    "db-janitor",
    "release-bot",
    "ops-shell",
];

async fn run(console: crate::config::ConsoleConfig, args: DemoArgs) -> anyhow::Result<()> {
    let reviewer = secret();
    let mut tokens = vec![TokenConfig {
        name: "you".to_owned(),
        role: Role::Reviewer,
        token: Some(reviewer.clone()),
        token_sha256: None,
    }];
    let agent_tokens: Vec<(&str, String)> = AGENTS.iter().map(|a| (*a, secret())).collect();
    for (name, tok) in &agent_tokens {
        tokens.push(TokenConfig {
            name: (*name).to_owned(),
            role: Role::Agent,
            token: Some(tok.clone()),
            token_sha256: None,
        });
    }
    let policy = crate::policy::parse_policy_text(DEMO_POLICY, "the demo policy")?;
    let server = crate::server::start(ServerConfig {
        listen: "127.0.0.1:0".to_owned(),
        db: Some(":memory:".to_owned()),
        tokens,
        policy: Some(std::sync::Arc::new(policy)),
        ..ServerConfig::default()
    })
    .await?;
    let url = server.url();
    tracing::info!(%url, "demo backend started");

    let pace = Duration::from_secs(args.pace.max(1));
    let mut fleet = JoinSet::new();
    for (i, (name, tok)) in agent_tokens.into_iter().enumerate() {
        let client = Client::new(&ClientSettings {
            url: url.clone(),
            token: Some(tok),
        })?;
        let agent = Agent {
            name,
            client,
            rng: Rng::new(
                0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
            ),
            pace,
            n: 0,
        };
        // Stagger the start so the queue fills over the first seconds, not at once.
        let delay = Duration::from_millis(400 + 900 * i as u64);
        fleet.spawn(async move {
            tokio::time::sleep(delay).await;
            agent.run().await;
        });
    }

    let settings = ClientSettings {
        url,
        token: Some(reviewer),
    };
    let result = crate::console::run(&settings, &console).await;
    fleet.abort_all();
    if let Err(e) = server.shutdown().await {
        tracing::warn!("demo backend shutdown: {e:#}");
    }
    result
}

/// xorshift64*: enough randomness for a demo, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng((seed ^ t) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

struct Agent {
    name: &'static str,
    client: Client,
    rng: Rng,
    pace: Duration,
    n: u64,
}

/// What to file, and how the agent behaves while it waits.
struct Plan {
    new: NewRequest,
    /// Cancel the request after this long if still pending (the agent changed its mind).
    cancel_after: Option<Duration>,
}

const CUSTOMERS: [(&str, &str); 6] = [
    ("Jane Park", "jane.park@example.com"),
    ("Omar Haddad", "omar.h@example.net"),
    ("Lena Schmidt", "lena.schmidt@example.de"),
    ("Kenji Watanabe", "kenji@example.jp"),
    ("Ana Souza", "ana.souza@example.com.br"),
    ("Tom O'Brien", "tobrien@example.ie"),
];

impl Agent {
    async fn run(mut self) {
        loop {
            let plan = self.plan();
            match self.file_and_wait(plan).await {
                Ok(Some(done)) => {
                    if let Some(next) = self.react(&done) {
                        tokio::time::sleep(Duration::from_secs(2 + self.rng.below(4))).await;
                        let _ = self.file_and_wait(next).await;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(agent = self.name, "demo agent: {e}");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
            let base = self.pace.as_millis() as u64;
            let jitter = self.rng.below(base.max(1));
            tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
        }
    }

    fn conversation(&mut self) -> String {
        format!("conv-{}-{:04}", &self.name[..3], self.rng.below(10_000))
    }

    fn request(&mut self, tool: &str, params: Value, reason: &str, risk: Risk) -> NewRequest {
        self.n += 1;
        NewRequest {
            tool: tool.to_owned(),
            params,
            reason: Some(reason.to_owned()),
            agent: self.name.to_owned(),
            conversation_id: None,
            run_id: Some(format!("run-{}-{}", self.name, 1 + self.n / 4)),
            tool_call_id: Some(format!("call_{:012x}", self.rng.next() & 0xffff_ffff_ffff)),
            risk: Some(risk),
            ttl_seconds: None,
        }
    }

    fn plan(&mut self) -> Plan {
        let mut cancel_after = None;
        let new = match self.name {
            "order-manager" => {
                let cents = *self.rng.pick(&[1250u64, 4999, 12000, 25000, 89900, 480000]);
                let (name, email) = *self.rng.pick(&CUSTOMERS);
                let order = format!("A-{}", 1000 + self.rng.below(9000));
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                let risk = match cents {
                    c if c < 5000 => Risk::Low,
                    c if c < 50000 => Risk::Medium,
                    _ => Risk::High,
                };
                let reason = *self.rng.pick(&[
                    "Customer reports the item arrived damaged",
                    "Package lost in transit according to the carrier",
                    "Duplicate charge on the customer's card",
                    "Customer cancelled within the 14-day window",
                ]);
                let mut r = self.request(
                    "order_tools.process_refund",
                    json!({
                        "order_id": order,
                        "amount": amount,
                        "currency": "EUR",
                        "customer": {"name": name, "email": email},
                        "method": "original_payment",
                    }),
                    reason,
                    risk,
                );
                r.conversation_id = Some(self.conversation());
                r
            }
            "support-bot" => {
                let (name, email) = *self.rng.pick(&CUSTOMERS);
                let first = name.split(' ').next().unwrap_or(name);
                let (subject, body) = *self.rng.pick(&[
                    (
                        "Your refund is on its way",
                        "we have issued a refund to your original payment method. It should appear within 3-5 business days.",
                    ),
                    (
                        "About your delayed order",
                        "your order has been delayed at our warehouse. We expect to ship it within two days and have upgraded your shipping for free.",
                    ),
                    (
                        "We could not verify your account",
                        "we could not verify the identity documents you sent. Please reply with a clearer photo of your ID.",
                    ),
                ]);
                let mut r = self.request(
                    "email.send",
                    json!({
                        "to": email,
                        "subject": subject,
                        "body": format!("Hello {first},\n\n{body}\n\nBest regards,\nThe Support Team"),
                    }),
                    "Reply to the customer's latest ticket",
                    Risk::Low,
                );
                if self.rng.chance(60) {
                    r.conversation_id = Some(self.conversation());
                }
                // Support replies go stale: left alone, they expire.
                r.ttl_seconds = Some(90 + self.rng.below(120));
                r
            }
            "db-janitor" => {
                let (table, filter, rows) = *self.rng.pick(&[
                    (
                        "sessions",
                        "last_seen < now() - interval '90 days'",
                        48213u64,
                    ),
                    ("audit_tmp", "created_at < '2026-01-01'", 1_204_332),
                    (
                        "carts",
                        "status = 'abandoned' AND updated_at < now() - interval '30 days'",
                        9120,
                    ),
                    ("users", "deleted_at IS NOT NULL", 311),
                ]);
                let risk = if table == "users" {
                    Risk::Critical
                } else {
                    Risk::High
                };
                let mut r = self.request(
                    "db.delete",
                    json!({"database": "prod-eu-1", "table": table, "where": filter, "estimated_rows": rows}),
                    "Scheduled retention cleanup",
                    risk,
                );
                // The maintenance window closes: an undecided cleanup expires.
                r.ttl_seconds = Some(45 + self.rng.below(60));
                r
            }
            "release-bot" => {
                let service = *self
                    .rng
                    .pick(&["checkout", "search-api", "billing-worker", "web"]);
                let env = if self.rng.chance(40) {
                    "production"
                } else {
                    "staging"
                };
                let version = format!("v2.{}.{}", 10 + self.rng.below(30), self.rng.below(10));
                let risk = if env == "production" {
                    Risk::High
                } else {
                    Risk::Medium
                };
                let mut r = self.request(
                    "deploy.release",
                    json!({
                        "service": service,
                        "environment": env,
                        "version": version,
                        "strategy": "canary",
                        "canary_percent": 10,
                        "changes": ["fix: retry payment webhook on 502", "feat: faster search ranking"],
                    }),
                    "CI passed on main; scheduled release",
                    risk,
                );
                r.conversation_id = Some(format!("release-{service}"));
                r
            }
            _ => {
                let (cmd, risk) = *self.rng.pick(&[
                    (
                        "kubectl rollout restart deployment/search-api -n prod",
                        Risk::High,
                    ),
                    ("df -h /var/lib/postgresql", Risk::Low),
                    ("rm -rf /var/log/app/*.gz", Risk::Medium),
                    ("systemctl restart nginx", Risk::Medium),
                    ("psql -c 'VACUUM FULL orders'", Risk::High),
                ]);
                let r = self.request(
                    "shell.run",
                    json!({"command": cmd, "host": "ops-bastion-2", "timeout_s": 120}),
                    "Investigating an on-call alert",
                    risk,
                );
                // Sometimes the alert resolves itself and the agent withdraws the request.
                if self.rng.chance(35) {
                    cancel_after = Some(Duration::from_secs(15 + self.rng.below(20)));
                }
                r
            }
        };
        Plan { new, cancel_after }
    }

    /// Files, then waits for the outcome; `None` if cancelled by this agent.
    async fn file_and_wait(
        &mut self,
        plan: Plan,
    ) -> Result<Option<ApprovalRequest>, crate::client::ClientError> {
        let filed = self.client.file(&plan.new, None).await?;
        let id = filed.request.id.clone();
        let started = tokio::time::Instant::now();
        loop {
            let wait = match plan.cancel_after {
                Some(after) => {
                    let left = after.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        let r = self.client.cancel(&id).await;
                        tracing::info!(agent = self.name, %id, ok = r.is_ok(), "demo agent cancelled");
                        return Ok(None);
                    }
                    left.as_secs().clamp(1, 20)
                }
                None => 20,
            };
            let r = self.client.wait(&id, wait).await?;
            if r.status != Status::Pending {
                return Ok(Some(r));
            }
        }
    }

    /// A follow-up, the way a real agent would continue after the decision.
    fn react(&mut self, done: &ApprovalRequest) -> Option<Plan> {
        let conv = done.conversation_id.clone();
        let new = match (self.name, done.status) {
            ("order-manager", Status::Approved) => {
                let mut r = self.request(
                    "email.send",
                    json!({
                        "to": done.params.pointer("/customer/email").cloned().unwrap_or(Value::Null),
                        "subject": "Your refund has been issued",
                        "body": format!("Hello,\n\nwe have refunded {} EUR for order {}.\n\nBest regards",
                            done.params.get("amount").and_then(Value::as_str).unwrap_or("the full amount"),
                            done.params.get("order_id").and_then(Value::as_str).unwrap_or("?")),
                    }),
                    "Tell the customer the refund went through",
                    Risk::Low,
                );
                r.conversation_id = conv;
                r
            }
            ("order-manager", Status::Rejected) => {
                let mut r = self.request(
                    "crm.add_note",
                    json!({
                        "order_id": done.params.get("order_id").cloned().unwrap_or(Value::Null),
                        "note": format!("Refund declined by a reviewer: {}",
                            done.decision.as_ref().and_then(|d| d.reason.clone()).unwrap_or_else(|| "no reason given".into())),
                    }),
                    "Record why the refund was declined",
                    Risk::Low,
                );
                r.conversation_id = conv;
                r
            }
            ("release-bot", Status::Approved)
                if done.params.get("environment").and_then(Value::as_str) == Some("staging") =>
            {
                let mut params = done.params.clone();
                params["environment"] = json!("production");
                let mut r = self.request(
                    "deploy.release",
                    params,
                    "Staging looks healthy; promote to production",
                    Risk::High,
                );
                r.conversation_id = conv;
                r
            }
            ("support-bot", Status::Rejected) => {
                let mut params = done.params.clone();
                params["body"] = json!(
                    "Hello,\n\nthank you for your patience. A colleague will get back to you personally within one business day.\n\nBest regards,\nThe Support Team"
                );
                let mut r = self.request(
                    "email.send",
                    params,
                    "Revised reply after the first draft was rejected",
                    Risk::Low,
                );
                r.conversation_id = conv;
                r
            }
            _ => return None,
        };
        Some(Plan {
            new,
            cancel_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_plans_a_valid_request() {
        for (i, name) in AGENTS.iter().enumerate() {
            let client = Client::new(&ClientSettings {
                url: "http://127.0.0.1:9".into(),
                token: None,
            })
            .unwrap();
            let mut a = Agent {
                name,
                client,
                rng: Rng::new(i as u64),
                pace: Duration::from_secs(1),
                n: 0,
            };
            for _ in 0..20 {
                let p = a.plan();
                assert_eq!(p.new.agent, *name);
                assert!(p.new.params.is_object());
                assert!(p.new.ttl_seconds.is_none_or(|t| t >= 1));
            }
        }
    }

    #[test]
    fn the_demo_policy_compiles_and_every_planned_call_evaluates_cleanly() {
        use crate::policy::{Call, parse_policy_text};
        let policy = parse_policy_text(DEMO_POLICY, "demo").unwrap();
        for (i, name) in AGENTS.iter().enumerate() {
            let client = Client::new(&ClientSettings {
                url: "http://127.0.0.1:9".into(),
                token: None,
            })
            .unwrap();
            let mut a = Agent {
                name,
                client,
                rng: Rng::new(i as u64 + 7),
                pace: Duration::from_secs(1),
                n: 0,
            };
            for _ in 0..30 {
                let p = a.plan();
                let v = policy.evaluate(&Call {
                    tool: &p.new.tool,
                    agent: &p.new.agent,
                    params: &p.new.params,
                    conversation_id: p.new.conversation_id.as_deref(),
                    run_id: p.new.run_id.as_deref(),
                    risk: p.new.risk,
                    filed_by: Some(name),
                });
                // A demo call that fails closed would show a policy error to every viewer.
                assert_eq!(v.error, None, "{}: {:?}", p.new.tool, p.new.params);
            }
        }
    }
}
