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

-- +goose Up
CREATE TABLE stanza_repairs (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    table_name  TEXT    NOT NULL,
    row_key     TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('repaired', 'quarantined')),
    reason      TEXT    NOT NULL,   -- what was not well-formed
    original    BLOB    NOT NULL,
    repaired_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE stanza_repairs;
