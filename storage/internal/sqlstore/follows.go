package sqlstore

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
		return s.wrap(err, "put follow")
	}
	keywords, err := encodeList(f.Keywords)
	if err != nil {
		return s.wrap(err, "put follow of %s by %s", f.Room, f.User)
	}
	created := orNow(f.Created, time.Now())
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := roomExists(ctx, tx, f.Room); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO follows (user_jid, room, keywords, created_at)
			VALUES (?, ?, ?, ?) `+s.upsert("user_jid, room", "keywords"),
			f.User, f.Room, keywords, s.t(created))
		if err != nil {
			return s.mapError(err)
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "put follow of %s by %s", f.Room, f.User)
}

// DeleteFollow implements storage.Follows.
func (s *Store) DeleteFollow(ctx context.Context, user, room string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return s.wrap(err, "delete follow of %s by %s", room, user)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx,
			`DELETE FROM follows WHERE user_jid = ? AND room = ?`, user, room)); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "delete follow of %s by %s", room, user)
}

// FollowsOf implements storage.Follows.
func (s *Store) FollowsOf(ctx context.Context, user string) ([]storage.Follow, error) {
	out, err := s.follows(ctx, `WHERE user_jid = ? ORDER BY room`, user)
	if err != nil {
		return nil, s.wrap(err, "follows of %s", user)
	}
	return out, nil
}

// FollowersOf implements storage.Follows.
func (s *Store) FollowersOf(ctx context.Context, room string) ([]storage.Follow, error) {
	out, err := s.follows(ctx, `WHERE room = ? ORDER BY user_jid`, room)
	if err != nil {
		return nil, s.wrap(err, "followers of %s", room)
	}
	return out, nil
}

func (s *Store) follows(ctx context.Context, where string, arg string) ([]storage.Follow, error) {
	return collect(ctx, s.reads(), func(row scanner) (storage.Follow, error) {
		var (
			f        storage.Follow
			keywords string
		)
		if err := row.Scan(&f.User, &f.Room, &keywords, scanTime(&f.Created)); err != nil {
			return f, err
		}
		var err error
		if f.Keywords, err = decodeList(keywords); err != nil {
			return f, fmt.Errorf("follow of %s by %s: %w", f.Room, f.User, err)
		}
		return f, nil
	}, `SELECT user_jid, room, keywords, created_at FROM follows `+where, arg)
}
