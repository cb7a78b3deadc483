-- Version 4: how each decision was made (JSON of `Via`: a person, a grant, or the
-- policy), on the request and on its `decided` audit entry. The responder alone cannot
-- say: a grant's approvals carry the name of the person who made the grant.
ALTER TABLE requests ADD COLUMN via TEXT;
ALTER TABLE audit ADD COLUMN via TEXT;

-- Decisions made before this version, told apart by what they recorded: the policy
-- decided a request whose verdict was allow, audit or deny (it is decided at filing,
-- before any grant); a grant decided one whose grant was made by another request's
-- decision; a person decided the rest (among them the approvals that made a grant).
UPDATE requests SET via = CASE
    WHEN json_extract(policy, '$.action') IN ('allow', 'audit', 'deny') THEN json_object(
        'kind', 'policy',
        'rule', json_extract(policy, '$.rule'),
        'action', json_extract(policy, '$.action'))
    WHEN grant_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM grants g
        WHERE g.id = requests.grant_id AND g.source_request_id IS NOT requests.id)
    THEN (
        SELECT json_object('kind', 'grant', 'grant_id', g.id, 'granted_by', g.created_by,
                           'scope', g.scope)
        FROM grants g WHERE g.id = requests.grant_id)
    ELSE json_object('kind', 'person')
END
WHERE outcome IS NOT NULL;

UPDATE audit SET via = (SELECT r.via FROM requests r WHERE r.id = audit.request_id)
WHERE action = 'decided';

-- The event log keeps each request as it was sent; a decision never changes, so the
-- request's `via` is the one every decided copy of it should carry. A client replaying
-- the log after the upgrade then reads the same answer as one that lists.
UPDATE events SET payload = json_set(payload, '$.decision.via', json(
    (SELECT r.via FROM requests r WHERE r.id = events.request_id)))
WHERE request_id IS NOT NULL
  AND json_type(payload, '$.decision') = 'object'
  AND EXISTS (SELECT 1 FROM requests r WHERE r.id = events.request_id AND r.via IS NOT NULL);
