-- Stored stanzas that were not well-formed XML, as they were before the
-- repair migration changed them (issue 18: a stanza with an attribute given
-- twice was relayed and archived before the XMPP front door refused it).
-- The repair is migration 00014, written in Go because SQL cannot parse XML
-- (storage/internal/sqlstore/stanzarepair.go): it reads every stanza in
-- history, offline_messages and pending_subscriptions once and either
-- repairs it (a repeated attribute dropped, the first kept; a character XML
-- forbids replaced by U+FFFD) or quarantines it (a history row keeps its
-- body and its stanza becomes empty, so it is replayed from the body; an
-- offline message or subscription request is removed). Either way the
-- original is kept here, for audit; nothing is ever sent from this table.
--
-- row_key names the row: its key columns as a JSON object.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE stanza_repairs (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    table_name  VARCHAR(64)  NOT NULL,
    row_key     MEDIUMTEXT   NOT NULL,
    outcome     VARCHAR(16)  NOT NULL,
    reason      MEDIUMTEXT   NOT NULL,  -- what was not well-formed
    original    MEDIUMBLOB   NOT NULL,
    repaired_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT stanza_repairs_outcome CHECK (outcome IN ('repaired', 'quarantined'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE stanza_repairs;
