-- Local users and what is needed to verify their logins without knowing their
-- passwords: SCRAM salt, iteration count, StoredKey and ServerKey for each
-- mechanism (RFC 5802 §3, RFC 7677).
--
-- Conventions for every table of the content database (MySQL 8 and MariaDB
-- 10.11 both accept all of it):
--   * InnoDB, utf8mb4 (emoji are ordinary chat content) with the utf8mb4_bin
--     collation: usernames and JIDs compare byte for byte, because callers
--     normalise them; MySQL's default _ci collations would fold case and
--     accents behind their back. (utf8mb4_bin is a PAD SPACE collation:
--     trailing spaces are ignored in comparisons. Normalised usernames and
--     bare JIDs cannot end in a space.)
--     Text that people search (room history bodies, later) declares its own
--     case-insensitive collation: a FULLTEXT index on a _bin column matches
--     case-sensitively.
--   * Key lengths: usernames VARCHAR(255) and bare JIDs VARCHAR(512), so that
--     (owner, jid) keys fit InnoDB's 3072-byte limit at 4 bytes a character
--     (storage.MaxUsernameLength, storage.MaxJIDLength).
--   * Times are DATETIME(6) in UTC; the store forces time_zone '+00:00'.
--   * Every row that belongs to an account references accounts(username)
--     ON DELETE CASCADE, so deleting an account deletes all of its data.
--   * DDL commits implicitly in MySQL, so a transaction around a migration
--     would protect nothing: the files say NO TRANSACTION. A migration that
--     fails halfway keeps the statements before the failing one and is not
--     recorded as applied; Open's error names its version.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE accounts (
    username   VARCHAR(255) NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE scram_credentials (
    username   VARCHAR(255)   NOT NULL,
    mechanism  VARCHAR(64)    NOT NULL,  -- "SCRAM-SHA-1", "SCRAM-SHA-256", without -PLUS
    salt       VARBINARY(255) NOT NULL,
    iterations INT            NOT NULL,
    stored_key VARBINARY(255) NOT NULL,
    server_key VARBINARY(255) NOT NULL,
    PRIMARY KEY (username, mechanism),
    CONSTRAINT scram_credentials_iterations CHECK (iterations > 0),
    CONSTRAINT scram_credentials_account FOREIGN KEY (username)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE scram_credentials;
DROP TABLE accounts;
