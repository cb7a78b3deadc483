-- Version 2: the policy verdict of each filing (JSON of `PolicyMatch`), on the request
-- and on its `filed` audit entry.
ALTER TABLE requests ADD COLUMN policy TEXT;
ALTER TABLE audit ADD COLUMN policy TEXT;
