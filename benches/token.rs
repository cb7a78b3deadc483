//! Cost of an approval token: signing one (what every returned approved request pays) and
//! verifying one as `assent token verify` does (BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

use assent::protocol::ApprovalRequest;
use assent::token::keys::{Keyring, Signer};
use assent::token::verify::{Expect, verify};
use assent::token::{Claims, DEFAULT_TTL, sign};

fn bench(c: &mut Criterion) {
    let params = json!({"order_id": "A-1001", "amount": 250, "items": [{"sku": "X", "qty": 2}]});
    let now = chrono::Utc::now().to_rfc3339();
    let req: ApprovalRequest = match serde_json::from_value(json!({
        "id": "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f", "status": "approved",
        "tool": "order_tools.process_refund", "params": params,
        "args_hash": assent::protocol::args_hash(&params), "agent": "order-manager",
        "conversation_id": "conv-7f3a", "created_at": now,
        "decision": {"outcome": "approved", "scope": "once", "responder": "alice",
                     "decided_at": now}
    })) {
        Ok(r) => r,
        Err(e) => panic!("bench request: {e}"),
    };
    let (signer, row) = match Signer::generate() {
        Ok(k) => k,
        Err(e) => panic!("bench key: {e:#}"),
    };
    let jwks = Keyring::new(signer.clone(), vec![row]).jwks(chrono::Utc::now(), DEFAULT_TTL);
    c.bench_function("token: claims and Ed25519 signature of one approval", |b| {
        b.iter(|| Claims::of(&req, "assent", DEFAULT_TTL).map(|c| sign(&c, &signer)))
    });
    let token = match Claims::of(&req, "assent", DEFAULT_TTL).map(|c| sign(&c, &signer)) {
        Some(Ok(t)) => t,
        _ => panic!("bench token"),
    };
    let expect = Expect {
        tool: Some(req.tool.clone()),
        params: Some(req.params.clone()),
        issuer: Some("assent".into()),
    };
    c.bench_function("token: verify signature, expiry, tool and args_hash", |b| {
        b.iter(|| verify(&token, &jwks, &expect))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
