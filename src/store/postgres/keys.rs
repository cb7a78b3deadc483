//! Rows of `signing_keys`: the keys that sign approval tokens (see `crate::token`), as
//! the SQLite store keeps them.

use super::fail::PgResult;
use super::rows::time_col;
use crate::store::StoredKey;

/// Every key, oldest first: the last one is the key in use.
pub(super) async fn all(client: &deadpool_postgres::Client) -> PgResult<Vec<StoredKey>> {
    let st = client
        .prepare_cached(
            "SELECT kid, created_at, public_key, private_key FROM signing_keys \
             ORDER BY created_at, n",
        )
        .await?;
    let mut keys = Vec::new();
    for row in client.query(&st, &[]).await? {
        keys.push(StoredKey {
            kid: row.try_get(0)?,
            created_at: time_col(&row, 1)?,
            public_key: row.try_get(2)?,
            private_key: row.try_get(3)?,
        });
    }
    Ok(keys)
}

/// Records `key` as the newest. A key stored already (a key file put back in place) only
/// moves to the end, with `key.created_at`: it is in use again from then.
pub(super) async fn add(client: &deadpool_postgres::Client, key: &StoredKey) -> PgResult<()> {
    let st = client
        .prepare_cached(
            "INSERT INTO signing_keys (kid, created_at, public_key, private_key) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kid) DO UPDATE SET created_at = EXCLUDED.created_at",
        )
        .await?;
    client
        .execute(
            &st,
            &[
                &key.kid,
                &key.created_at.timestamp_millis(),
                &key.public_key,
                &key.private_key,
            ],
        )
        .await?;
    Ok(())
}
