package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// AppendOutbox implements storage.RoomStore.
func (s *Store) AppendOutbox(ctx context.Context, evs ...storage.OutboxEvent) error {
	if len(evs) == 0 {
		return nil
	}
	evs = slices.Clone(evs)
	now := time.Now()
	for i := range evs {
		if err := check.Event(evs[i]); err != nil {
			return fmt.Errorf("storage/sqlite: append to outbox: event %d: %w", i, err)
		}
		evs[i].Time = orNow(evs[i].Time, now)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, evs) })
	if err != nil {
		return fmt.Errorf("storage/sqlite: append to outbox: %w", err)
	}
	return nil
}

// writeEvent writes the one event that records a change, in the change's
// transaction.
func writeEvent(ctx context.Context, tx *sql.Tx, ev storage.OutboxEvent) error {
	ev.Time = orNow(ev.Time, time.Now())
	return insertEvents(ctx, tx, []storage.OutboxEvent{ev})
}

const eventInsert = `INSERT INTO outbox (event_id, type, room, actor, occurred_at, payload) VALUES `

// insertEvents inserts checked events, with their times set, many to a
// statement, and sets their IDs. The writer is alone and ids come from
// AUTOINCREMENT, so one statement's rows get consecutive ids ending at
// its last insert id.
func insertEvents(ctx context.Context, tx *sql.Tx, evs []storage.OutboxEvent) error {
	for start := 0; start < len(evs); start += eventRowsPerInsert {
		chunk := evs[start:min(start+eventRowsPerInsert, len(evs))]
		args := make([]any, 0, 6*len(chunk))
		for _, ev := range chunk {
			args = append(args, ev.EventID, ev.Type, ev.Room, ev.Actor, unixMicro(ev.Time), nonNil(ev.Payload))
		}
		res, err := tx.ExecContext(ctx, eventInsert+rowPlaceholders(len(chunk), 6), args...)
		if err != nil {
			return fmt.Errorf("outbox: %w", mapError(err))
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

// ReadOutbox implements storage.RoomStore.
func (s *Store) ReadOutbox(ctx context.Context, after int64, limit int) ([]storage.OutboxEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage/sqlite: read outbox: limit %d is not positive", limit)
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT id, event_id, type, room, actor, occurred_at, payload
		FROM outbox
		WHERE id > ?
		ORDER BY id
		LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: read outbox: %w", err)
	}
	defer rows.Close()
	var out []storage.OutboxEvent
	for rows.Next() {
		var (
			ev   storage.OutboxEvent
			when int64
		)
		if err := rows.Scan(&ev.ID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor, &when, &ev.Payload); err != nil {
			return nil, fmt.Errorf("storage/sqlite: read outbox: %w", err)
		}
		ev.Time = fromUnixMicro(when)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: read outbox: %w", err)
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
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM outbox WHERE id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete %d outbox events: %w", len(ids), err)
	}
	return nil
}
