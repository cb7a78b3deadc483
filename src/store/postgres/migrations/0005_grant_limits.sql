-- Version 5: grants that end (issue 15), as the SQLite store's version 10. A grant may end
-- at a time (expires_at) or after a number of approvals (max_uses, counted in uses);
-- expired_at is when the server marked it ended, once, with its grant.expired event.
ALTER TABLE grants ADD COLUMN expires_at BIGINT;
ALTER TABLE grants ADD COLUMN max_uses BIGINT;
ALTER TABLE grants ADD COLUMN uses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN expired_at BIGINT;
CREATE INDEX grants_ending ON grants(expires_at)
    WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL;
