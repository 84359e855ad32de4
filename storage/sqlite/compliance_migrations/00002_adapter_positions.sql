-- compliance_adapter_positions: how far each compliance adapter (the XML
-- and JSON-lines writers, package compliance) has written the events, kept
-- beside them so that an adapter resumes where it stopped on whichever node
-- holds the worker lease. storage/mysql/compliance_migrations has the same
-- migration; change both in the same commit.

-- +goose Up
CREATE TABLE compliance_adapter_positions (
    name       TEXT    NOT NULL PRIMARY KEY,
    seq        INTEGER NOT NULL,   -- the last event written
    pending    INTEGER NOT NULL,   -- end of an unfinished run, else = seq
    updated_at INTEGER NOT NULL    -- Unix microseconds
) STRICT;

-- +goose Down
DROP TABLE compliance_adapter_positions;
