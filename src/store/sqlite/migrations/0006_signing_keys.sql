-- Version 6: the keys that sign approval tokens (src/token/). The newest row is the key
-- in use; older ones stay, so the server can keep publishing them in its JWKS until the
-- tokens they signed have expired. `private_key` is the 32-byte Ed25519 seed, or NULL for
-- a key read from `[server] signing_key_file`, which only the file holds.
CREATE TABLE signing_keys (
    n           INTEGER PRIMARY KEY AUTOINCREMENT,
    kid         TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    public_key  BLOB NOT NULL,
    private_key BLOB
);
