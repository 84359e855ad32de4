-- What mobile clients keep on the server (issue 13): FAST tokens
-- (XEP-0484), one per account and device (the SASL2 user-agent id), stored
-- as the SHA-256 of the token with the one before the last rotation; and
-- push registrations (XEP-0357). Both go with the account.
-- storage/sqlite/migrations has the same migration; change both in the
-- same commit.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE fast_tokens (
    owner        VARCHAR(255)   NOT NULL,
    agent_id     VARCHAR(128)   NOT NULL,
    mechanism    VARCHAR(32)    NOT NULL,
    hash         VARBINARY(64)  NOT NULL,
    expires_at   DATETIME(6)    NOT NULL,
    prev_hash    VARBINARY(64)  NOT NULL,
    prev_expires DATETIME(6)    NULL,
    last_count   BIGINT         NOT NULL,
    software     VARCHAR(1024)  NOT NULL,
    device       VARCHAR(1024)  NOT NULL,
    created_at   DATETIME(6)    NOT NULL,
    used_at      DATETIME(6)    NULL,
    PRIMARY KEY (owner, agent_id),
    CONSTRAINT fast_tokens_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE push_registrations (
    owner      VARCHAR(255)  NOT NULL,
    jid        VARCHAR(255)  NOT NULL,
    node       VARCHAR(255)  NOT NULL,
    options    MEDIUMBLOB    NOT NULL,
    created_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (owner, jid, node),
    CONSTRAINT push_registrations_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE push_registrations;
DROP TABLE fast_tokens;
