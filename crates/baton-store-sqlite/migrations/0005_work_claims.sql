-- Leases on work that must be done once (the bot's pick-up of an unanswered message): one
-- row per piece of work, held by one holder until a time (microseconds).
CREATE TABLE work_claims (
    work   TEXT PRIMARY KEY NOT NULL,
    holder BLOB NOT NULL,
    until  INTEGER NOT NULL
) STRICT;
