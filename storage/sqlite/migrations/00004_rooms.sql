-- The room engine's categories, rooms and affiliations (shared/DESIGN.md §1).
-- A category's member and creator lists are JSON arrays of bare JIDs, like
-- roster groups: the engine always reads a category whole.

-- +goose Up
CREATE TABLE categories (
    name            TEXT    NOT NULL PRIMARY KEY,
    description     TEXT    NOT NULL,
    allowed_members TEXT    NOT NULL,   -- JSON array; "*" allows every local user
    denied_members  TEXT    NOT NULL,   -- JSON array; denial wins
    creators        TEXT    NOT NULL,   -- JSON array
    file_upload     INTEGER NOT NULL CHECK (file_upload IN (0, 1)),
    invitations     INTEGER NOT NULL CHECK (invitations IN (0, 1)),
    chat_history    INTEGER NOT NULL CHECK (chat_history IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- A category with rooms cannot be deleted (no ON DELETE action): the store
-- checks first and says so, the foreign key is the backstop.
CREATE TABLE rooms (
    name           TEXT    NOT NULL PRIMARY KEY,
    category       TEXT    NOT NULL REFERENCES categories (name),
    title          TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    subject_nick   TEXT    NOT NULL,
    subject_time   INTEGER,            -- NULL: no subject was ever set
    public         INTEGER NOT NULL CHECK (public IN (0, 1)),
    members_only   INTEGER NOT NULL CHECK (members_only IN (0, 1)),
    moderated      INTEGER NOT NULL CHECK (moderated IN (0, 1)),
    password       TEXT    NOT NULL,
    whois          TEXT    NOT NULL,
    max_users      INTEGER NOT NULL CHECK (max_users >= 0),
    change_subject TEXT    NOT NULL,
    allow_pm       TEXT    NOT NULL,
    allow_invites  INTEGER NOT NULL CHECK (allow_invites IN (0, 1)),
    disabled       INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    add_in_url     TEXT    NOT NULL,
    creator        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- The Seq of the room's newest history row; AppendHistory reads and
    -- bumps it in the transaction that appends.
    last_seq       INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX rooms_by_category ON rooms (category);

-- Only owner, admin, member and outcast are stored; "none" is no row.
CREATE TABLE affiliations (
    room        TEXT    NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    jid         TEXT    NOT NULL,   -- bare JID
    affiliation TEXT    NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    presenter   INTEGER NOT NULL CHECK (presenter IN (0, 1)),
    reason      TEXT    NOT NULL,
    PRIMARY KEY (room, jid)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE affiliations;
DROP INDEX rooms_by_category;
DROP TABLE rooms;
DROP TABLE categories;
