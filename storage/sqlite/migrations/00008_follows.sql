-- Topic feeds (shared/DESIGN.md §1 "Topic feed / keyword alert"): a user
-- follows a room, with keywords (a JSON array, like roster groups; empty:
-- every post). A follow goes with its room. No foreign key to accounts:
-- followers are bare JIDs, accounts are keyed by localpart.

-- +goose Up
CREATE TABLE follows (
    user_jid   TEXT    NOT NULL,
    room       TEXT    NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    keywords   TEXT    NOT NULL,   -- JSON array
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_jid, room)
) STRICT, WITHOUT ROWID;

-- FollowersOf: the engine loads a room's followers when a post lands.
CREATE INDEX follows_by_room ON follows (room, user_jid);

-- +goose Down
DROP INDEX follows_by_room;
DROP TABLE follows;
