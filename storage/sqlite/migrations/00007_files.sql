-- Files from XEP-0363 HTTP File Upload (shared/DESIGN.md §5): kept in the
-- content database in chunks, so that any node can serve them. A row in
-- files is a slot until its upload completes; its size counts against the
-- owner's quota from the moment the slot is handed out.

-- +goose Up
CREATE TABLE files (
    id           TEXT    NOT NULL PRIMARY KEY,
    owner        TEXT    NOT NULL,   -- bare JID of the uploader
    name         TEXT    NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    content_type TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('slot', 'uploading', 'complete')),
    sha256       BLOB,               -- NULL until complete
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    uploaded_at  INTEGER,            -- NULL until complete
    downloads    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX files_by_owner ON files (owner, state, expires_at);
CREATE INDEX files_by_expiry ON files (state, expires_at);

CREATE TABLE file_chunks (
    file TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    data BLOB    NOT NULL,
    PRIMARY KEY (file, seq)
) STRICT;

-- +goose Down
DROP TABLE file_chunks;
DROP INDEX files_by_expiry;
DROP INDEX files_by_owner;
DROP TABLE files;
