-- Version 7: the audit log's hash chain (src/protocol/audit_chain.rs). Each new entry
-- carries the hash of the entry before it and its own; the newest hash is kept in meta,
-- so the chain goes on after retention deletes every entry. Entries written before this
-- version have neither, and a verifier counts them as written before the chain.
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
ALTER TABLE meta ADD COLUMN audit_head TEXT;
