-- The room engine's categories, rooms and affiliations (shared/DESIGN.md §1).
-- A category's member and creator lists are JSON arrays of bare JIDs, like
-- roster groups: the engine always reads a category whole. Room and
-- category names are VARCHAR(255) (storage.MaxRoomNameLength,
-- MaxCategoryNameLength), so that (room, jid) keys fit InnoDB's 3072 bytes.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE categories (
    name            VARCHAR(255) NOT NULL,
    description     MEDIUMTEXT   NOT NULL,
    allowed_members MEDIUMTEXT   NOT NULL,  -- JSON array; "*" allows every local user
    denied_members  MEDIUMTEXT   NOT NULL,  -- JSON array; denial wins
    creators        MEDIUMTEXT   NOT NULL,  -- JSON array
    file_upload     BOOLEAN      NOT NULL,
    invitations     BOOLEAN      NOT NULL,
    chat_history    BOOLEAN      NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A category with rooms cannot be deleted (ON DELETE RESTRICT): the store
-- checks first and says so, the foreign key is the backstop.
CREATE TABLE rooms (
    name           VARCHAR(255) NOT NULL,
    category       VARCHAR(255) NOT NULL,
    title          MEDIUMTEXT   NOT NULL,
    description    MEDIUMTEXT   NOT NULL,
    subject        MEDIUMTEXT   NOT NULL,
    subject_nick   MEDIUMTEXT   NOT NULL,
    subject_time   DATETIME(6)  NULL,      -- NULL: no subject was ever set
    public         BOOLEAN      NOT NULL,
    members_only   BOOLEAN      NOT NULL,
    moderated      BOOLEAN      NOT NULL,
    password       MEDIUMTEXT   NOT NULL,
    whois          VARCHAR(64)  NOT NULL,
    max_users      INT          NOT NULL,
    change_subject VARCHAR(64)  NOT NULL,
    allow_pm       VARCHAR(64)  NOT NULL,
    allow_invites  BOOLEAN      NOT NULL,
    disabled       BOOLEAN      NOT NULL,
    add_in_url     MEDIUMTEXT   NOT NULL,
    creator        MEDIUMTEXT   NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    -- The Seq of the room's newest history row. AppendHistory locks the
    -- row, reads and bumps it in the transaction that appends: that lock
    -- is what orders a room's posts across the nodes of a pool.
    last_seq       BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (name),
    KEY rooms_by_category (category),
    CONSTRAINT rooms_max_users CHECK (max_users >= 0),
    CONSTRAINT rooms_category FOREIGN KEY (category)
        REFERENCES categories (name) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Only owner, admin, member and outcast are stored; "none" is no row.
CREATE TABLE affiliations (
    room        VARCHAR(255) NOT NULL,
    jid         VARCHAR(512) NOT NULL,  -- bare JID
    affiliation VARCHAR(16)  NOT NULL,
    presenter   BOOLEAN      NOT NULL,
    reason      MEDIUMTEXT   NOT NULL,
    PRIMARY KEY (room, jid),
    CONSTRAINT affiliations_affiliation CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    CONSTRAINT affiliations_room FOREIGN KEY (room)
        REFERENCES rooms (name) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE affiliations;
DROP TABLE rooms;
DROP TABLE categories;
