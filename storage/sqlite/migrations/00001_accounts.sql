-- Local users and what is needed to verify their logins without knowing their
-- passwords: SCRAM salt, iteration count, StoredKey and ServerKey for each
-- mechanism (RFC 5802 §3, RFC 7677).
--
-- Conventions for every table of the content database:
--   * STRICT tables: SQLite checks the declared column types.
--   * Text compares byte for byte (SQLite's default BINARY collation): callers
--     normalise usernames and JIDs, so "Alice" and "alice" never both arrive.
--   * Times are INTEGER Unix microseconds, UTC (MySQL: DATETIME(6) in UTC).
--   * Every row that belongs to an account references accounts(username)
--     ON DELETE CASCADE, so deleting an account deletes all of its data.

-- +goose Up
CREATE TABLE accounts (
    username   TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE scram_credentials (
    username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    mechanism  TEXT    NOT NULL,   -- "SCRAM-SHA-1", "SCRAM-SHA-256", without -PLUS
    salt       BLOB    NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0),
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    PRIMARY KEY (username, mechanism)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE scram_credentials;
DROP TABLE accounts;
