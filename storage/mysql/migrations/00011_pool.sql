-- Pool state (shared/DESIGN.md §4): room_hosts says which node hosts each
-- room and the epoch of its claim (a post commits only if its host's fence
-- still matches: fencing); pool_nodes is each node's last published status;
-- pool_secrets holds secrets every node must share (the XEP-0421
-- occupant-id key). storage/sqlite/migrations has the same tables, unused
-- there: SQLite cannot back a pool.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE room_hosts (
    room       VARCHAR(255) NOT NULL,
    node       VARCHAR(255) NOT NULL,
    epoch      BIGINT       NOT NULL,
    claimed_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (room)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE pool_nodes (
    node        VARCHAR(255) NOT NULL,
    status      MEDIUMBLOB   NOT NULL,  -- JSON storage.NodeStatus
    seen_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (node)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE pool_secrets (
    name   VARCHAR(255) NOT NULL,
    secret VARBINARY(1024) NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE pool_secrets;
DROP TABLE pool_nodes;
DROP TABLE room_hosts;
