-- Messages kept for users who were offline when they arrived (RFC 6121
-- §8.5.2.2.1). AUTOINCREMENT makes SQLite never reuse an id, even after the
-- newest rows were deleted: clients and callers rely on ids only growing.

-- +goose Up
CREATE TABLE offline_messages (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    owner     TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    from_jid  TEXT    NOT NULL,   -- the sender's full JID
    stanza    BLOB    NOT NULL,   -- the message stanza as it is to be delivered
    stored_at INTEGER NOT NULL
) STRICT;

CREATE INDEX offline_messages_by_owner ON offline_messages (owner, id);

-- +goose Down
DROP TABLE offline_messages;
