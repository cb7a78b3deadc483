-- Version 3: the database's id, a UUID made once, when the database is created or first
-- brought to this version (schema.rs fills it), so that a client can tell a database put
-- in the place of the one it saw from that one. One row.
CREATE TABLE meta (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    database_id TEXT NOT NULL
);
