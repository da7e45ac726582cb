-- Appending an event advances its conversation's last_seq and updated_at inside SQLite, so
-- a plain message costs one statement. Phase changes still update their own columns.
CREATE TRIGGER events_advance_conversation AFTER INSERT ON events
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.at WHERE id = NEW.conversation_id;
END;
