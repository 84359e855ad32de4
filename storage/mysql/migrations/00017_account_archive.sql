-- The account's own archive of 1:1 messages (XEP-0313 on the bare JID),
-- its archiving preferences, and its blocklist (XEP-0191), for issue 12.
-- All of it goes with the account. storage/sqlite/migrations has the same
-- migration; change both in the same commit.
--
-- user_archive keeps every archived 1:1 message once per account that
-- archives it (the sender's and the recipient's, each with the stanza-id
-- that account assigned); id orders an account's archive. Full-text search
-- is built as the room history's (00005): a FULLTEXT index over body and
-- symbols in utf8mb4_unicode_520_ci.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE user_archive (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    owner       VARCHAR(255) NOT NULL,
    stanza_id   VARCHAR(255) NOT NULL,  -- XEP-0359, assigned by the account (by = its bare JID)
    with_jid    VARCHAR(512) NOT NULL,  -- the other party's bare JID
    outgoing    BOOLEAN      NOT NULL,
    body        MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
    symbols     MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
    stanza      MEDIUMBLOB   NOT NULL,
    archived_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY user_archive_stanza_id (owner, stanza_id),
    KEY user_archive_by_owner (owner, id),
    KEY user_archive_by_with (owner, with_jid(510)),  -- ends in id, as every secondary key; 3072 bytes at most
    KEY user_archive_by_time (archived_at),
    FULLTEXT KEY user_archive_fulltext (body, symbols),
    CONSTRAINT user_archive_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE archive_prefs (
    owner        VARCHAR(255) NOT NULL,
    default_mode VARCHAR(16)  NOT NULL,
    always_jids  MEDIUMTEXT   NOT NULL,  -- JSON array
    never_jids   MEDIUMTEXT   NOT NULL,  -- JSON array
    PRIMARY KEY (owner),
    CONSTRAINT archive_prefs_mode CHECK (default_mode IN ('always', 'never', 'roster')),
    CONSTRAINT archive_prefs_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE blocklist (
    owner VARCHAR(255) NOT NULL,
    jid   VARCHAR(512) NOT NULL,
    PRIMARY KEY (owner, jid),
    CONSTRAINT blocklist_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE blocklist;
DROP TABLE archive_prefs;
DROP TABLE user_archive;
