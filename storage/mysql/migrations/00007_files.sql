-- Files from XEP-0363 HTTP File Upload (shared/DESIGN.md §5): kept in the
-- content database in chunks, so that any node of a pool can serve them. A
-- row in files is a slot until its upload completes; its size counts
-- against the owner's quota from the moment the slot is handed out.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE files (
    id           VARCHAR(64)  NOT NULL,
    owner        VARCHAR(512) NOT NULL,  -- bare JID of the uploader
    name         MEDIUMTEXT   NOT NULL,
    size         BIGINT       NOT NULL,
    content_type VARCHAR(255) NOT NULL,
    state        VARCHAR(16)  NOT NULL,
    sha256       VARBINARY(32) NULL,     -- NULL until complete
    created_at   DATETIME(6)  NOT NULL,
    expires_at   DATETIME(6)  NOT NULL,
    uploaded_at  DATETIME(6)  NULL,      -- NULL until complete
    downloads    BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    KEY files_by_owner (owner, state, expires_at),
    KEY files_by_expiry (state, expires_at),
    CONSTRAINT files_size CHECK (size >= 0),
    CONSTRAINT files_state CHECK (state IN ('slot', 'uploading', 'complete'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Rows of up to storage.MaxFileChunkSize bytes.
CREATE TABLE file_chunks (
    file VARCHAR(64) NOT NULL,
    seq  INT         NOT NULL,
    data MEDIUMBLOB  NOT NULL,
    PRIMARY KEY (file, seq),
    CONSTRAINT file_chunks_file FOREIGN KEY (file)
        REFERENCES files (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Quota checks lock the owner's row here first, so that two slots for
-- the same user, requested at once on two nodes, are counted one after
-- the other.
CREATE TABLE file_owners (
    owner VARCHAR(512) NOT NULL,
    PRIMARY KEY (owner)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE file_owners;
DROP TABLE file_chunks;
DROP TABLE files;
