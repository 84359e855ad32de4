-- The XMPP server-to-server link table each node publishes (issue 11),
-- for `parleyctl s2s list`: status is a JSON storage.S2SStatus, replaced
-- every few seconds by the node. storage/mysql/migrations has the same
-- migration; change both in the same commit.

-- +goose Up
CREATE TABLE s2s_status (
    node   TEXT NOT NULL PRIMARY KEY,
    status BLOB NOT NULL
) STRICT;

-- +goose Down
DROP TABLE s2s_status;
