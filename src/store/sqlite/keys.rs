//! Rows of `signing_keys`: the keys that sign approval tokens (see `crate::token`).

use rusqlite::{Connection, params};

use super::rows::time_col;
use crate::store::{StoreResult, StoredKey};

/// Every key, oldest first: the last one is the key in use.
pub(super) fn all(conn: &Connection) -> StoreResult<Vec<StoredKey>> {
    let mut st = conn.prepare_cached(
        "SELECT kid, created_at, public_key, private_key FROM signing_keys \
         ORDER BY created_at, n",
    )?;
    let rows = st.query_map([], |row| {
        Ok(StoredKey {
            kid: row.get(0)?,
            created_at: time_col(row, 1)?,
            public_key: row.get(2)?,
            private_key: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records `key` as the newest. A key stored already (a key file put back in place) only
/// moves to the end, with `key.created_at`: it is in use again from then.
pub(super) fn add(conn: &Connection, key: &StoredKey) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO signing_keys (kid, created_at, public_key, private_key) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (kid) DO UPDATE SET created_at = excluded.created_at",
    )?
    .execute(params![
        key.kid,
        key.created_at.timestamp_millis(),
        key.public_key,
        key.private_key,
    ])?;
    Ok(())
}
