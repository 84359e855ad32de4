-- Rosters (RFC 6121 §2): one row per contact, a version per owner that every
-- change increments (§2.6), and the inbound subscription requests the owner
-- has not answered yet (§3.1.3).

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE roster_items (
    owner        VARCHAR(255) NOT NULL,
    jid          VARCHAR(512) NOT NULL,  -- the contact's bare JID
    name         TEXT         NOT NULL,  -- '' when the user gave no handle
    subscription VARCHAR(4)   NOT NULL,
    ask          BOOLEAN      NOT NULL,  -- TRUE: ask="subscribe"
    group_names  TEXT         NOT NULL,  -- JSON array of strings, in the client's order
    PRIMARY KEY (owner, jid),
    CONSTRAINT roster_items_subscription CHECK (subscription IN ('none', 'to', 'from', 'both')),
    CONSTRAINT roster_items_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A row appears with the owner's first roster change; no row means version 0.
CREATE TABLE roster_versions (
    owner   VARCHAR(255) NOT NULL,
    version BIGINT       NOT NULL,
    PRIMARY KEY (owner),
    CONSTRAINT roster_versions_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- id orders the requests, oldest first; a repeated request keeps its row.
CREATE TABLE pending_subscriptions (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    owner      VARCHAR(255) NOT NULL,
    from_jid   VARCHAR(512) NOT NULL,  -- the requester's bare JID
    stanza     MEDIUMBLOB   NOT NULL,  -- the presence stanza as received
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY pending_subscriptions_owner_from (owner, from_jid),
    CONSTRAINT pending_subscriptions_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE pending_subscriptions;
DROP TABLE roster_versions;
DROP TABLE roster_items;
