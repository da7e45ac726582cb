-- Leases on work that must be done once, whichever instance does it (the bot's pick-up of an
-- unanswered message): one row per piece of work, held by one instance until a time.
CREATE TABLE work_claims (
    work   text PRIMARY KEY,
    holder uuid NOT NULL,
    until  timestamptz NOT NULL
);
