-- Version 7: the two-person rule (issue 15), as the SQLite store's version 12. A request
-- records how many different reviewers must approve it and, as JSON, the approvals given
-- so far; a grant made by several approvers records them.
ALTER TABLE requests ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN approvals TEXT;
ALTER TABLE grants ADD COLUMN approvers TEXT;
