-- Version 8: the webhook outbox (issue 13). One row per event and webhook that wants it,
-- inserted in the transaction that appends the event, so a committed event always has
-- its deliveries; the sender claims due rows with a lease (lease_until) and records each
-- attempt. The event itself is read from the log when it is sent. Times in milliseconds.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    seq             INTEGER NOT NULL,
    webhook         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    request_id      TEXT,
    grant_id        TEXT,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    finished_at     INTEGER,
    UNIQUE (seq, webhook)
);
-- What a sender claims: its webhook's pending rows by due time.
CREATE INDEX deliveries_due ON deliveries (webhook, next_attempt_at) WHERE status = 'pending';
-- A webhook whose endpoint answered 410 Gone, until it answers 2xx again.
CREATE TABLE webhook_failing (
    webhook TEXT PRIMARY KEY,
    since   INTEGER NOT NULL,
    reason  TEXT NOT NULL
);
