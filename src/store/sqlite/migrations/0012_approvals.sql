-- Version 12: the two-person rule (issue 15). A request records how many different
-- reviewers must approve it (its rule's `approvals`) and, as JSON, the approvals given so
-- far; a grant made by several approvers records them, so that it covers only requests
-- that need no more.
ALTER TABLE requests ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN approvals TEXT;
ALTER TABLE grants ADD COLUMN approvers TEXT;
