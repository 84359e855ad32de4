-- The compliance database (shared/DESIGN.md §6), separate from the content
-- database: its own database (or server), its own version table
-- (parley_compliance_migrations). storage/sqlite/compliance_migrations is
-- the same schema for SQLite; change both in the same commit.
--
-- compliance_events keeps every outbox event the worker copied, in the order
-- it copied them (seq). event_id is unique: copying an event again after a
-- crash between the copy and the outbox delete stores nothing twice.
-- compliance_lease holds the lease that makes one worker active per pool.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE compliance_events (
    seq         BIGINT       NOT NULL AUTO_INCREMENT,
    event_id    VARCHAR(255) NOT NULL,
    outbox_id   BIGINT       NOT NULL,  -- the event's id in the content outbox
    type        VARCHAR(64)  NOT NULL,  -- "post", "join", "room.create", …
    room        VARCHAR(255) NOT NULL,  -- '' for events outside rooms
    actor       MEDIUMTEXT   NOT NULL,
    occurred_at DATETIME(6)  NOT NULL,
    payload     MEDIUMBLOB   NOT NULL,  -- JSON, or empty
    captured_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY compliance_events_event_id (event_id),
    -- Export and retention select by time, and by room and time.
    KEY compliance_events_time (occurred_at),
    KEY compliance_events_room_time (room, occurred_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE compliance_lease (
    name       VARCHAR(64)  NOT NULL,
    holder     VARCHAR(255) NOT NULL,   -- '' when free
    expires_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE compliance_lease;
DROP TABLE compliance_events;
