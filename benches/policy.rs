//! Cost of deciding a filing against a 200-rule policy (issue: "evaluating a 200-rule
//! policy per filing costs microseconds").

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

use assent::policy::{Call, parse_policy_text};

/// 200 rules shaped like a real policy: mostly tool globs that miss, some agent globs, and
/// a CEL condition on every fourth rule, so a call that falls through to the last rule
/// pays for 50 condition evaluations.
fn policy_text(rules: usize) -> String {
    let mut s = String::from("[policy]\ndefault = \"require_approval\"\n");
    for i in 0..rules {
        s.push_str(&format!("[[policy.rules]]\nname = \"rule-{i}\"\n"));
        match i % 4 {
            0 => s.push_str(&format!(
                "tool = \"order_tools.*\"\nwhen = \"params.amount > {} && params.currency == 'USD'\"\n",
                100_000 + i
            )),
            1 => s.push_str(&format!("tool = \"svc{i}.*\"\n")),
            2 => s.push_str(&format!("tool = \"*\"\nagent = \"team-{i}-*\"\n")),
            _ => s.push_str(&format!("tool = \"db.table{i}.delete\"\n")),
        }
        s.push_str("action = \"allow\"\n");
    }
    s
}

fn bench(c: &mut Criterion) {
    let policy = match parse_policy_text(&policy_text(200), "bench") {
        Ok(p) => p,
        Err(e) => panic!("bench policy must compile: {e:#}"),
    };
    let params = json!({"order_id": "A-1001", "amount": 250.0, "currency": "USD",
                        "items": [{"sku": "X", "qty": 2}]});
    let through = Call {
        tool: "order_tools.process_refund",
        agent: "order-manager",
        params: &params,
        conversation_id: Some("conv-1"),
        run_id: None,
        risk: None,
        filed_by: Some("order-bot"),
    };
    c.bench_function("policy_200_rules_fall_through_50_conditions", |b| {
        b.iter(|| policy.evaluate(std::hint::black_box(&through)))
    });
    let globs_only = Call {
        tool: "email.send",
        ..through
    };
    c.bench_function("policy_200_rules_globs_only", |b| {
        b.iter(|| policy.evaluate(std::hint::black_box(&globs_only)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
