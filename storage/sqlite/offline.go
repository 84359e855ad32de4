package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// StoreOffline implements storage.Offline. The count and the insert share
// one write transaction, and SQLite has one writer at a time, so concurrent
// calls cannot together pass the quota.
func (s *Store) StoreOffline(ctx context.Context, msg storage.OfflineMessage, max int) (int64, error) {
	if err := check.Username(msg.Owner); err != nil {
		return 0, fmt.Errorf("storage/sqlite: store offline message: %w", err)
	}
	stored := msg.Stored
	if stored.IsZero() {
		stored = time.Now()
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, msg.Owner); err != nil {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx,
				`SELECT count(*) FROM offline_messages WHERE owner = ?`, msg.Owner).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return fmt.Errorf("%d messages stored, limit %d: %w", n, max, storage.ErrQuotaExceeded)
			}
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO offline_messages (owner, from_jid, stanza, stored_at)
			VALUES (?, ?, ?, ?)`,
			msg.Owner, msg.From, nonNil(msg.Stanza), unixMicro(stored))
		if err != nil {
			return mapError(err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: store offline message for %s: %w", msg.Owner, err)
	}
	return id, nil
}

// OfflineMessages implements storage.Offline.
func (s *Store) OfflineMessages(ctx context.Context, owner string) ([]storage.OfflineMessage, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT id, from_jid, stanza, stored_at
		FROM offline_messages
		WHERE owner = ?
		ORDER BY id`, owner)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: offline messages of %s: %w", owner, err)
	}
	defer rows.Close()
	var out []storage.OfflineMessage
	for rows.Next() {
		m := storage.OfflineMessage{Owner: owner}
		var stored int64
		if err := rows.Scan(&m.ID, &m.From, &m.Stanza, &stored); err != nil {
			return nil, fmt.Errorf("storage/sqlite: offline messages of %s: %w", owner, err)
		}
		m.Stored = fromUnixMicro(stored)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: offline messages of %s: %w", owner, err)
	}
	return out, nil
}

// DeleteOfflineThrough implements storage.Offline.
func (s *Store) DeleteOfflineThrough(ctx context.Context, owner string, upTo int64) error {
	_, err := s.write.ExecContext(ctx,
		`DELETE FROM offline_messages WHERE owner = ? AND id <= ?`, owner, upTo)
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete offline messages of %s through %d: %w", owner, upTo, err)
	}
	return nil
}
