-- Federation (issue 11): categories.local_only keeps a category's rooms to
-- the users of this server's domain; users of other servers (XMPP
-- server-to-server) are refused. 0, federated, for every existing category.
-- storage/mysql/migrations has the same migration; change both in the same
-- commit.

-- +goose Up
ALTER TABLE categories ADD COLUMN local_only INTEGER NOT NULL DEFAULT 0 CHECK (local_only IN (0, 1));

-- +goose Down
ALTER TABLE categories DROP COLUMN local_only;
