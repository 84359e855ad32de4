-- The room change log (storage.RoomChange): one row per change that may
-- affect who may be in a room — a room updated or deleted, an affiliation
-- set, a category's policy put — written in the change's own transaction.
-- Every running parleyd reads it to apply changes made elsewhere (parleyctl,
-- another node of the pool) to the occupants it hosts, and deletes rows
-- older than an hour. Concurrent transactions may commit their ids out of
-- order: see storage.RoomStore.RoomChanges.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE room_changes (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    room       VARCHAR(255) NOT NULL,  -- '' for a category change
    category   VARCHAR(255) NOT NULL,  -- '' for a room change
    changed_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY room_changes_changed_at (changed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE room_changes;
