-- The room change log (storage.RoomChange): one row per change that may
-- affect who may be in a room — a room updated or deleted, an affiliation
-- set, a category's policy put — written in the change's own transaction.
-- Every running parleyd reads it to apply changes made elsewhere (parleyctl,
-- another node of a pool) to the occupants it hosts, and deletes rows
-- older than an hour. AUTOINCREMENT: ids are never reused.

-- +goose Up
CREATE TABLE room_changes (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    room       TEXT    NOT NULL,   -- '' for a category change
    category   TEXT    NOT NULL,   -- '' for a room change
    changed_at INTEGER NOT NULL
) STRICT;

CREATE INDEX room_changes_changed_at ON room_changes (changed_at);

-- +goose Down
DROP TABLE room_changes;
