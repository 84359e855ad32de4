-- Presence broadcast limited to roles (XEP-0045
-- muc#roomconfig_presencebroadcast): rooms.presence_broadcast lists the
-- roles whose presence the room sends to the other occupants, comma
-- separated ("moderator,participant"); '' (every existing room) means all
-- three, 'none' none of them.
-- storage/mysql/migrations has the same migration; change both in the same
-- commit.

-- +goose Up
ALTER TABLE rooms ADD COLUMN presence_broadcast TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE rooms DROP COLUMN presence_broadcast;
