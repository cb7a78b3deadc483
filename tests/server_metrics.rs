//! `GET /metrics` on the real server: who may scrape it, what it counts after real
//! filings, decisions and expiries, the gauges of open streams and long polls, the
//! token-free `metrics_listen` address, and that an outside parser (the Prometheus
//! project's own Python client) reads what it writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use assent::protocol::Risk;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

const SCRAPE: &str = "scrape-token-0001";

async fn server() -> TestServer {
    TestServer::start_configured(|cfg| {
        cfg.metrics_token = Some(SCRAPE.into());
        cfg.metrics_listen = Some(ANY_PORT.into());
    })
    .await
}

/// The scrape as the holder of `token`: status, content type, body.
async fn scrape(url: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut rb = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .timeout(Duration::from_secs(10));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap())
}

/// The value of the sample `name{labels}` (labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn only_the_scrape_token_and_admins_may_read_it() {
    let srv = server().await;
    let (status, _, body) = scrape(&srv.url, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("metrics_token"), "{body}");
    for (token, want) in [
        (AGENT1, StatusCode::FORBIDDEN),
        (ALICE, StatusCode::FORBIDDEN),
        ("not-a-token", StatusCode::UNAUTHORIZED),
        (ROOT, StatusCode::OK),
        (SCRAPE, StatusCode::OK),
    ] {
        let (status, ctype, body) = scrape(&srv.url, Some(token)).await;
        assert_eq!(status, want, "{token}: {body}");
        if want == StatusCode::OK {
            assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
            assert!(body.ends_with("# EOF\n"), "{body}");
        }
    }
    // The scrape token opens /metrics only.
    let (status, _) = srv.http(SCRAPE).get("/v1/requests").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    srv.shutdown().await;
}

each_store! {
#[tokio::test]
async fn it_counts_filings_decisions_and_expiries_and_gauges_pending_by_risk() {
    let srv = server().await;
    let agent = srv.http(AGENT1);
    let mut high = call("db.delete", "ops-bot", json!({"table": "users"}));
    high.risk = Some(Risk::High);
    let high = agent.file(&high).await;
    let plain = agent
        .file(&call("email.send", "ops-bot", json!({"to": "x@y"})))
        .await;
    let mut short = call("deploy", "ops-bot", json!({"env": "prod"}));
    short.ttl_seconds = Some(1);
    let short = agent.file(&short).await;

    let (status, _) = srv.http(ALICE).decide(&high, "approve", "once").await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        "the short request expires",
        Duration::from_secs(10),
        || async {
            (srv.status_of(short["id"].as_str().unwrap()).await
                == assent::protocol::Status::Expired)
                .then_some(())
        },
    )
    .await;

    let (_, _, t) = scrape(&srv.url, Some(SCRAPE)).await;
    let filed =
        r#"assent_requests_filed_total{outcome="pending",policy_action="require_approval"}"#;
    assert_eq!(sample(&t, filed), Some(3.0), "{t}");
    let decided = r#"assent_decisions_total{outcome="approved",scope="once",via="person"}"#;
    assert_eq!(sample(&t, decided), Some(1.0), "{t}");
    assert_eq!(
        sample(&t, "assent_requests_expired_total"),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, r#"assent_time_to_decision_seconds_count{via="person"}"#),
        Some(1.0),
        "{t}"
    );
    // Only the plain one is still pending; a drained level reads 0, not nothing.
    assert_eq!(
        sample(&t, r#"assent_pending_requests{risk="none"}"#),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, r#"assent_pending_requests{risk="high"}"#),
        Some(0.0),
        "{t}"
    );
    let files = sample(
        &t,
        r#"assent_store_operation_duration_seconds_count{operation="file"}"#,
    );
    assert_eq!(files, Some(3.0), "{t}");
    // No ids, hashes or names of people or agents in the labels.
    for secret in [
        high["id"].as_str().unwrap(),
        plain["id"].as_str().unwrap(),
        high["args_hash"].as_str().unwrap(),
        "alice",
        "ops-bot",
        "agent1",
    ] {
        assert!(!t.contains(secret), "{secret} in {t}");
    }
    srv.shutdown().await;
}
}

#[tokio::test]
async fn it_gauges_open_streams_and_long_polls() {
    let srv = server().await;
    let (_, _, t) = scrape(&srv.url, Some(SCRAPE)).await;
    assert_eq!(sample(&t, "assent_sse_subscribers"), Some(0.0), "{t}");
    assert_eq!(sample(&t, "assent_waiters"), Some(0.0), "{t}");

    let _stream = SseStream::open(&srv.url, ALICE, Some(0)).await;
    let req = srv.http(AGENT1).file(&call("t", "a", json!({}))).await;
    let waiting = {
        let agent = srv.http(AGENT1);
        let req = req.clone();
        tokio::spawn(async move { agent.wait(&req, 30).await })
    };
    eventually(
        "the stream and the wait show",
        Duration::from_secs(10),
        || async {
            let (_, _, t) = scrape(&srv.url, Some(SCRAPE)).await;
            (sample(&t, "assent_sse_subscribers") == Some(1.0)
                && sample(&t, "assent_waiters") == Some(1.0))
            .then_some(())
        },
    )
    .await;
    srv.http(ALICE).decide(&req, "reject", "once").await;
    let (status, answer) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, _, t) = scrape(&srv.url, Some(SCRAPE)).await;
    assert_eq!(sample(&t, "assent_waiters"), Some(0.0), "{t}");
    srv.shutdown().await;
}

#[tokio::test]
async fn metrics_listen_serves_it_without_a_token_and_nothing_else() {
    let cfg = {
        let mut cfg = server_config(":memory:");
        cfg.metrics_listen = Some(ANY_PORT.into());
        cfg
    };
    let handle = assent::server::start(cfg).await.unwrap();
    let url = format!("http://{}", handle.metrics_addr().unwrap());
    let (status, _, body) = scrape(&url, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("assent_pending_requests"), "{body}");
    let (status, _) = Http::new(&url, Some(ROOT)).get("/v1/requests").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    handle.shutdown().await.unwrap();
}

/// The Python venv tests/mcp/setup makes (it holds `prometheus_client`); None when the
/// machine has no python3, which tests/mcp.rs says loudly.
fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/mcp-venv/bin/python");
    // Quick when installed; it reinstalls when tests/mcp/requirements.txt changed.
    let ok = std::process::Command::new(root.join("tests/mcp/setup"))
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(venv)
}

#[tokio::test]
async fn the_prometheus_projects_parser_reads_it() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no python3 to run the Prometheus parser (tests/mcp/setup failed)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the Prometheus parser cannot run"
        );
        return;
    };
    let srv = server().await;
    let agent = srv.http(AGENT1);
    let req = agent.file(&call("t", "a", json!({"n": 1}))).await;
    let (status, body) = srv.http(ALICE).decide(&req, "approve", "always").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, text) = scrape(&srv.url, Some(SCRAPE)).await;
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
assert families["assent_time_to_decision_seconds"].type == "histogram", families
assert families["assent_requests_filed"].type == "counter", families
assert families["assent_pending_requests"].type == "gauge", families
grants = [s for s in families["assent_grants_created"].samples if s.name.endswith("_total")]
assert grants and grants[0].labels == {"scope": "always"} and grants[0].value == 1.0, grants
print(len(families))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(families >= 10, "{families} families");
    srv.shutdown().await;
}
