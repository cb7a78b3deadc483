//! What a test does with a running server, whichever kind it is (in-process or the
//! binary): talk to it as an identity, file, decide, and wait until it holds what the
//! test expects; and the setups of the binary the tests start. Changes when the tests
//! need another way in.

use std::path::Path;
use std::time::Duration;

use assent::client::Client;
use assent::protocol::{ApprovalRequest, DecisionBody, NewRequest, Status};

use super::client::api;
use super::config::{test_policy, write_config};
use super::eventually;
use super::http::Http;
use super::identities::{AGENT1, ALICE};
use super::in_process::TestServer;
use super::run::BIN;
use super::server::{ANY_PORT, Serve};

/// How long a request may take to reach the queue, or to leave it once decided.
const SETTLES_WITHIN: Duration = Duration::from_secs(15);

/// A running server, seen from a test.
// Only these tests call these, on their own task: the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Backend {
    fn url(&self) -> &str;

    /// Raw HTTP as the holder of `token`.
    fn http(&self, token: &str) -> Http {
        Http::new(self.url(), Some(token))
    }

    /// Raw HTTP with no Authorization header.
    fn anonymous(&self) -> Http {
        Http::new(self.url(), None)
    }

    /// The crate's API client as the holder of `token`.
    fn api(&self, token: &str) -> Client {
        api(self.url(), token).expect("API client")
    }

    /// Files `new` as agent1.
    async fn file(&self, new: &NewRequest) -> ApprovalRequest {
        self.api(AGENT1).file(new, None).await.unwrap().request
    }

    /// Decides request `id` as alice.
    async fn decide(&self, id: &str, body: &DecisionBody) -> ApprovalRequest {
        self.api(ALICE).decide(id, body).await.unwrap()
    }

    /// The status of request `id` now.
    async fn status_of(&self, id: &str) -> Status {
        self.api(ALICE).get(id).await.unwrap().status
    }

    /// The pending requests, once there are `n` of them.
    async fn pending(&self, n: usize) -> Vec<ApprovalRequest> {
        let alice = self.api(ALICE);
        eventually(&format!("{n} pending requests"), SETTLES_WITHIN, || async {
            let list = alice.list(Some(Status::Pending), None, None).await.unwrap();
            (list.requests.len() >= n).then_some(list.requests)
        })
        .await
    }

    /// Every request in the store.
    async fn all(&self) -> Vec<ApprovalRequest> {
        self.api(ALICE).list_all(None).await.unwrap().requests
    }

    /// Request `id`, once it has left `pending`.
    async fn settled(&self, id: &str) -> ApprovalRequest {
        let alice = self.api(ALICE);
        eventually(&format!("request {id} decided"), SETTLES_WITHIN, || async {
            let r = alice.get(id).await.unwrap();
            (r.status != Status::Pending).then_some(r)
        })
        .await
    }
}

impl Backend for TestServer {
    fn url(&self) -> &str {
        &self.url
    }
}

impl Backend for Serve {
    fn url(&self) -> &str {
        &self.url
    }
}

/// The setups of `assent serve` the tests use.
impl Serve {
    /// On an in-memory store, knowing every identity, in a fresh temporary directory.
    pub async fn start() -> Serve {
        Self::in_temp_dir(None).await
    }

    /// As [`Serve::start`], with the test policy.
    pub async fn with_policy() -> Serve {
        Self::in_temp_dir(Some(&test_policy().unwrap())).await
    }

    async fn in_temp_dir(policy: Option<&str>) -> Serve {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write_config(tmp.path(), "", policy).unwrap();
        Self::launch(tmp.path(), &cfg, ANY_PORT, Some(":memory:"), &[])
            .await
            .owning(tmp)
    }

    /// On `listen` with the store `db`, its config and log in `dir`: a second one on the
    /// same address and file is the first one restarted.
    pub async fn on(dir: &Path, listen: &str, db: &str) -> Serve {
        let cfg = write_config(dir, "", None).unwrap();
        Self::launch(dir, &cfg, listen, Some(db), &[]).await
    }

    /// `assent --config CONFIG serve --listen LISTEN [--db DB]` with `envs`, its log in
    /// `dir`.
    pub async fn launch(
        dir: &Path,
        config: &Path,
        listen: &str,
        db: Option<&str>,
        envs: &[(&str, &str)],
    ) -> Serve {
        let mut cmd = Serve::command(Path::new(BIN), config, listen);
        if let Some(db) = db {
            cmd.args(["--db", &super::store::database(db).await]);
        }
        cmd.envs(envs.iter().copied());
        Serve::spawn(cmd, dir)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }
}
