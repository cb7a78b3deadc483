-- Version 11: approvals of edited params (issue 15). The request keeps the params filed
-- and their args_hash; the decision records the params the reviewer approved instead,
-- and their hash, which the decided audit entry carries beside the filed one.
ALTER TABLE requests ADD COLUMN approved_params TEXT;
ALTER TABLE requests ADD COLUMN approved_args_hash TEXT;
ALTER TABLE audit ADD COLUMN approved_args_hash TEXT;
