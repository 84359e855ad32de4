package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// PutHold implements storage.RetentionStore.
func (s *Store) PutHold(ctx context.Context, h storage.Hold, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Hold(h), check.Event(ev)); err != nil {
		return s.wrap(err, "put hold")
	}
	created := orNow(h.Created, time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO holds (kind, name, reason, actor, created_at) VALUES (?, ?, ?, ?, ?) `+
			s.upsert("kind, name", "reason", "actor"),
			h.Kind, h.Name, h.Reason, h.Actor, s.t(created))
		if err != nil {
			return s.mapError(err)
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "put hold on %s %s", h.Kind, h.Name)
}

// DeleteHold implements storage.RetentionStore.
func (s *Store) DeleteHold(ctx context.Context, kind, name string, ev storage.OutboxEvent) error {
	if err := errors.Join(check.HoldKey(kind, name), check.Event(ev)); err != nil {
		return s.wrap(err, "delete hold")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx, `DELETE FROM holds WHERE kind = ? AND name = ?`, kind, name)); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "delete hold on %s %s", kind, name)
}

// Holds implements storage.RetentionStore.
func (s *Store) Holds(ctx context.Context) ([]storage.Hold, error) {
	out, err := collect(ctx, s.reads(), func(row scanner) (h storage.Hold, err error) {
		return h, row.Scan(&h.Kind, &h.Name, &h.Reason, &h.Actor, scanTime(&h.Created))
	}, `SELECT kind, name, reason, actor, created_at FROM holds ORDER BY kind, name`)
	if err != nil {
		return nil, s.wrap(err, "holds")
	}
	return out, nil
}

// PurgeHistory implements storage.RetentionStore. A batch at a time, the
// rows are locked as they are selected (FOR UPDATE on MySQL; SQLite's
// writer is alone), so posting to the room (which appends above them) goes
// on meanwhile; InnoDB's FULLTEXT index drops deleted rows by itself,
// SQLite's delete trigger keeps FTS5 in step. A hold placed while a batch
// runs takes effect from the next batch.
func (s *Store) PurgeHistory(ctx context.Context, p storage.HistoryPurge) (int, error) {
	if err := check.HistoryPurge(p); err != nil {
		return 0, s.wrap(err, "purge history")
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var (
			newest time.Time
			err    error
		)
		n, newest, err = s.purgeBatch(ctx, tx, `
			SELECT seq, posted_at FROM history
			WHERE room = ? AND posted_at < ?
				AND NOT EXISTS (SELECT 1 FROM holds WHERE kind = 'room' AND name = ?)
				AND real_jid NOT IN (SELECT name FROM holds WHERE kind = 'user')
			ORDER BY posted_at, seq LIMIT ?`, []any{p.Room, s.t(p.Before), p.Room, p.Limit},
			`DELETE FROM history WHERE room = ? AND seq`, p.Room)
		if err != nil || n == 0 {
			return err
		}
		ev := p.Event(n, newest)
		if err := check.Event(ev); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return 0, s.wrap(err, "purge history of %s", p.Room)
	}
	return n, nil
}

// purgeBatch runs query, which selects the seq and time of the rows to
// purge, locking them, then deletes those rows with del (ending in the
// seq column) + " IN (…)" and delArgs. It returns how many rows it
// deleted and the newest time among them.
func (db *db) purgeBatch(ctx context.Context, tx *sql.Tx, query string, args []any, del string, delArgs ...any) (int, time.Time, error) {
	var (
		seqs   []string
		newest time.Time
	)
	_, err := collect(ctx, tx, func(row scanner) (struct{}, error) {
		var (
			seq int64
			at  time.Time
		)
		if err := row.Scan(&seq, scanTime(&at)); err != nil {
			return struct{}{}, err
		}
		seqs = append(seqs, fmt.Sprint(seq))
		if at.After(newest) {
			newest = at
		}
		return struct{}{}, nil
	}, query+db.d.ForUpdate, args...)
	if err != nil || len(seqs) == 0 {
		return 0, time.Time{}, err
	}
	// Integers read from the table: safe to inline, and no limit on
	// bound parameters.
	res, err := tx.ExecContext(ctx, del+` IN (`+strings.Join(seqs, ",")+`)`, delArgs...)
	if err != nil {
		return 0, time.Time{}, err
	}
	n, err := res.RowsAffected()
	return int(n), newest, err
}
