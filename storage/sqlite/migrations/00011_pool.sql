-- Pool state: the same tables as storage/mysql/migrations/00011_pool.sql,
-- so both schemas stay one. SQLite cannot back a pool (parleyd refuses to
-- start in pool mode on it), so nothing writes them here.

-- +goose Up
CREATE TABLE room_hosts (
    room       TEXT    NOT NULL PRIMARY KEY,
    node       TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    claimed_at TEXT    NOT NULL
);

CREATE TABLE pool_nodes (
    node    TEXT NOT NULL PRIMARY KEY,
    status  BLOB NOT NULL,
    seen_at TEXT NOT NULL
);

CREATE TABLE pool_secrets (
    name   TEXT NOT NULL PRIMARY KEY,
    secret BLOB NOT NULL
);

-- +goose Down
DROP TABLE pool_secrets;
DROP TABLE pool_nodes;
DROP TABLE room_hosts;
