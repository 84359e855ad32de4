package sqlite

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

var (
	_ storage.RetentionStore      = (*Store)(nil)
	_ storage.ComplianceRetention = (*ComplianceStore)(nil)
)

// PutHold implements storage.RetentionStore.
func (s *Store) PutHold(ctx context.Context, h storage.Hold, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Hold(h), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: put hold: %w", err)
	}
	created := orNow(h.Created, time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO holds (kind, name, reason, actor, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (kind, name) DO UPDATE SET reason = excluded.reason, actor = excluded.actor`,
			h.Kind, h.Name, h.Reason, h.Actor, unixMicro(created))
		if err != nil {
			return mapError(err)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: put hold on %s %s: %w", h.Kind, h.Name, err)
	}
	return nil
}

// DeleteHold implements storage.RetentionStore.
func (s *Store) DeleteHold(ctx context.Context, kind, name string, ev storage.OutboxEvent) error {
	if err := errors.Join(check.HoldKey(kind, name), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: delete hold: %w", err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE kind = ? AND name = ?`, kind, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete hold on %s %s: %w", kind, name, err)
	}
	return nil
}

// Holds implements storage.RetentionStore.
func (s *Store) Holds(ctx context.Context) ([]storage.Hold, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT kind, name, reason, actor, created_at FROM holds ORDER BY kind, name`)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: holds: %w", err)
	}
	defer rows.Close()
	var out []storage.Hold
	for rows.Next() {
		var (
			h       storage.Hold
			created int64
		)
		if err := rows.Scan(&h.Kind, &h.Name, &h.Reason, &h.Actor, &created); err != nil {
			return nil, fmt.Errorf("storage/sqlite: holds: %w", err)
		}
		h.Created = fromUnixMicro(created)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: holds: %w", err)
	}
	return out, nil
}

// PurgeHistory implements storage.RetentionStore. The delete trigger keeps
// the full-text index in step. The writer is alone, so the rows selected
// are the rows deleted.
func (s *Store) PurgeHistory(ctx context.Context, p storage.HistoryPurge) (int, error) {
	if err := check.HistoryPurge(p); err != nil {
		return 0, fmt.Errorf("storage/sqlite: purge history: %w", err)
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT id, posted_at FROM history
			WHERE room = ? AND posted_at < ?
				AND NOT EXISTS (SELECT 1 FROM holds WHERE kind = 'room' AND name = ?)
				AND real_jid NOT IN (SELECT name FROM holds WHERE kind = 'user')
			ORDER BY posted_at, seq LIMIT ?`,
			p.Room, unixMicro(p.Before), p.Room, p.Limit)
		if err != nil {
			return err
		}
		var (
			ids    []any
			newest int64
		)
		for rows.Next() {
			var id, at int64
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			newest = max(newest, at)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM history WHERE id IN (`+placeholders(len(ids))+`)`, ids...); err != nil {
			return err
		}
		ev := p.Event(len(ids), fromUnixMicro(newest))
		if err := check.Event(ev); err != nil {
			return err
		}
		n = len(ids)
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: purge history of %s: %w", p.Room, err)
	}
	return n, nil
}

// PurgeComplianceEvents implements storage.ComplianceRetention.
func (s *ComplianceStore) PurgeComplianceEvents(ctx context.Context, p storage.ComplianceEventPurge) (int, time.Time, error) {
	if p.Limit <= 0 || p.Before.IsZero() {
		return 0, time.Time{}, fmt.Errorf("storage/sqlite: purge compliance events: limit %d and time %v required", p.Limit, p.Before)
	}
	var (
		n      int
		newest int64
	)
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		q := `SELECT seq, occurred_at FROM compliance_events WHERE occurred_at < ?`
		args := []any{unixMicro(p.Before)}
		if len(p.KeepRooms) > 0 {
			q += ` AND room NOT IN (` + placeholders(len(p.KeepRooms)) + `)`
			args = append(args, anys(p.KeepRooms)...)
		}
		if len(p.KeepActors) > 0 {
			q += ` AND actor NOT IN (` + placeholders(len(p.KeepActors)) + `)`
			args = append(args, anys(p.KeepActors)...)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY occurred_at, seq LIMIT ?`, append(args, p.Limit)...)
		if err != nil {
			return err
		}
		var seqs []string
		for rows.Next() {
			var seq, at int64
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, fmt.Sprint(seq))
			newest = max(newest, at)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		// Integers from the table itself: safe to inline, and no
		// limit on bound parameters.
		res, err := tx.ExecContext(ctx, `DELETE FROM compliance_events WHERE seq IN (`+strings.Join(seqs, ",")+`)`)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		n = int(deleted)
		return err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("storage/sqlite: purge compliance events: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	return n, fromUnixMicro(newest), nil
}
