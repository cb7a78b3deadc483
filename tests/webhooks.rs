//! Webhooks (issue 13) against the real server and receivers on 127.0.0.1: signed as
//! Standard Webhooks say (checked by the specification's Rust and Python libraries),
//! retried with the same id until answered, stopped by a 410, held up only in their own
//! queue by a receiver that hangs, and kept across a kill -9. Both stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assent::notify::{Format, NotifyConfig, WebhookConfig};
use common::receiver::{Receiver, Reply, SECRET, webhook_toml};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Long enough for a delivery on a loaded machine; the healthy path takes milliseconds.
const ARRIVES_WITHIN: Duration = Duration::from_secs(15);

/// A file holding [`SECRET`] in `dir`.
fn secret_file(dir: &Path) -> PathBuf {
    let path = dir.join("webhook.secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    path
}

fn hook(name: &str, url: &str, secret: &Path) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: url.into(),
        events: vec!["request.created".into(), "request.decided".into()],
        min_risk: None,
        tools: Vec::new(),
        agents: Vec::new(),
        format: Format::Standard,
        secret_file: Some(secret.to_owned()),
        secret_env: None,
    }
}

/// An in-process server with `hooks`, retrying after 100 ms.
async fn server_with(hooks: Vec<WebhookConfig>) -> TestServer {
    TestServer::start_configured(|cfg| {
        cfg.notify = NotifyConfig {
            webhooks: hooks,
            retry_delay: Duration::from_millis(100),
            ..NotifyConfig::default()
        };
    })
    .await
}

