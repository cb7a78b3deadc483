-- Version 3: the webhook outbox (issue 13), as the SQLite store's version 8. One row per
-- event and webhook that wants it, inserted in the transaction that appends the event;
-- senders on every instance claim due rows with a lease (lease_until, and FOR UPDATE
-- SKIP LOCKED while claiming), so two instances do not send one row at once. Times in
-- milliseconds.
CREATE TABLE deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq             BIGINT NOT NULL,
    webhook         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    request_id      TEXT,
    grant_id        TEXT,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    last_attempt_at BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    finished_at     BIGINT,
    UNIQUE (seq, webhook)
);
CREATE INDEX deliveries_due ON deliveries (webhook, next_attempt_at) WHERE status = 'pending';
CREATE TABLE webhook_failing (
    webhook TEXT PRIMARY KEY,
    since   BIGINT NOT NULL,
    reason  TEXT NOT NULL
);
