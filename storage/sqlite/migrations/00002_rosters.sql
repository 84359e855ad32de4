-- Rosters (RFC 6121 §2): one row per contact, a version per owner that every
-- change increments (§2.6), and the inbound subscription requests the owner
-- has not answered yet (§3.1.3).

-- +goose Up
CREATE TABLE roster_items (
    owner        TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    jid          TEXT    NOT NULL,   -- the contact's bare JID
    name         TEXT    NOT NULL,   -- '' when the user gave no handle
    subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          INTEGER NOT NULL CHECK (ask IN (0, 1)),   -- 1: ask="subscribe"
    group_names  TEXT    NOT NULL,   -- JSON array of strings, in the client's order
    PRIMARY KEY (owner, jid)
) STRICT, WITHOUT ROWID;

-- A row appears with the owner's first roster change; no row means version 0.
CREATE TABLE roster_versions (
    owner   TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    version INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- id orders the requests, oldest first; a repeated request keeps its row.
CREATE TABLE pending_subscriptions (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    owner      TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    from_jid   TEXT    NOT NULL,   -- the requester's bare JID
    stanza     BLOB    NOT NULL,   -- the presence stanza as received
    created_at INTEGER NOT NULL,
    UNIQUE (owner, from_jid)
) STRICT;

-- +goose Down
DROP TABLE pending_subscriptions;
DROP TABLE roster_versions;
DROP TABLE roster_items;
