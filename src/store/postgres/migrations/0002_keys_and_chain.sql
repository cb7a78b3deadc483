-- Version 2: what the SQLite store's versions 6 and 7 added. The keys that sign approval
-- tokens (crate::token), and the audit log's hash chain (src/protocol/audit_chain.rs):
-- each entry's prev_hash and hash, and the newest hash in meta, so the chain goes on
-- after retention deletes every entry.
CREATE TABLE signing_keys (
    n           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid         TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    public_key  BYTEA NOT NULL,
    private_key BYTEA
);
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
ALTER TABLE meta ADD COLUMN audit_head TEXT;
