-- Three additions to the compliance database. storage/sqlite/
-- compliance_migrations has the same migration (without the lock table);
-- change both in the same commit.
--
-- compliance_events.target: the user an event concerns besides its actor
-- (the kicked or banned user, the invitee, the recipient of a private
-- message, the owner of a downloaded file), derived by the compliance
-- worker from the payload, so that an export by user finds what was done
-- to them as well as what they did. Events captured before this migration
-- have ''.
--
-- compliance_adapter_positions.last_*: the last run of each adapter (when,
-- how many events, the file written, the error if it failed), for
-- parleyctl compliance status.
--
-- compliance_capture_lock: one row that every capture transaction locks
-- first, so that captures commit one at a time and their auto-increment
-- seqs become visible in order: an adapter reading "seq > its position"
-- can then never pass over a seq that a slower, overlapping capture (two
-- workers briefly overlapping while the lease changes hands) commits later.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE compliance_events
    ADD COLUMN target VARCHAR(512) NOT NULL DEFAULT '' AFTER actor,
    ADD KEY compliance_events_target_time (target, occurred_at);

ALTER TABLE compliance_adapter_positions
    ADD COLUMN last_run_at DATETIME(6)   NULL,
    ADD COLUMN last_events BIGINT        NOT NULL DEFAULT 0,
    ADD COLUMN last_file   VARCHAR(1024) NOT NULL DEFAULT '',
    ADD COLUMN last_error  VARCHAR(1024) NOT NULL DEFAULT '';

CREATE TABLE compliance_capture_lock (
    id TINYINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;
INSERT INTO compliance_capture_lock (id) VALUES (1);

-- +goose Down
DROP TABLE compliance_capture_lock;
ALTER TABLE compliance_adapter_positions
    DROP COLUMN last_error, DROP COLUMN last_file, DROP COLUMN last_events, DROP COLUMN last_run_at;
ALTER TABLE compliance_events DROP KEY compliance_events_target_time, DROP COLUMN target;
