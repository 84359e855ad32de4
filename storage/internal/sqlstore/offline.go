package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// StoreOffline implements storage.Offline. The count and the insert happen
// under the lock on the owner's account row (or with SQLite's one writer),
// so concurrent calls, from any node, cannot together pass the quota, and
// ids grow in commit order.
func (s *Store) StoreOffline(ctx context.Context, msg storage.OfflineMessage, max int) (int64, error) {
	if err := check.Username(msg.Owner); err != nil {
		return 0, s.wrap(err, "store offline message")
	}
	stored := orNow(msg.Stored, time.Now())
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, msg.Owner); err != nil {
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
			msg.Owner, msg.From, nonNil(msg.Stanza), s.t(stored))
		if err != nil {
			return s.mapError(err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, s.wrap(err, "store offline message for %s", msg.Owner)
	}
	return id, nil
}

// OfflineMessages implements storage.Offline.
func (s *Store) OfflineMessages(ctx context.Context, owner string) ([]storage.OfflineMessage, error) {
	out, err := collect(ctx, s.reads(), func(row scanner) (storage.OfflineMessage, error) {
		m := storage.OfflineMessage{Owner: owner}
		return m, row.Scan(&m.ID, &m.From, &m.Stanza, scanTime(&m.Stored))
	}, `
		SELECT id, from_jid, stanza, stored_at
		FROM offline_messages
		WHERE owner = ?
		ORDER BY id`, owner)
	if err != nil {
		return nil, s.wrap(err, "offline messages of %s", owner)
	}
	return out, nil
}

// DeleteOfflineThrough implements storage.Offline.
func (s *Store) DeleteOfflineThrough(ctx context.Context, owner string, upTo int64) error {
	_, err := s.writes().ExecContext(ctx,
		`DELETE FROM offline_messages WHERE owner = ? AND id <= ?`, owner, upTo)
	return s.wrap(err, "delete offline messages of %s through %d", owner, upTo)
}
