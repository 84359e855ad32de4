-- What an account publishes and keeps about itself (issue 12): personal
-- eventing nodes (XEP-0163 over XEP-0060) with their items, private XML
-- storage (XEP-0049) and the vCard (XEP-0054). All of it goes with the
-- account. storage/mysql/migrations has the same migration; change both in
-- the same commit.

-- +goose Up
CREATE TABLE pubsub_nodes (
    owner         TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    access_model  TEXT    NOT NULL CHECK (access_model IN ('open', 'presence', 'whitelist')),
    max_items     INTEGER NOT NULL,
    persist_items INTEGER NOT NULL CHECK (persist_items IN (0, 1)),
    send_last     TEXT    NOT NULL CHECK (send_last IN ('never', 'on_sub', 'on_sub_and_presence')),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
) STRICT, WITHOUT ROWID;

-- id orders a node's items, newest last; a republished item gets a new id.
CREATE TABLE pubsub_items (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    owner        TEXT    NOT NULL,
    node         TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    publisher    TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    UNIQUE (owner, node, item_id),
    FOREIGN KEY (owner, node) REFERENCES pubsub_nodes (owner, name) ON DELETE CASCADE
) STRICT;

CREATE INDEX pubsub_items_by_node ON pubsub_items (owner, node, id);

CREATE TABLE private_xml (
    owner   TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    xml_key TEXT NOT NULL,   -- {namespace}name of the stored element
    payload BLOB NOT NULL,
    PRIMARY KEY (owner, xml_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE vcards (
    owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    vcard BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE vcards;
DROP TABLE private_xml;
DROP INDEX pubsub_items_by_node;
DROP TABLE pubsub_items;
DROP TABLE pubsub_nodes;
