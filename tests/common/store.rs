//! Which store a test's servers run on: the server suites run each test twice, on SQLite
//! and on PostgreSQL, through [`each_store!`]. The test body names its databases as it
//! would for SQLite (":memory:", or a file path to restart on); on PostgreSQL each
//! ":memory:" is a fresh database and each path one database of its own, the same one
//! every time the test names that path. Changes when the tests gain a store.

use std::collections::HashMap;
use std::sync::Mutex;

use super::postgres;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

struct Scope {
    kind: Kind,
    /// SQLite path → PostgreSQL URL.
    databases: Mutex<HashMap<String, String>>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

impl Kind {
    /// Runs `test` with its servers on this store; on PostgreSQL, skips it (loudly) when
    /// PostgreSQL is not available.
    pub async fn run(self, name: &str, test: impl Future<Output = ()>) {
        if self == Kind::Postgres && !postgres::available() {
            postgres::skip(name);
            return;
        }
        let scope = Scope {
            kind: self,
            databases: Mutex::new(HashMap::new()),
        };
        SCOPE.scope(scope, test).await;
    }
}

/// The store of the running test (SQLite outside [`each_store!`]).
pub fn kind() -> Kind {
    SCOPE.try_with(|s| s.kind).unwrap_or(Kind::Sqlite)
}

/// What to pass as `db` for the SQLite `db` on the running test's store.
pub async fn database(db: &str) -> String {
    if kind() == Kind::Sqlite || postgres::is_url(db) {
        return db.to_owned();
    }
    if db != ":memory:"
        && let Some(url) = SCOPE
            .try_with(|s| s.databases.lock().unwrap().get(db).cloned())
            .ok()
            .flatten()
    {
        return url;
    }
    let url = postgres::fresh_database(db)
        .await
        .expect("PostgreSQL was available when the test started");
    if db != ":memory:" {
        let _ = SCOPE.try_with(|s| {
            s.databases
                .lock()
                .unwrap()
                .insert(db.to_owned(), url.clone())
        });
    }
    url
}

/// Each test (an `async fn NAME()` with its attributes) as a module NAME of two tests,
/// `sqlite` and `postgres`, that run the same body on each store.
#[allow(unused_macros)]
macro_rules! each_store {
    ($($(#[$m:meta])* async fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$m])*
            async fn sqlite() {
                crate::common::store::Kind::Sqlite
                    .run(stringify!($name), async move $body)
                    .await
            }
            $(#[$m])*
            async fn postgres() {
                crate::common::store::Kind::Postgres
                    .run(stringify!($name), async move $body)
                    .await
            }
        }
    )*};
}
pub(crate) use each_store;
