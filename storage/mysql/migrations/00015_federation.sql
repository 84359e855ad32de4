-- Federation (issue 11): categories.local_only keeps a category's rooms to
-- the users of this server's domain; users of other servers (XMPP
-- server-to-server) are refused. 0, federated, for every existing category.
-- storage/sqlite/migrations has the same migration; change both in the same
-- commit.

-- +goose Up
ALTER TABLE categories ADD COLUMN local_only BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE categories DROP COLUMN local_only;
