-- Version 10: grants that end (issue 15). A grant may end at a time (expires_at) or after
-- a number of approvals (max_uses, counted in uses); expired_at is when the server marked
-- it ended, once, with its grant.expired event. A grant past expires_at approves nothing
-- whether marked yet or not. The index is what the sweep reads: the unmarked grants
-- that will end at a time.
ALTER TABLE grants ADD COLUMN expires_at INTEGER;
ALTER TABLE grants ADD COLUMN max_uses INTEGER;
ALTER TABLE grants ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN expired_at INTEGER;
CREATE INDEX grants_ending ON grants(expires_at)
    WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL;
