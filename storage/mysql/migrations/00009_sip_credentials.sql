-- SIP digest credentials (RFC 3261 §22.4, RFC 8760): HA1 = H(username ":"
-- realm ":" password) as lowercase hex, one row per realm and algorithm
-- ("MD5", "SHA-256"), written with the SCRAM credentials whenever a password
-- is set and replaced with them. The password itself is never stored.
-- SIP registrations (bindings) are not here: they live in the node's memory
-- and expire within the hour (protocol/sip).
-- Key length: (255 + 255 + 64) characters at 4 bytes is 2296 bytes.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE sip_credentials (
    username  VARCHAR(255) NOT NULL,
    realm     VARCHAR(255) NOT NULL,
    algorithm VARCHAR(64)  NOT NULL,  -- "MD5", "SHA-256", without -sess
    ha1       VARCHAR(128) NOT NULL,
    PRIMARY KEY (username, realm, algorithm),
    CONSTRAINT sip_credentials_account FOREIGN KEY (username)
        REFERENCES accounts (username) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE sip_credentials;
