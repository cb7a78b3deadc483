-- Version 9: timeouts and escalation (issue 13). Set at filing: when a request still
-- pending escalates (escalate_at, Unix ms) and what its TTL's end does (on_timeout:
-- NULL or 'expire', or 'reject'). Set by the sweep, once: when it escalated
-- (escalated_at), written only where it is NULL, in the transaction that appends the
-- request.escalated event.
ALTER TABLE requests ADD COLUMN escalate_at INTEGER;
ALTER TABLE requests ADD COLUMN escalated_at INTEGER;
ALTER TABLE requests ADD COLUMN on_timeout TEXT;
-- Holds only what can still escalate, so the sweep costs what is due.
CREATE INDEX requests_pending_escalation ON requests(escalate_at)
    WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalated_at IS NULL;
