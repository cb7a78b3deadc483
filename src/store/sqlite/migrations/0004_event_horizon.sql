-- Version 4: the event log's retention. Compaction deletes the oldest events; the newest
-- sequence number it deleted is kept here, so that the log knows which resume points it
-- can no longer serve, and its last sequence number survives deleting every event.
ALTER TABLE meta ADD COLUMN events_compacted_through INTEGER NOT NULL DEFAULT 0;
