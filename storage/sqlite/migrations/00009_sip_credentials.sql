-- SIP digest credentials (RFC 3261 §22.4, RFC 8760): HA1 = H(username ":"
-- realm ":" password) as lowercase hex, one row per realm and algorithm
-- ("MD5", "SHA-256"), written with the SCRAM credentials whenever a password
-- is set and replaced with them. The password itself is never stored.
-- SIP registrations (bindings) are not here: they live in the node's memory
-- and expire within the hour (protocol/sip).

-- +goose Up
CREATE TABLE sip_credentials (
    username  TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    realm     TEXT NOT NULL,
    algorithm TEXT NOT NULL,   -- "MD5", "SHA-256", without -sess
    ha1       TEXT NOT NULL,
    PRIMARY KEY (username, realm, algorithm)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE sip_credentials;
