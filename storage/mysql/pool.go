package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

var _ storage.PoolStore = (*Store)(nil)

// ClaimRoom implements storage.PoolStore. The host record is read FOR
// UPDATE, so a claim waits for posts that hold the record in share mode
// (checkFences) and every later post sees the new epoch.
func (s *Store) ClaimRoom(ctx context.Context, room, node string, mayTake func(holder string) bool) (storage.HostFence, error) {
	var f storage.HostFence
	err := sqlstore.WriteTx(ctx, s.Store, func(tx *sql.Tx) error {
		var holder string
		var epoch int64
		err := tx.QueryRowContext(ctx, `SELECT node, epoch FROM room_hosts WHERE room = ? FOR UPDATE`, room).Scan(&holder, &epoch)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			f = storage.HostFence{Node: node, Epoch: 1}
			_, err = tx.ExecContext(ctx, `INSERT INTO room_hosts (room, node, epoch, claimed_at) VALUES (?, ?, 1, NOW(6))`, room, node)
			return err
		case err != nil:
			return err
		}
		if holder != node && mayTake != nil && !mayTake(holder) {
			f = storage.HostFence{Node: holder, Epoch: epoch}
			return storage.ErrHeld
		}
		f = storage.HostFence{Node: node, Epoch: epoch + 1}
		_, err = tx.ExecContext(ctx, `UPDATE room_hosts SET node = ?, epoch = ?, claimed_at = NOW(6) WHERE room = ?`, node, f.Epoch, room)
		return err
	})
	if err != nil && !errors.Is(err, storage.ErrHeld) {
		return storage.HostFence{}, fmt.Errorf("storage/mysql: claim room %q: %w", room, err)
	}
	return f, err
}

// RoomHost implements storage.PoolStore.
func (s *Store) RoomHost(ctx context.Context, room string) (storage.HostFence, error) {
	var f storage.HostFence
	err := s.db.QueryRowContext(ctx, `SELECT node, epoch FROM room_hosts WHERE room = ?`, room).Scan(&f.Node, &f.Epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("storage/mysql: host of room %q: %w", room, storage.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("storage/mysql: host of room %q: %w", room, err)
	}
	return f, nil
}

// ReleaseRoom implements storage.PoolStore.
func (s *Store) ReleaseRoom(ctx context.Context, room string, f storage.HostFence) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM room_hosts WHERE room = ? AND node = ? AND epoch = ?`, room, f.Node, f.Epoch)
	if err != nil {
		return fmt.Errorf("storage/mysql: release room %q: %w", room, err)
	}
	return nil
}

// HostedRooms implements storage.PoolStore.
func (s *Store) HostedRooms(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node, COUNT(*) FROM room_hosts GROUP BY node`)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: hosted rooms: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var node string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			return nil, fmt.Errorf("storage/mysql: hosted rooms: %w", err)
		}
		out[node] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: hosted rooms: %w", err)
	}
	return out, nil
}

// PutNodeStatus implements storage.PoolStore.
func (s *Store) PutNodeStatus(ctx context.Context, st storage.NodeStatus) error {
	st.Age = 0
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("storage/mysql: node status: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO pool_nodes (node, status, seen_at) VALUES (?, ?, NOW(6))
		ON DUPLICATE KEY UPDATE status = VALUES(status), seen_at = VALUES(seen_at)`, st.Node, b)
	if err != nil {
		return fmt.Errorf("storage/mysql: node status of %q: %w", st.Node, err)
	}
	return nil
}

// NodeStatuses implements storage.PoolStore.
func (s *Store) NodeStatuses(ctx context.Context) ([]storage.NodeStatus, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT status, TIMESTAMPDIFF(MICROSECOND, seen_at, NOW(6)) FROM pool_nodes ORDER BY node`)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: node statuses: %w", err)
	}
	defer rows.Close()
	var out []storage.NodeStatus
	for rows.Next() {
		var b []byte
		var age int64
		if err := rows.Scan(&b, &age); err != nil {
			return nil, fmt.Errorf("storage/mysql: node statuses: %w", err)
		}
		var st storage.NodeStatus
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("storage/mysql: node statuses: %w", err)
		}
		st.Age = time.Duration(age) * time.Microsecond
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: node statuses: %w", err)
	}
	return out, nil
}

// DeleteNodeStatus implements storage.PoolStore.
func (s *Store) DeleteNodeStatus(ctx context.Context, node string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pool_nodes WHERE node = ?`, node); err != nil {
		return fmt.Errorf("storage/mysql: delete node %q: %w", node, err)
	}
	return nil
}
