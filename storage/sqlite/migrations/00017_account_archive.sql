-- The account's own archive of 1:1 messages (XEP-0313 on the bare JID),
-- its archiving preferences, and its blocklist (XEP-0191), for issue 12.
-- All of it goes with the account. storage/mysql/migrations has the same
-- migration; change both in the same commit.
--
-- user_archive keeps every archived 1:1 message once per account that
-- archives it (the sender's and the recipient's, each with the stanza-id
-- that account assigned). id orders an account's archive and is the rowid
-- the FTS5 index refers to (INTEGER PRIMARY KEY: VACUUM never renumbers
-- it). Full-text search is built as the room history's (00005): an
-- external-content FTS5 table over body and symbols, kept in step by
-- triggers, with the same tokenizer.

-- +goose Up
CREATE TABLE user_archive (
    id          INTEGER NOT NULL PRIMARY KEY,
    owner       TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    stanza_id   TEXT    NOT NULL,   -- XEP-0359, assigned by the account (by = its bare JID)
    with_jid    TEXT    NOT NULL,   -- the other party's bare JID
    outgoing    INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
    body        TEXT    NOT NULL,
    symbols     TEXT    NOT NULL,   -- the body's emoji as words, for full-text search
    stanza      BLOB    NOT NULL,
    archived_at INTEGER NOT NULL,
    UNIQUE (owner, stanza_id)
) STRICT;

CREATE INDEX user_archive_by_owner ON user_archive (owner, id);
CREATE INDEX user_archive_by_with ON user_archive (owner, with_jid, id);
CREATE INDEX user_archive_by_time ON user_archive (archived_at);

CREATE VIRTUAL TABLE user_archive_fts USING fts5 (
    body,
    symbols,
    content = 'user_archive',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- +goose StatementBegin
CREATE TRIGGER user_archive_fts_insert AFTER INSERT ON user_archive
BEGIN
    INSERT INTO user_archive_fts (rowid, body, symbols) VALUES (new.id, new.body, new.symbols);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER user_archive_fts_delete AFTER DELETE ON user_archive
BEGIN
    INSERT INTO user_archive_fts (user_archive_fts, rowid, body, symbols) VALUES ('delete', old.id, old.body, old.symbols);
END;
-- +goose StatementEnd

-- XEP-0313 §6.1 preferences: the default (always, never, roster) and the
-- JIDs always and never archived, as JSON arrays.
CREATE TABLE archive_prefs (
    owner        TEXT NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
    always_jids  TEXT NOT NULL,
    never_jids   TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- XEP-0191: the JIDs (bare, full, domain or domain/resource) an account
-- blocks.
CREATE TABLE blocklist (
    owner TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    jid   TEXT NOT NULL,
    PRIMARY KEY (owner, jid)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE blocklist;
DROP TABLE archive_prefs;
DROP TRIGGER user_archive_fts_delete;
DROP TRIGGER user_archive_fts_insert;
DROP TABLE user_archive_fts;
DROP TABLE user_archive;
