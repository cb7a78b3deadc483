-- Version 1: the schema of SQLite's versions 1 to 5 (src/store/sqlite/migrations/), in
-- one step: requests, grants, the event log, the audit log and the database's meta row.
-- Times are Unix milliseconds and JSON is kept as the text that was written (TEXT, not
-- jsonb, which would rewrite numbers and key order), as in SQLite.
CREATE TABLE requests (
    n               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order: the list cursor
    id              TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    tool            TEXT NOT NULL,
    params          TEXT NOT NULL,             -- JSON
    args_hash       TEXT NOT NULL,
    reason          TEXT,
    agent           TEXT NOT NULL,
    conversation_id TEXT,
    run_id          TEXT,
    tool_call_id    TEXT,
    risk            TEXT,
    filed_by        TEXT NOT NULL,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,           -- Unix ms
    expires_at      BIGINT,
    outcome         TEXT,                      -- decision columns: all NULL while undecided
    scope           TEXT,
    decision_reason TEXT,
    notify_agent    BOOLEAN,
    responder       TEXT,
    decided_at      BIGINT,
    grant_id        TEXT,
    policy          TEXT,                      -- JSON of PolicyMatch
    via             TEXT                       -- JSON of Via: who or what decided
);
CREATE INDEX requests_by_status ON requests(status, n);
CREATE INDEX requests_pending_expiry ON requests(expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX requests_pending_match ON requests(filed_by, agent, tool)
    WHERE status = 'pending';
CREATE UNIQUE INDEX requests_tool_call ON requests(filed_by, agent, tool_call_id)
    WHERE tool_call_id IS NOT NULL;
CREATE UNIQUE INDEX requests_idempotency ON requests(filed_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE grants (
    n                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    scope             TEXT NOT NULL,
    agent             TEXT NOT NULL,
    tool              TEXT NOT NULL,
    conversation_id   TEXT,
    filed_by          TEXT NOT NULL,           -- the token whose requests the grant covers
    created_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    source_request_id TEXT,
    revoked_at        BIGINT,
    revoked_by        TEXT
);
CREATE INDEX grants_active ON grants(filed_by, agent, tool) WHERE revoked_at IS NULL;

-- seq is given by the writer from meta.last_seq, under that row's lock, so numbers are
-- never reused and commit in order (see log.rs).
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    request_id TEXT,
    grant_id   TEXT,
    payload    TEXT NOT NULL                   -- JSON of the request or grant after the change
);

-- Appended under the same lock as the events, so audit seqs also commit in order.
CREATE TABLE audit (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    request_id TEXT,
    tool       TEXT,
    agent      TEXT,
    outcome    TEXT,
    scope      TEXT,
    reason     TEXT,
    args_hash  TEXT,
    grant_id   TEXT,
    policy     TEXT,
    via        TEXT
);

-- One row: the database's id (made once, by schema.rs, in the transaction that creates
-- the schema), the last event seq given (the log's counter, and its lock), and the
-- newest seq compaction deleted.
CREATE TABLE meta (
    one                      INTEGER PRIMARY KEY CHECK (one = 1),
    database_id              TEXT NOT NULL,
    last_seq                 BIGINT NOT NULL DEFAULT 0,
    events_compacted_through BIGINT NOT NULL DEFAULT 0
);
