-- Conversations, their append-only event log, agents and their sessions.

CREATE TABLE conversations (
    id                   BLOB PRIMARY KEY NOT NULL,
    customer_token_hash  BLOB NOT NULL,
    phase                TEXT NOT NULL,
    agent_id             BLOB,
    last_seq             INTEGER NOT NULL,
    channel              TEXT NOT NULL,
    language             TEXT,
    customer_name        TEXT,
    customer_email       TEXT,
    customer_external_id TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    waiting_since        INTEGER
) STRICT;

CREATE INDEX conversations_waiting ON conversations (phase, waiting_since);
CREATE INDEX conversations_agent ON conversations (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE events (
    conversation_id   BLOB NOT NULL REFERENCES conversations (id),
    seq               INTEGER NOT NULL,
    at                INTEGER NOT NULL,
    type              TEXT NOT NULL,
    client_message_id TEXT,
    body              TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX events_client_message_id
    ON events (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL;

-- The log is append-only: the database refuses to change or remove an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE agents (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    agent_id   BLOB NOT NULL REFERENCES agents (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
