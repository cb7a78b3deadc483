-- Version 4: what the SQLite store's version 9 added: timeouts and escalation (issue 13).
-- Set at filing: when a request still pending escalates (escalate_at, Unix ms) and what
-- its TTL's end does (on_timeout: NULL or 'expire', or 'reject'). Set by a sweep, once:
-- escalated_at, written only where it is NULL, under the row's lock, in the transaction
-- that appends the request.escalated event, whichever instance sweeps.
ALTER TABLE requests ADD COLUMN escalate_at BIGINT;
ALTER TABLE requests ADD COLUMN escalated_at BIGINT;
ALTER TABLE requests ADD COLUMN on_timeout TEXT;
CREATE INDEX requests_pending_escalation ON requests(escalate_at)
    WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL;
