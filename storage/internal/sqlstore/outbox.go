package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// eventRowsPerInsert bounds the rows of one multi-row INSERT into the
// outbox, 6 parameters each: SQLite binds at most 32766 parameters to a
// statement, MySQL 65535.
const eventRowsPerInsert = 2000

// AppendOutbox implements storage.RoomStore.
func (s *Store) AppendOutbox(ctx context.Context, evs ...storage.OutboxEvent) error {
	if len(evs) == 0 {
		return nil
	}
	evs = slices.Clone(evs)
	now := time.Now()
	for i := range evs {
		if err := check.Event(evs[i]); err != nil {
			return s.wrap(err, "append to outbox: event %d", i)
		}
		evs[i].Time = orNow(evs[i].Time, now)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, evs) })
	return s.wrap(err, "append to outbox")
}

// writeEvent writes the one event that records a change, in the change's
// transaction.
func (s *Store) writeEvent(ctx context.Context, tx *sql.Tx, ev storage.OutboxEvent) error {
	ev.Time = orNow(ev.Time, time.Now())
	return s.insertEvents(ctx, tx, []storage.OutboxEvent{ev})
}

// checkEvent checks an optional event before its change's transaction.
func checkEvent(ev *storage.OutboxEvent) error {
	if ev == nil {
		return nil
	}
	return check.Event(*ev)
}

// writeEventIf writes ev, if given, in its change's transaction.
func (s *Store) writeEventIf(ctx context.Context, tx *sql.Tx, ev *storage.OutboxEvent) error {
	if ev == nil {
		return nil
	}
	return s.writeEvent(ctx, tx, *ev)
}

const eventInsert = `INSERT INTO outbox (event_id, type, room, actor, occurred_at, payload) VALUES `

// insertEvents inserts checked events, with their times set, many to a
// statement, and sets their IDs. A single event's ID is its insert id.
// With one writer (SQLite's AUTOINCREMENT) one statement's rows get
// consecutive ids ending at its last insert id. MySQL gives them
// consecutive ids with the default auto_increment_increment, but not on a
// server that interleaves them (Galera, auto_increment_increment > 1), so
// there their IDs are read back by event_id.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, evs []storage.OutboxEvent) error {
	for chunk := range slices.Chunk(evs, eventRowsPerInsert) {
		args := make([]any, 0, 6*len(chunk))
		for _, ev := range chunk {
			args = append(args, ev.EventID, ev.Type, ev.Room, ev.Actor, s.t(ev.Time), nonNil(ev.Payload))
		}
		res, err := s.txExec(ctx, tx, eventInsert+rowPlaceholders(len(chunk), 6), args...)
		if err != nil {
			return fmt.Errorf("outbox: %w", s.mapError(err))
		}
		if len(chunk) > 1 && !s.d.OneWriter {
			if err := readEventIDs(ctx, tx, chunk); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			continue
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		for i := range chunk {
			chunk[i].ID = last - int64(len(chunk)-1-i)
		}
	}
	return nil
}

// readEventIDs sets the IDs of events just inserted.
func readEventIDs(ctx context.Context, tx *sql.Tx, evs []storage.OutboxEvent) error {
	index := make(map[string]int, len(evs))
	args := make([]any, len(evs))
	for i, ev := range evs {
		index[ev.EventID] = i
		args[i] = ev.EventID
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT event_id, id FROM outbox WHERE event_id IN (`+placeholders(len(evs))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			eventID string
			id      int64
		)
		if err := rows.Scan(&eventID, &id); err != nil {
			return err
		}
		if i, ok := index[eventID]; ok {
			evs[i].ID = id
		}
	}
	return rows.Err()
}

// ReadOutbox implements storage.RoomStore.
func (s *Store) ReadOutbox(ctx context.Context, after int64, limit int) ([]storage.OutboxEvent, error) {
	if limit <= 0 {
		return nil, s.wrap(fmt.Errorf("limit %d is not positive", limit), "read outbox")
	}
	out, err := collect(ctx, s.reads(), func(row scanner) (ev storage.OutboxEvent, err error) {
		return ev, row.Scan(&ev.ID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor, scanTime(&ev.Time), &ev.Payload)
	}, `
		SELECT id, event_id, type, room, actor, occurred_at, payload
		FROM outbox
		WHERE id > ?
		ORDER BY id
		LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.wrap(err, "read outbox")
	}
	return out, nil
}

// DeleteOutbox implements storage.RoomStore.
func (s *Store) DeleteOutbox(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(ids, eventRowsPerInsert) {
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM outbox WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "delete %d outbox events", len(ids))
}

// OutboxStats implements storage.ComplianceOutbox. The oldest event is the
// one with the lowest id (the time column has no index).
func (s *Store) OutboxStats(ctx context.Context) (storage.OutboxStats, error) {
	var st storage.OutboxStats
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&st.Events); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT occurred_at FROM outbox ORDER BY id LIMIT 1`).Scan(scanTime(&st.Oldest))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return storage.OutboxStats{}, s.wrap(err, "outbox stats of %s", s.where)
	}
	return st, nil
}
