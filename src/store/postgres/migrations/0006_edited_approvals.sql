-- Version 6: approvals of edited params (issue 15), as the SQLite store's version 11. The
-- decision records the params the reviewer approved instead of those filed, and their
-- hash, which the decided audit entry carries beside the filed one.
ALTER TABLE requests ADD COLUMN approved_params TEXT;
ALTER TABLE requests ADD COLUMN approved_args_hash TEXT;
ALTER TABLE audit ADD COLUMN approved_args_hash TEXT;
