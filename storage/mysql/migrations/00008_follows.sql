-- Topic feeds (shared/DESIGN.md §1 "Topic feed / keyword alert"): a user
-- follows a room, with keywords (a JSON array, like roster groups; empty:
-- every post). A follow goes with its room. No foreign key to accounts:
-- followers are bare JIDs, accounts are keyed by localpart.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE follows (
    user_jid   VARCHAR(512) NOT NULL,
    room       VARCHAR(255) NOT NULL,
    keywords   MEDIUMTEXT   NOT NULL,  -- JSON array
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (user_jid, room),
    KEY follows_by_room (room, user_jid),
    CONSTRAINT follows_room FOREIGN KEY (room)
        REFERENCES rooms (name) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE follows;
