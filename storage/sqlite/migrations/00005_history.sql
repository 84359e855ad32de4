-- Room history (XEP-0313 archives): the full stanza as reflected plus the
-- columns that queries filter on, and its full-text index (XEP-0431).
--
-- id is the rowid that the FTS5 index refers to. It is declared INTEGER
-- PRIMARY KEY so that VACUUM never renumbers it; (room, seq) is the key
-- everything else uses.
--
-- history_fts is an external-content FTS5 table over history: it keeps only
-- the index, history keeps the text. Triggers keep the two in step, for
-- every insert, update and delete, including the deletes that ON DELETE
-- CASCADE makes when a room goes, so that FTS5's integrity-check and
-- rebuild agree with it. A tombstone's body is its replacement text, so a
-- retracted body cannot be found; queries leave tombstones out. The
-- unicode61 tokenizer folds case for
-- all of Unicode and, with remove_diacritics 2, strips accents ("cafe"
-- finds "Café"). Emoji are not token characters to it, so each body's
-- symbols are written as words into the symbols column as well
-- (storage/internal/fulltext).

-- +goose Up
CREATE TABLE history (
    id          INTEGER NOT NULL PRIMARY KEY,
    room        TEXT    NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    stanza_id   TEXT    NOT NULL,   -- XEP-0359, assigned by the room
    origin_id   TEXT    NOT NULL,   -- XEP-0359, the client's
    occupant_id TEXT    NOT NULL,   -- XEP-0421
    nick        TEXT    NOT NULL,
    real_jid    TEXT    NOT NULL,
    front_door  TEXT    NOT NULL,   -- "xmpp", "sip"
    kind        TEXT    NOT NULL CHECK (kind IN ('post', 'correction', 'retraction', 'moderation', 'subject')),
    target      TEXT    NOT NULL,   -- the stanza_id a correction, retraction or moderation applies to
    body        TEXT    NOT NULL,
    symbols     TEXT    NOT NULL,   -- the body's emoji as words, for full-text search
    stanza      BLOB    NOT NULL,
    posted_at   INTEGER NOT NULL,
    tombstone   INTEGER NOT NULL CHECK (tombstone IN (0, 1)),
    UNIQUE (room, seq),
    UNIQUE (room, stanza_id)
) STRICT;

CREATE INDEX history_by_time ON history (room, posted_at);
CREATE INDEX history_by_nick ON history (room, nick, seq);
CREATE INDEX history_by_real_jid ON history (room, real_jid, seq);

CREATE VIRTUAL TABLE history_fts USING fts5 (
    body,
    symbols,
    content = 'history',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- +goose StatementBegin
CREATE TRIGGER history_fts_insert AFTER INSERT ON history
BEGIN
    INSERT INTO history_fts (rowid, body, symbols) VALUES (new.id, new.body, new.symbols);
END;
-- +goose StatementEnd

-- An external-content FTS5 table is told what to forget with the values it
-- indexed.
-- +goose StatementBegin
CREATE TRIGGER history_fts_delete AFTER DELETE ON history
BEGIN
    INSERT INTO history_fts (history_fts, rowid, body, symbols) VALUES ('delete', old.id, old.body, old.symbols);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER history_fts_update AFTER UPDATE OF body, symbols ON history
BEGIN
    INSERT INTO history_fts (history_fts, rowid, body, symbols) VALUES ('delete', old.id, old.body, old.symbols);
    INSERT INTO history_fts (rowid, body, symbols) VALUES (new.id, new.body, new.symbols);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER history_fts_update;
DROP TRIGGER history_fts_delete;
DROP TRIGGER history_fts_insert;
DROP TABLE history_fts;
DROP TABLE history;
