-- Conversations, their append-only event log, agents and their sessions: the same shape as
-- the SQLite store's, in PostgreSQL's own types.

CREATE TABLE conversations (
    id                   uuid PRIMARY KEY,
    customer_token_hash  bytea NOT NULL,
    phase                text NOT NULL,
    agent_id             uuid,
    last_seq             bigint NOT NULL,
    channel              text NOT NULL,
    language             text,
    customer_name        text,
    customer_email       text,
    customer_external_id text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    waiting_since        timestamptz
);

CREATE INDEX conversations_waiting ON conversations (phase, waiting_since);
CREATE INDEX conversations_agent ON conversations (agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX conversations_phase_id ON conversations (phase, id);

-- `position` orders every event across conversations in the order they were appended; the
-- body is kept as the JSON text that was written (type json, not jsonb: no reordering, and
-- any string the domain accepted is accepted here).
CREATE TABLE events (
    position          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id   uuid NOT NULL REFERENCES conversations (id),
    seq               bigint NOT NULL,
    at                timestamptz NOT NULL,
    type              text NOT NULL,
    client_message_id text,
    body              json NOT NULL
);

CREATE UNIQUE INDEX events_seq ON events (conversation_id, seq);
CREATE UNIQUE INDEX events_client_message_id
    ON events (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL;

-- The log is append-only: the database refuses to change or remove an event.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    display_name  text NOT NULL,
    role          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Emails are unique whatever their case.
CREATE UNIQUE INDEX agents_email ON agents (lower(email));

CREATE TABLE agent_sessions (
    token_hash bytea PRIMARY KEY,
    agent_id   uuid NOT NULL REFERENCES agents (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
