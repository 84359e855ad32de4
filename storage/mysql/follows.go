package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// PutFollow implements storage.Follows.
func (s *Store) PutFollow(ctx context.Context, f storage.Follow, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Follow(f), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/mysql: put follow: %w", err)
	}
	keywords, err := encodeGroups(f.Keywords)
	if err != nil {
		return fmt.Errorf("storage/mysql: put follow of %s by %s: %w", f.Room, f.User, err)
	}
	created := orNow(f.Created, time.Now())
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := roomExists(ctx, tx, f.Room); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO follows (user_jid, room, keywords, created_at)
			VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE keywords = VALUES(keywords)`,
			f.User, f.Room, keywords, created.UTC())
		if err != nil {
			return mapError(err)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: put follow of %s by %s: %w", f.Room, f.User, err)
	}
	return nil
}

// DeleteFollow implements storage.Follows.
func (s *Store) DeleteFollow(ctx context.Context, user, room string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return fmt.Errorf("storage/mysql: delete follow of %s by %s: %w", room, user, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE user_jid = ? AND room = ?`, user, room)
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
		return fmt.Errorf("storage/mysql: delete follow of %s by %s: %w", room, user, err)
	}
	return nil
}

// FollowsOf implements storage.Follows.
func (s *Store) FollowsOf(ctx context.Context, user string) ([]storage.Follow, error) {
	out, err := s.follows(ctx, `WHERE user_jid = ? ORDER BY room`, user)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: follows of %s: %w", user, err)
	}
	return out, nil
}

// FollowersOf implements storage.Follows.
func (s *Store) FollowersOf(ctx context.Context, room string) ([]storage.Follow, error) {
	out, err := s.follows(ctx, `WHERE room = ? ORDER BY user_jid`, room)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: followers of %s: %w", room, err)
	}
	return out, nil
}

func (s *Store) follows(ctx context.Context, where string, arg string) ([]storage.Follow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_jid, room, keywords, created_at FROM follows `+where, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Follow
	for rows.Next() {
		var (
			f        storage.Follow
			keywords string
		)
		if err := rows.Scan(&f.User, &f.Room, &keywords, &f.Created); err != nil {
			return nil, err
		}
		if f.Keywords, err = decodeGroups(keywords); err != nil {
			return nil, fmt.Errorf("follow of %s by %s: %w", f.Room, f.User, err)
		}
		f.Created = f.Created.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
