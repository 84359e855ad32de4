-- The XMPP server-to-server link table each node publishes (issue 11),
-- for `parleyctl s2s list`: status is a JSON storage.S2SStatus, replaced
-- every few seconds by the node. storage/sqlite/migrations has the same
-- migration; change both in the same commit.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE s2s_status (
    node   VARCHAR(255) NOT NULL,
    status MEDIUMBLOB   NOT NULL,
    PRIMARY KEY (node)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE s2s_status;
