package mysql

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
		return fmt.Errorf("storage/mysql: put hold: %w", err)
	}
	created := orNow(h.Created, time.Now()).UTC()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO holds (kind, name, reason, actor, created_at) VALUES (?, ?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE reason = VALUES(reason), actor = VALUES(actor)`,
			h.Kind, h.Name, h.Reason, h.Actor, created)
		if err != nil {
			return mapError(err)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: put hold on %s %s: %w", h.Kind, h.Name, err)
	}
	return nil
}

// DeleteHold implements storage.RetentionStore.
func (s *Store) DeleteHold(ctx context.Context, kind, name string, ev storage.OutboxEvent) error {
	if err := errors.Join(check.HoldKey(kind, name), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/mysql: delete hold: %w", err)
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
		return fmt.Errorf("storage/mysql: delete hold on %s %s: %w", kind, name, err)
	}
	return nil
}

// Holds implements storage.RetentionStore.
func (s *Store) Holds(ctx context.Context) ([]storage.Hold, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT kind, name, reason, actor, created_at FROM holds ORDER BY kind, name`)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: holds: %w", err)
	}
	defer rows.Close()
	var out []storage.Hold
	for rows.Next() {
		var h storage.Hold
		if err := rows.Scan(&h.Kind, &h.Name, &h.Reason, &h.Actor, &h.Created); err != nil {
			return nil, fmt.Errorf("storage/mysql: holds: %w", err)
		}
		h.Created = h.Created.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: holds: %w", err)
	}
	return out, nil
}

// PurgeHistory implements storage.RetentionStore. The rows are locked as
// they are selected (FOR UPDATE), a batch at a time, so posting to the room
// (which appends above them) goes on meanwhile; InnoDB's FULLTEXT index
// drops deleted rows by itself. A hold placed while a batch runs takes
// effect from the next batch.
func (s *Store) PurgeHistory(ctx context.Context, p storage.HistoryPurge) (int, error) {
	if err := check.HistoryPurge(p); err != nil {
		return 0, fmt.Errorf("storage/mysql: purge history: %w", err)
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `
			SELECT seq, posted_at FROM history
			WHERE room = ? AND posted_at < ?
				AND NOT EXISTS (SELECT 1 FROM holds WHERE kind = 'room' AND name = ?)
				AND real_jid NOT IN (SELECT name FROM holds WHERE kind = 'user')
			ORDER BY posted_at, seq LIMIT ? FOR UPDATE`,
			p.Room, p.Before.UTC(), p.Room, p.Limit)
		if err != nil {
			return err
		}
		var (
			seqs   []string
			newest time.Time
		)
		for rows.Next() {
			var (
				seq int64
				at  time.Time
			)
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, fmt.Sprint(seq))
			if at.After(newest) {
				newest = at
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		// Integers read from the table: safe to inline.
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM history WHERE room = ? AND seq IN (`+strings.Join(seqs, ",")+`)`, p.Room); err != nil {
			return err
		}
		ev := p.Event(len(seqs), newest.UTC())
		if err := check.Event(ev); err != nil {
			return err
		}
		n = len(seqs)
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return 0, fmt.Errorf("storage/mysql: purge history of %s: %w", p.Room, err)
	}
	return n, nil
}

// PurgeComplianceEvents implements storage.ComplianceRetention.
func (s *ComplianceStore) PurgeComplianceEvents(ctx context.Context, p storage.ComplianceEventPurge) (int, time.Time, error) {
	if p.Limit <= 0 || p.Before.IsZero() {
		return 0, time.Time{}, fmt.Errorf("storage/mysql: purge compliance events: limit %d and time %v required", p.Limit, p.Before)
	}
	var (
		n      int
		newest time.Time
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n, newest = 0, time.Time{}
		q := `SELECT seq, occurred_at FROM compliance_events WHERE occurred_at < ?`
		args := []any{p.Before.UTC()}
		if len(p.KeepRooms) > 0 {
			q += ` AND room NOT IN (` + placeholders(len(p.KeepRooms)) + `)`
			args = append(args, anys(p.KeepRooms)...)
		}
		if len(p.KeepActors) > 0 {
			q += ` AND actor NOT IN (` + placeholders(len(p.KeepActors)) + `)`
			args = append(args, anys(p.KeepActors)...)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY occurred_at, seq LIMIT ? FOR UPDATE`, append(args, p.Limit)...)
		if err != nil {
			return err
		}
		var seqs []string
		for rows.Next() {
			var (
				seq int64
				at  time.Time
			)
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, fmt.Sprint(seq))
			if at.After(newest) {
				newest = at
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM compliance_events WHERE seq IN (`+strings.Join(seqs, ",")+`)`)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		n = int(deleted)
		return err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("storage/mysql: purge compliance events: %w", err)
	}
	return n, newest.UTC(), nil
}
