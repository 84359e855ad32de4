-- The compliance outbox (shared/DESIGN.md §6): every event is written in the
-- transaction of the change it records; the compliance worker copies the
-- rows to the compliance database and deletes them. No foreign keys: an
-- event outlives the room it names (room.delete). Concurrent transactions
-- may commit their ids out of order: see storage.RoomStore.ReadOutbox.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE outbox (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    event_id    VARCHAR(255) NOT NULL,
    type        VARCHAR(64)  NOT NULL,  -- "post", "join", "room.create", …
    room        VARCHAR(255) NOT NULL,  -- '' for events outside rooms
    actor       MEDIUMTEXT   NOT NULL,
    occurred_at DATETIME(6)  NOT NULL,
    payload     MEDIUMBLOB   NOT NULL,  -- JSON, or empty
    PRIMARY KEY (id),
    UNIQUE KEY outbox_event_id (event_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE outbox;
