-- Retention and legal hold (issue 5 item 5): categories.retention_days is
-- how many days its rooms keep history (0: forever), and holds are the legal
-- holds on users (bare JIDs) and rooms that stop every purge of what they
-- cover. storage/sqlite/migrations has the same migration; change both in
-- the same commit.
-- Key length: (16 + 512) characters at 4 bytes is 2112 bytes.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE categories ADD COLUMN retention_days INT NOT NULL DEFAULT 0;

CREATE TABLE holds (
    kind       VARCHAR(16)  NOT NULL,  -- "user" or "room"
    name       VARCHAR(512) NOT NULL,  -- a bare JID or a room name
    reason     MEDIUMTEXT   NOT NULL,
    actor      MEDIUMTEXT   NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (kind, name),
    CONSTRAINT holds_kind CHECK (kind IN ('user', 'room'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE holds;
ALTER TABLE categories DROP COLUMN retention_days;
