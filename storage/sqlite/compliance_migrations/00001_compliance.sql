-- The compliance database (shared/DESIGN.md §6), separate from the content
-- database: its own file (or database), its own version table
-- (parley_compliance_migrations). storage/mysql/compliance_migrations is the
-- same schema for MySQL; change both in the same commit.
--
-- compliance_events keeps every outbox event the worker copied, in the order
-- it copied them (seq). event_id is unique: copying an event again after a
-- crash between the copy and the outbox delete stores nothing twice.
-- compliance_lease holds the lease that makes one worker active per pool.

-- +goose Up
CREATE TABLE compliance_events (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL UNIQUE,
    outbox_id   INTEGER NOT NULL,   -- the event's id in the content outbox
    type        TEXT    NOT NULL,   -- "post", "join", "room.create", …
    room        TEXT    NOT NULL,   -- '' for events outside rooms
    actor       TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,   -- Unix microseconds
    payload     BLOB    NOT NULL,   -- JSON, or empty
    captured_at INTEGER NOT NULL    -- Unix microseconds
) STRICT;

-- Export and retention select by time, and by room and time.
CREATE INDEX compliance_events_time ON compliance_events (occurred_at);
CREATE INDEX compliance_events_room_time ON compliance_events (room, occurred_at);

CREATE TABLE compliance_lease (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,    -- '' when free
    expires_at INTEGER NOT NULL     -- Unix microseconds
) STRICT;

-- +goose Down
DROP TABLE compliance_lease;
DROP TABLE compliance_events;
