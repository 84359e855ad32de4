-- The compliance outbox (shared/DESIGN.md §6): every event is written in the
-- transaction of the change it records; the compliance worker copies the
-- rows to the compliance database and deletes them. No foreign keys: an
-- event outlives the room it names (room.delete). AUTOINCREMENT: ids are
-- never reused, even after the newest rows were deleted.

-- +goose Up
CREATE TABLE outbox (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,   -- "post", "join", "room.create", …
    room        TEXT    NOT NULL,   -- '' for events outside rooms
    actor       TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    payload     BLOB    NOT NULL    -- JSON, or empty
) STRICT;

-- +goose Down
DROP TABLE outbox;
