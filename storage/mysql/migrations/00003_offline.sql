-- Messages kept for users who were offline when they arrived (RFC 6121
-- §8.5.2.2.1). InnoDB never hands out an AUTO_INCREMENT value twice, and since
-- MySQL 8.0 and MariaDB 10.2.4 the counter survives a restart, so ids only
-- grow.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE offline_messages (
    id        BIGINT        NOT NULL AUTO_INCREMENT,
    owner     VARCHAR(255)  NOT NULL,
    from_jid  VARCHAR(3071) NOT NULL,  -- the sender's full JID (RFC 7622 §3.1)
    stanza    MEDIUMBLOB    NOT NULL,  -- the message stanza as it is to be delivered
    stored_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    KEY offline_messages_by_owner (owner, id),
    CONSTRAINT offline_messages_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE offline_messages;
