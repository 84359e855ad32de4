-- What mobile clients keep on the server (issue 13): FAST tokens
-- (XEP-0484), one per account and device (the SASL2 user-agent id), stored
-- as the SHA-256 of the token with the one before the last rotation; and
-- push registrations (XEP-0357). Both go with the account.
-- storage/mysql/migrations has the same migration; change both in the
-- same commit.

-- +goose Up
CREATE TABLE fast_tokens (
    owner        TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    agent_id     TEXT    NOT NULL,
    mechanism    TEXT    NOT NULL,
    hash         BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    prev_hash    BLOB    NOT NULL,
    prev_expires INTEGER,
    last_count   INTEGER NOT NULL,
    software     TEXT    NOT NULL,
    device       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    used_at      INTEGER,
    PRIMARY KEY (owner, agent_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE push_registrations (
    owner      TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    jid        TEXT    NOT NULL,
    node       TEXT    NOT NULL,
    options    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, jid, node)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE push_registrations;
DROP TABLE fast_tokens;
