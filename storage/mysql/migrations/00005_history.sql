-- Room history (XEP-0313 archives): the full stanza as reflected plus the
-- columns that queries filter on, and its full-text index (XEP-0431).
--
-- The primary key (room, seq) clusters each room's history in order, so a
-- page of it is one range read. The secondary keys (room, nick) and
-- (room, real_jid) end, as every InnoDB secondary key does, in the primary
-- key, so they too yield a user's messages in seq order. nick is
-- VARCHAR(255) and real_jid VARCHAR(512) so that those keys fit 3072 bytes.
--
-- Full-text search: an InnoDB FULLTEXT index over body and symbols, both
-- in utf8mb4_unicode_520_ci (MySQL 8 and MariaDB both have it; a FULLTEXT
-- index matches with its columns' collation, and the table's utf8mb4_bin
-- would match case and accents exactly). 520 rather than utf8mb4_unicode_ci
-- because the older UCA 4.0 weights give every emoji the same weight.
-- InnoDB's parser treats emoji as separators, so each body's symbols are
-- written as words into the symbols column as well
-- (storage/internal/fulltext). The store opens every connection with
-- innodb_ft_enable_stopword=OFF, so this index is built without stopwords:
-- "who", "the" and "about" are words like any other. Words shorter than
-- innodb_ft_min_token_size (3 by default) are not indexed; the store
-- matches them with LIKE instead. Tombstones stay in the index with their
-- replacement text; queries leave them out.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE history (
    room        VARCHAR(255) NOT NULL,
    seq         BIGINT       NOT NULL,
    stanza_id   VARCHAR(255) NOT NULL,  -- XEP-0359, assigned by the room
    origin_id   MEDIUMTEXT   NOT NULL,  -- XEP-0359, the client's
    occupant_id MEDIUMTEXT   NOT NULL,  -- XEP-0421
    nick        VARCHAR(255) NOT NULL,
    real_jid    VARCHAR(512) NOT NULL,
    front_door  VARCHAR(64)  NOT NULL,  -- "xmpp", "sip"
    kind        VARCHAR(16)  NOT NULL,
    target      VARCHAR(255) NOT NULL,  -- the stanza_id a correction, retraction or moderation applies to
    body        MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
    symbols     MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
    stanza      MEDIUMBLOB   NOT NULL,
    posted_at   DATETIME(6)  NOT NULL,
    tombstone   BOOLEAN      NOT NULL,
    PRIMARY KEY (room, seq),
    UNIQUE KEY history_room_stanza_id (room, stanza_id),
    KEY history_by_time (room, posted_at),
    KEY history_by_nick (room, nick),
    KEY history_by_real_jid (room, real_jid),
    FULLTEXT KEY history_fulltext (body, symbols),
    CONSTRAINT history_kind CHECK (kind IN ('post', 'correction', 'retraction', 'moderation', 'subject')),
    CONSTRAINT history_room FOREIGN KEY (room)
        REFERENCES rooms (name) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE history;
