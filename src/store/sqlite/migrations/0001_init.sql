-- Version 1: requests, grants, the event log and the audit log.
-- Times are Unix milliseconds, so expiry is an indexed integer comparison.
CREATE TABLE requests (
    n               INTEGER PRIMARY KEY,       -- insertion order: "oldest first" and the list cursor
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
    created_at      INTEGER NOT NULL,          -- Unix ms
    expires_at      INTEGER,
    outcome         TEXT,                      -- decision columns: all NULL while undecided
    scope           TEXT,
    decision_reason TEXT,
    notify_agent    INTEGER,
    responder       TEXT,
    decided_at      INTEGER,
    grant_id        TEXT
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
    n                 INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    scope             TEXT NOT NULL,
    agent             TEXT NOT NULL,
    tool              TEXT NOT NULL,
    conversation_id   TEXT,
    filed_by          TEXT NOT NULL,           -- the token whose requests the grant covers
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    source_request_id TEXT,
    revoked_at        INTEGER,
    revoked_by        TEXT
);
CREATE INDEX grants_active ON grants(filed_by, agent, tool) WHERE revoked_at IS NULL;

-- AUTOINCREMENT: a sequence number is never reused, even after the newest rows are
-- deleted, so a client's Last-Event-ID always means the same event.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    request_id TEXT,
    grant_id   TEXT,
    payload    TEXT NOT NULL                   -- JSON of the request or grant after the change
);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    request_id TEXT,
    tool       TEXT,
    agent      TEXT,
    outcome    TEXT,
    scope      TEXT,
    reason     TEXT,
    args_hash  TEXT,
    grant_id   TEXT
);
