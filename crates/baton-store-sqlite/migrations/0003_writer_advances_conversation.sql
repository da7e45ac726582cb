-- The writer updates each conversation it touched once per batch (last_seq, updated_at and
-- the phase together), so appending an event needs no trigger. A trigger made every INSERT
-- a possibly multi-row statement, which SQLite journals page by page in case it must undo it.
DROP TRIGGER events_advance_conversation;
