-- Shared presence: which agents are on duty on which instance. Each instance replaces its own
-- rows every few seconds; a row whose `until` has passed belongs to an instance that stopped
-- saying so (it died, or lost the database) and counts for nobody.
CREATE TABLE agent_presence (
    instance     uuid NOT NULL,
    agent_id     uuid NOT NULL,
    display_name text NOT NULL,
    skills       text[] NOT NULL,
    languages    text[] NOT NULL,
    team         text,
    capacity     integer NOT NULL,
    serving      integer NOT NULL,
    offered      integer NOT NULL,
    until        timestamptz NOT NULL,
    PRIMARY KEY (instance, agent_id)
);