/// `GET /v1/deliveries` + `query` as root.
async fn deliveries(url: &str, query: &str) -> Value {
    let (status, body) = Http::new(url, Some(ROOT))
        .get(&format!("/v1/deliveries{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The deliveries of `webhook`, once every one of them is `status`.
async fn settled(url: &str, webhook: &str, n: usize, status: &str) -> Vec<Value> {
    eventually(
        &format!("{n} deliveries of {webhook} {status}"),
        ARRIVES_WITHIN,
        || async {
            let page = deliveries(url, &format!("?webhook={webhook}")).await;
            let rows = page["deliveries"].as_array().unwrap().clone();
            (rows.len() == n && rows.iter().all(|d| d["status"] == status)).then_some(rows)
        },
    )
    .await
}

each_store! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_is_signed_as_standard_webhooks_say() {
        let dir = tempfile::tempdir().unwrap();
        let rx = Receiver::start(&[], Reply::Status(204)).await;
        let srv = server_with(vec![hook("ops", &rx.url, &secret_file(dir.path()))]).await;
        let filed = srv.http(AGENT1).file(&refund("bot")).await;
        let got = rx.wait_for(1, ARRIVES_WITHIN).await;
        let post = &got[0];
        post.verify(SECRET).unwrap();
        assert!(post.verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        let body = post.json();
        assert_eq!(body["type"], "request.created");
        assert_eq!(body["data"]["type"], "request.created");
        assert_eq!(body["data"]["request"], filed);
        let seq = body["data"]["seq"].as_u64().unwrap();
        let db = body["data"]["database_id"].as_str().unwrap();
        assert_eq!(post.header("webhook-id"), format!("evt_{seq}_{db}"));
        let ts: i64 = post.header("webhook-timestamp").parse().unwrap();
        assert!((ts - chrono::Utc::now().timestamp()).abs() < 60, "{ts}");

        let rows = settled(&srv.url, "ops", 1, "delivered").await;
        assert_eq!(rows[0]["attempts"], 1);
        assert_eq!(rows[0]["last_status"], 204);
        assert_eq!(rows[0]["event_id"], post.header("webhook-id"));
        assert_eq!(rows[0]["request_id"], filed["id"]);
        let page = deliveries(&srv.url, "?status=pending").await;
        assert_eq!(page["deliveries"], json!([]));
        assert_eq!(page["webhooks"][0]["name"], "ops");
        assert_eq!(page["webhooks"][0]["failing"], false);

        // A decision is an event the webhook listens for too.
        let (st, _) = srv.http(ALICE).decide(&filed, "approve", "once").await;
        assert_eq!(st, StatusCode::OK);
        let got = rx.wait_for(2, ARRIVES_WITHIN).await;
        assert_eq!(got[1].json()["type"], "request.decided");
        assert_ne!(got[1].header("webhook-id"), got[0].header("webhook-id"));

        // Admins only; the query is checked.
        let (st, body) = srv.http(ALICE).get("/v1/deliveries").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        let (st, body) = srv.http(ROOT).get("/v1/deliveries?status=sent").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        srv.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_that_fails_then_answers_gets_the_same_id_again() {
        let dir = tempfile::tempdir().unwrap();
        let rx = Receiver::start(&[Reply::Status(500), Reply::Status(503)], Reply::Status(200)).await;
        let srv = server_with(vec![hook("ops", &rx.url, &secret_file(dir.path()))]).await;
        srv.http(AGENT1).file(&refund("bot")).await;
        let got = rx.wait_for(3, ARRIVES_WITHIN).await;
        for post in &got {
            post.verify(SECRET).unwrap();
            assert_eq!(post.header("webhook-id"), got[0].header("webhook-id"));
            assert_eq!(post.body, got[0].body, "the same body on every attempt");
        }
        // Backed off: the retries waited (100 ms, then about 200 ms, less the jitter).
        assert!(got[1].at - got[0].at >= Duration::from_millis(50));
        assert!(got[2].at - got[1].at >= Duration::from_millis(100));
        let rows = settled(&srv.url, "ops", 1, "delivered").await;
        assert_eq!(rows[0]["attempts"], 3);
        assert_eq!(rows[0]["last_error"], Value::Null);
        assert_eq!(rx.received().len(), 3, "nothing sent after the 200");
        srv.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_410_stops_the_retries_and_marks_the_webhook_failing() {
        let dir = tempfile::tempdir().unwrap();
        let rx = Receiver::start(&[Reply::Status(410)], Reply::Status(200)).await;
        let srv = server_with(vec![hook("gone", &rx.url, &secret_file(dir.path()))]).await;
        srv.http(AGENT1).file(&refund("bot")).await;
        let rows = settled(&srv.url, "gone", 1, "failed").await;
        assert_eq!(rows[0]["last_status"], 410);
        assert_eq!(rows[0]["attempts"], 1);
        let health = &deliveries(&srv.url, "").await["webhooks"][0];
        assert_eq!(health["failing"], true, "{health}");
        assert!(health["failing_reason"].as_str().unwrap().contains("410"));
        // Many retry delays later, still the one POST.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rx.received().len(), 1);
        // A later event that is received clears the mark.
        srv.http(AGENT1).file(&refund("bot2")).await;
        rx.wait_for(2, ARRIVES_WITHIN).await;
        eventually("the failing mark cleared", ARRIVES_WITHIN, || async {
            let health = deliveries(&srv.url, "").await["webhooks"][0].clone();
            (health["failing"] == false).then_some(())
        })
        .await;
        srv.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_that_hangs_holds_up_only_its_own_queue() {
        let dir = tempfile::tempdir().unwrap();
        let secret = secret_file(dir.path());
        let stuck = Receiver::start(&[], Reply::Hang).await;
        let fine = Receiver::start(&[], Reply::Status(200)).await;
        let srv = server_with(vec![
            hook("stuck", &stuck.url, &secret),
            hook("fine", &fine.url, &secret),
        ])
        .await;
        let agent = srv.http(AGENT1);
        let mut slowest = Duration::ZERO;
        for i in 0..5 {
            let started = Instant::now();
            agent.file(&call("t", "bot", json!({"i": i}))).await;
            slowest = slowest.max(started.elapsed());
        }
        // The hanging receiver has the first of them, and waits.
        stuck.wait_for(1, ARRIVES_WITHIN).await;
        assert!(slowest < Duration::from_secs(2), "a filing took {slowest:?}");
        let got = fine.wait_for(5, ARRIVES_WITHIN).await;
        for post in &got {
            post.verify(SECRET).unwrap();
        }
        settled(&srv.url, "fine", 5, "delivered").await;
        let page = deliveries(&srv.url, "?webhook=stuck").await;
        let rows = page["deliveries"].as_array().unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|d| d["status"] == "pending"), "{page}");
        let stuck_health = page["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "stuck")
            .unwrap()
            .clone();
        assert_eq!(stuck_health["pending"], 5);
        // The queue depth is a metric too.
        let metrics = Http::new(&srv.url, Some(ROOT)).client.get(format!("{}/metrics", srv.url))
            .send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"assent_webhook_queue_depth{webhook="stuck"} 5"#), "{metrics}");
        assert!(
            metrics.contains(r#"assent_webhook_deliveries_total{webhook="fine",result="delivered"} 5"#),
            "{metrics}"
        );
        srv.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_pending_at_a_kill_9_are_sent_by_the_next_server() {
        let dir = tempfile::tempdir().unwrap();
        let rx = Receiver::start(&[], Reply::Status(503)).await;
        let db = dir.path().join("hooks.db");
        let db = db.to_str().unwrap();
        let cfg = write_config(dir.path(), "", None).unwrap();
        let secret = secret_file(dir.path());
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str("\n[notify]\nretry_delay = \"200ms\"\n");
        text.push_str(&webhook_toml("ops", &rx.url, &secret, ""));
        std::fs::write(&cfg, text).unwrap();

        let mut srv = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
        for i in 0..3 {
            srv.http(AGENT1).file(&call("t", "bot", json!({"i": i}))).await;
        }
        // Each was tried and refused; then the server dies with all three pending.
        rx.wait_for(3, ARRIVES_WITHIN).await;
        srv.kill();
        rx.answer(Reply::Status(200));
        let before: Vec<String> = rx.received().iter().map(|p| p.header("webhook-id").to_owned()).collect();

        let srv = Serve::launch(dir.path(), &cfg, ANY_PORT, Some(db), &[]).await;
        let rows = settled(&srv.url, "ops", 3, "delivered").await;
        let delivered: std::collections::HashSet<String> = rx
            .received()
            .iter()
            .filter(|p| p.verify(SECRET).is_ok())
            .map(|p| p.header("webhook-id").to_owned())
            .collect();
        for id in &before {
            assert!(delivered.contains(id), "{id} never came again: {rows:?}");
        }
        assert_eq!(delivered.len(), 3);
    }
}

/// The Standard Webhooks project's Python library verifies a live delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_standard_webhooks_library_verifies_a_delivery() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no python3 for the Standard Webhooks library (tests/mcp/setup failed)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no python"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("receiver.py");
    std::fs::write(&script, PY_RECEIVER).unwrap();
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .arg(SECRET)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = next_line(&mut lines).await;
    let url = format!("http://127.0.0.1:{}/hook", port.trim());
    let srv = server_with(vec![hook("py", &url, &secret_file(dir.path()))]).await;
    let filed = srv.http(AGENT1).file(&refund("bot")).await;
    let line = next_line(&mut lines).await;
    assert_eq!(
        line,
        format!("verified request.created {}", filed["id"].as_str().unwrap())
    );
    settled(&srv.url, "py", 1, "delivered").await;
    srv.shutdown().await;
}

/// The next line the Python receiver prints.
async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    tokio::time::timeout(ARRIVES_WITHIN, lines.next_line())
        .await
        .expect("a line in time")
        .expect("its stdout readable")
        .expect("a line, not the end")
}

/// Prints its port, then one line per POST: `verified TYPE REQUEST_ID`, or `refused WHY`
/// (answered 400). From `standardwebhooks` on PyPI, as a receiver would use it.
const PY_RECEIVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from standardwebhooks.webhooks import Webhook

wh = Webhook(sys.argv[1])

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            payload = wh.verify(body, dict(self.headers))
            print("verified", payload["type"], payload["data"]["request"]["id"], flush=True)
            self.send_response(200)
        except Exception as e:
            print("refused", e, flush=True)
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args):
        pass

srv = HTTPServer(("127.0.0.1", 0), Hook)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// The Python venv tests/mcp/setup makes (it holds `standardwebhooks`); None when the
/// machine has no python3.
fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/mcp-venv/bin/python");
    let ok = std::process::Command::new(root.join("tests/mcp/setup"))
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(venv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assent_deliveries_shows_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[Reply::Status(410)], Reply::Status(200)).await;
    let srv = server_with(vec![hook("pager", &rx.url, &secret_file(dir.path()))]).await;
    let filed = srv.http(AGENT1).file(&refund("bot")).await;
    settled(&srv.url, "pager", 1, "failed").await;
    let out = finish(assent(&srv.url, Some(ROOT), &["deliveries"]), None, 30).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("webhook pager: FAILING"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("request.created"), "{}", out.stdout);
    assert!(out.stdout.contains("410 Gone"), "{}", out.stdout);
    let out = finish(
        assent(
            &srv.url,
            Some(ROOT),
            &["deliveries", "--json", "--status", "failed"],
        ),
        None,
        30,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["deliveries"][0]["request_id"], filed["id"]);
    assert_eq!(v["webhooks"][0]["failing"], true);
    // A reviewer may not.
    let out = finish(assent(&srv.url, Some(ALICE), &["deliveries"]), None, 30).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    srv.shutdown().await;
}
