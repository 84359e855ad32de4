-- What an account publishes and keeps about itself (issue 12): personal
-- eventing nodes (XEP-0163 over XEP-0060) with their items, private XML
-- storage (XEP-0049) and the vCard (XEP-0054). All of it goes with the
-- account. storage/sqlite/migrations has the same migration; change both in
-- the same commit.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE pubsub_nodes (
    owner         VARCHAR(255) NOT NULL,
    name          VARCHAR(255) NOT NULL,
    access_model  VARCHAR(16)  NOT NULL,
    max_items     INT          NOT NULL,
    persist_items BOOLEAN      NOT NULL,
    send_last     VARCHAR(32)  NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (owner, name),
    CONSTRAINT pubsub_nodes_access CHECK (access_model IN ('open', 'presence', 'whitelist')),
    CONSTRAINT pubsub_nodes_send_last CHECK (send_last IN ('never', 'on_sub', 'on_sub_and_presence')),
    CONSTRAINT pubsub_nodes_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- id orders a node's items, newest last; a republished item gets a new id.
CREATE TABLE pubsub_items (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner        VARCHAR(255) NOT NULL,
    node         VARCHAR(255) NOT NULL,
    item_id      VARCHAR(255) NOT NULL,
    payload      MEDIUMBLOB   NOT NULL,
    publisher    TEXT         NOT NULL,
    published_at DATETIME(6)  NOT NULL,
    UNIQUE KEY pubsub_items_item (owner, node, item_id),
    KEY pubsub_items_by_node (owner, node, id),
    CONSTRAINT pubsub_items_node FOREIGN KEY (owner, node)
        REFERENCES pubsub_nodes (owner, name) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE private_xml (
    owner   VARCHAR(255) NOT NULL,
    xml_key VARCHAR(512) NOT NULL,  -- {namespace}name of the stored element
    payload MEDIUMBLOB   NOT NULL,
    PRIMARY KEY (owner, xml_key),
    CONSTRAINT private_xml_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE vcards (
    owner VARCHAR(255) NOT NULL PRIMARY KEY,
    vcard MEDIUMBLOB   NOT NULL,
    CONSTRAINT vcards_account FOREIGN KEY (owner)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE vcards;
DROP TABLE private_xml;
DROP TABLE pubsub_items;
DROP TABLE pubsub_nodes;
