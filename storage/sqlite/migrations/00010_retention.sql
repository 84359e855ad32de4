-- Retention and legal hold (issue 5 item 5): categories.retention_days is
-- how many days its rooms keep history (0: forever), and holds are the legal
-- holds on users (bare JIDs) and rooms that stop every purge of what they
-- cover. storage/mysql/migrations has the same migration; change both in
-- the same commit.

-- +goose Up
ALTER TABLE categories ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days >= 0);

CREATE TABLE holds (
    kind       TEXT    NOT NULL CHECK (kind IN ('user', 'room')),
    name       TEXT    NOT NULL,   -- a bare JID or a room name
    reason     TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,   -- Unix microseconds
    PRIMARY KEY (kind, name)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE holds;
ALTER TABLE categories DROP COLUMN retention_days;
