//! How a PostgreSQL operation fails: with a [`StoreError`] to answer, or with a conflict
//! between transactions (a serialization failure, a deadlock, or a unique index two
//! concurrent filings raced for) after which the whole operation is run again and then
//! sees the other's commit. A lost connection or an unreachable server is
//! [`StoreError::Unavailable`] (503), so that clients retry instead of reporting a bug.

use tokio_postgres::error::SqlState;

use crate::store::StoreError;

pub(super) enum Fail {
    Store(StoreError),
    /// Run the operation again; the text says why, for when the retries run out.
    Retry(String),
}

pub(super) type PgResult<T> = Result<T, Fail>;

/// What a client is told when PostgreSQL cannot be reached.
pub(super) const UNAVAILABLE: &str = "the server's database (PostgreSQL) cannot be reached \
    right now; nothing was changed; try again in a few seconds";

impl Fail {
    pub(super) fn corrupt(detail: String) -> Fail {
        Fail::Store(StoreError::Backend(format!("postgres: {detail}")))
    }

    pub(super) fn unavailable(detail: impl std::fmt::Display) -> Fail {
        tracing::warn!(%detail, "PostgreSQL unavailable");
        Fail::Store(StoreError::Unavailable(UNAVAILABLE.to_owned()))
    }

    /// The error to answer with, once no retry is left.
    pub(super) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            // Transient by nature: the other writes committed, and the next try may not
            // meet them. A 503 says to retry; a 500 would say something is broken.
            Fail::Retry(why) => {
                tracing::warn!(%why, "PostgreSQL: a write kept losing races; answered 503");
                StoreError::Unavailable(
                    "the server's database is busy with conflicting writes right now; \
                     nothing was changed; try again"
                        .to_owned(),
                )
            }
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::corrupt(format!("stored JSON: {e}"))
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(code) = e.code() else {
            // No SQLSTATE: the connection broke, or a value did not convert.
            if e.is_closed()
                || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
            {
                return Fail::unavailable(e);
            }
            return Fail::corrupt(e.to_string());
        };
        // LOCK_NOT_AVAILABLE: a batched write waited past its lock_timeout (writer.rs).
        if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            return Fail::Retry(e.to_string());
        }
        let class = code.code().get(..2).unwrap_or("");
        // 08: connection exception; 57: operator intervention (shutdown, cancelled by
        // statement_timeout); 53: insufficient resources (too many connections).
        if matches!(class, "08" | "57" | "53") {
            return Fail::unavailable(e);
        }
        Fail::corrupt(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Fail::from(e),
            other => Fail::unavailable(other),
        }
    }
}
