package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// Roster implements storage.Rosters.
func (s *Store) Roster(ctx context.Context, owner string) ([]storage.RosterItem, int64, error) {
	var (
		items   []storage.RosterItem
		version int64
	)
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT jid, name, subscription, ask, group_names
			FROM roster_items
			WHERE owner = ?
			ORDER BY jid`, owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			item := storage.RosterItem{Owner: owner}
			var groups string
			if err := rows.Scan(&item.JID, &item.Name, &item.Subscription, &item.Ask, &groups); err != nil {
				return err
			}
			if item.Groups, err = decodeGroups(groups); err != nil {
				return fmt.Errorf("item %s: %w", item.JID, err)
			}
			items = append(items, item)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		version, err = rosterVersion(ctx, tx, owner)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("storage/sqlite: roster of %s: %w", owner, err)
	}
	return items, version, nil
}

// RosterItem implements storage.Rosters.
func (s *Store) RosterItem(ctx context.Context, owner, jid string) (storage.RosterItem, error) {
	item := storage.RosterItem{Owner: owner, JID: jid}
	var groups string
	err := s.read.QueryRowContext(ctx, `
		SELECT name, subscription, ask, group_names
		FROM roster_items
		WHERE owner = ? AND jid = ?`,
		owner, jid).Scan(&item.Name, &item.Subscription, &item.Ask, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err == nil {
		item.Groups, err = decodeGroups(groups)
	}
	if err != nil {
		return storage.RosterItem{}, fmt.Errorf("storage/sqlite: roster item %s/%s: %w", owner, jid, err)
	}
	return item, nil
}

// PutRosterItem implements storage.Rosters.
func (s *Store) PutRosterItem(ctx context.Context, item storage.RosterItem) (int64, error) {
	if err := check.RosterItem(item); err != nil {
		return 0, fmt.Errorf("storage/sqlite: put roster item %s/%s: %w", item.Owner, item.JID, err)
	}
	groups, err := encodeGroups(item.Groups)
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: put roster item %s/%s: %w", item.Owner, item.JID, err)
	}
	var version int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, item.Owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO roster_items (owner, jid, name, subscription, ask, group_names)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (owner, jid) DO UPDATE SET
				name = excluded.name,
				subscription = excluded.subscription,
				ask = excluded.ask,
				group_names = excluded.group_names`,
			item.Owner, item.JID, item.Name, item.Subscription, item.Ask, groups)
		if err != nil {
			return mapError(err)
		}
		version, err = bumpRosterVersion(ctx, tx, item.Owner)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: put roster item %s/%s: %w", item.Owner, item.JID, err)
	}
	return version, nil
}

// DeleteRosterItem implements storage.Rosters.
func (s *Store) DeleteRosterItem(ctx context.Context, owner, jid string) (int64, error) {
	var version int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM roster_items WHERE owner = ? AND jid = ?`, owner, jid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		version, err = bumpRosterVersion(ctx, tx, owner)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: delete roster item %s/%s: %w", owner, jid, err)
	}
	return version, nil
}

// rosterVersion returns the owner's roster version, 0 before the first
// change.
func rosterVersion(ctx context.Context, tx *sql.Tx, owner string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx,
		`SELECT version FROM roster_versions WHERE owner = ?`, owner).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// bumpRosterVersion increments the owner's roster version and returns the
// new one. It runs in the transaction that changed the roster, so a version
// always names exactly one state of the roster.
func bumpRosterVersion(ctx context.Context, tx *sql.Tx, owner string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO roster_versions (owner, version) VALUES (?, 1)
		ON CONFLICT (owner) DO UPDATE SET version = version + 1
		RETURNING version`, owner).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("roster version: %w", mapError(err))
	}
	return v, nil
}

// encodeGroups and decodeGroups convert roster groups to and from the JSON
// array in roster_items.group_names.
func encodeGroups(groups []string) (string, error) {
	if len(groups) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "", fmt.Errorf("encode groups: %w", err)
	}
	return string(b), nil
}

func decodeGroups(s string) ([]string, error) {
	var groups []string
	if err := json.Unmarshal([]byte(s), &groups); err != nil {
		return nil, fmt.Errorf("decode groups %q: %w", s, err)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	return groups, nil
}

// AddPendingSubscription implements storage.Rosters.
func (s *Store) AddPendingSubscription(ctx context.Context, p storage.PendingSubscription) error {
	if err := check.JID(p.From); err != nil {
		return fmt.Errorf("storage/sqlite: add pending subscription %s/%s: %w", p.Owner, p.From, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, p.Owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO pending_subscriptions (owner, from_jid, stanza, created_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (owner, from_jid) DO UPDATE SET stanza = excluded.stanza`,
			p.Owner, p.From, nonNil(p.Stanza), unixMicro(time.Now()))
		return mapError(err)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: add pending subscription %s/%s: %w", p.Owner, p.From, err)
	}
	return nil
}

// PendingSubscriptions implements storage.Rosters.
func (s *Store) PendingSubscriptions(ctx context.Context, owner string) ([]storage.PendingSubscription, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT from_jid, stanza
		FROM pending_subscriptions
		WHERE owner = ?
		ORDER BY id`, owner)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: pending subscriptions of %s: %w", owner, err)
	}
	defer rows.Close()
	var out []storage.PendingSubscription
	for rows.Next() {
		p := storage.PendingSubscription{Owner: owner}
		if err := rows.Scan(&p.From, &p.Stanza); err != nil {
			return nil, fmt.Errorf("storage/sqlite: pending subscriptions of %s: %w", owner, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: pending subscriptions of %s: %w", owner, err)
	}
	return out, nil
}

// RemovePendingSubscription implements storage.Rosters.
func (s *Store) RemovePendingSubscription(ctx context.Context, owner, from string) error {
	_, err := s.write.ExecContext(ctx,
		`DELETE FROM pending_subscriptions WHERE owner = ? AND from_jid = ?`, owner, from)
	if err != nil {
		return fmt.Errorf("storage/sqlite: remove pending subscription %s/%s: %w", owner, from, err)
	}
	return nil
}

// nonNil returns b, or an empty slice for nil: a nil []byte is bound as SQL
// NULL, which the NOT NULL BLOB columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
