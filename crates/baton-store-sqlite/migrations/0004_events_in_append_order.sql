-- Events are stored in append order: a rowid table whose new rows always go to its last
-- page, with (conversation_id, seq) as a unique index. Keyed by (conversation_id, seq)
-- itself, every new event landed in the middle of the table, at its conversation's end, so
-- each commit rewrote (and often split) one full page per conversation it touched; now only
-- the small index entries are spread out.
DROP TRIGGER events_no_update;
DROP TRIGGER events_no_delete;

CREATE TABLE events_in_order (
    position          INTEGER PRIMARY KEY,
    conversation_id   BLOB NOT NULL REFERENCES conversations (id),
    seq               INTEGER NOT NULL,
    at                INTEGER NOT NULL,
    type              TEXT NOT NULL,
    client_message_id TEXT,
    body              TEXT NOT NULL
) STRICT;

INSERT INTO events_in_order (conversation_id, seq, at, type, client_message_id, body)
    SELECT conversation_id, seq, at, type, client_message_id, body FROM events ORDER BY at, conversation_id, seq;

DROP TABLE events;
ALTER TABLE events_in_order RENAME TO events;

CREATE UNIQUE INDEX events_seq ON events (conversation_id, seq);
CREATE UNIQUE INDEX events_client_message_id
    ON events (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL;

-- The log is append-only: the database refuses to change or remove an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
