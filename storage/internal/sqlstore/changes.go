package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
)

// recordRoomChange adds an entry to the room change log (storage.RoomChange)
// in the transaction of the change it records.
func (s *Store) recordRoomChange(ctx context.Context, tx *sql.Tx, room, category string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO room_changes (room, category, changed_at) VALUES (?, ?, ?)`,
		room, category, s.t(time.Now()))
	if err != nil {
		return fmt.Errorf("room change log: %w", err)
	}
	return nil
}

// RoomChanges implements storage.RoomStore.
func (s *Store) RoomChanges(ctx context.Context, after int64, limit int) ([]storage.RoomChange, error) {
	if limit <= 0 {
		return nil, s.wrap(fmt.Errorf("limit %d is not positive", limit), "room changes")
	}
	out, err := collect(ctx, s.reads(), func(row scanner) (c storage.RoomChange, err error) {
		return c, row.Scan(&c.ID, &c.Room, &c.Category, scanTime(&c.Time))
	}, `SELECT id, room, category, changed_at FROM room_changes WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.wrap(err, "room changes")
	}
	return out, nil
}

// LastRoomChange implements storage.RoomStore.
func (s *Store) LastRoomChange(ctx context.Context) (int64, error) {
	var id int64
	err := s.reads().QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM room_changes`).Scan(&id)
	return id, s.wrap(err, "last room change")
}

// PruneRoomChanges implements storage.RoomStore.
func (s *Store) PruneRoomChanges(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM room_changes WHERE changed_at < ?`, s.t(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, s.wrap(err, "prune room changes")
}
