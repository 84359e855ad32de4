-- compliance_adapter_positions: how far each compliance adapter (the XML
-- and JSON-lines writers, package compliance) has written the events, kept
-- beside them so that an adapter resumes where it stopped on whichever node
-- holds the worker lease. storage/sqlite/compliance_migrations has the same
-- migration; change both in the same commit.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE compliance_adapter_positions (
    name       VARCHAR(64) NOT NULL,
    seq        BIGINT      NOT NULL,  -- the last event written
    pending    BIGINT      NOT NULL,  -- end of an unfinished run, else = seq
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE compliance_adapter_positions;
