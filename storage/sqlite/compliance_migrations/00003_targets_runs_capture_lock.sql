-- Two additions to the compliance database. storage/mysql/
-- compliance_migrations has the same migration, and a capture lock table
-- that SQLite does not need (its one writer commits captures one at a
-- time); change both in the same commit.
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

-- +goose Up
ALTER TABLE compliance_events ADD COLUMN target TEXT NOT NULL DEFAULT '';
CREATE INDEX compliance_events_target_time ON compliance_events (target, occurred_at);

ALTER TABLE compliance_adapter_positions ADD COLUMN last_run_at INTEGER;  -- Unix microseconds, NULL: never
ALTER TABLE compliance_adapter_positions ADD COLUMN last_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE compliance_adapter_positions ADD COLUMN last_file TEXT NOT NULL DEFAULT '';
ALTER TABLE compliance_adapter_positions ADD COLUMN last_error TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE compliance_adapter_positions DROP COLUMN last_error;
ALTER TABLE compliance_adapter_positions DROP COLUMN last_file;
ALTER TABLE compliance_adapter_positions DROP COLUMN last_events;
ALTER TABLE compliance_adapter_positions DROP COLUMN last_run_at;
DROP INDEX compliance_events_target_time;
ALTER TABLE compliance_events DROP COLUMN target;
