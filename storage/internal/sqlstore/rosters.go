package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
		var err error
		items, err = collect(ctx, tx, func(row scanner) (storage.RosterItem, error) {
			item := storage.RosterItem{Owner: owner}
			var groups string
			if err := row.Scan(&item.JID, &item.Name, &item.Subscription, &item.Ask, &groups); err != nil {
				return item, err
			}
			if item.Groups, err = decodeList(groups); err != nil {
				return item, fmt.Errorf("item %s: %w", item.JID, err)
			}
			return item, nil
		}, `
			SELECT jid, name, subscription, ask, group_names
			FROM roster_items
			WHERE owner = ?
			ORDER BY jid`, owner)
		if err != nil {
			return err
		}
		version, err = rosterVersion(ctx, tx, owner)
		return err
	})
	if err != nil {
		return nil, 0, s.wrap(err, "roster of %s", owner)
	}
	return items, version, nil
}

// RosterItem implements storage.Rosters.
func (s *Store) RosterItem(ctx context.Context, owner, jid string) (storage.RosterItem, error) {
	item := storage.RosterItem{Owner: owner, JID: jid}
	var groups string
	err := notFound(s.reads().QueryRowContext(ctx, `
		SELECT name, subscription, ask, group_names
		FROM roster_items
		WHERE owner = ? AND jid = ?`,
		owner, jid).Scan(&item.Name, &item.Subscription, &item.Ask, &groups))
	if err == nil {
		item.Groups, err = decodeList(groups)
	}
	if err != nil {
		return storage.RosterItem{}, s.wrap(err, "roster item %s/%s", owner, jid)
	}
	return item, nil
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
// new one. It runs in the transaction that changed the roster, under the
// lock on the owner's account, so a version always names exactly one state
// of the roster.
func (s *Store) bumpRosterVersion(ctx context.Context, tx *sql.Tx, owner string) (int64, error) {
	_, err := tx.ExecContext(ctx, `INSERT INTO roster_versions (owner, version) VALUES (?, 1) `+
		s.d.Upsert("owner", "version = version + 1"), owner)
	if err != nil {
		return 0, fmt.Errorf("roster version: %w", s.mapError(err))
	}
	v, err := rosterVersion(ctx, tx, owner)
	if err != nil {
		return 0, fmt.Errorf("roster version: %w", err)
	}
	return v, nil
}

// PendingSubscriptions implements storage.Rosters.
func (s *Store) PendingSubscriptions(ctx context.Context, owner string) ([]storage.PendingSubscription, error) {
	out, err := collect(ctx, s.reads(), func(row scanner) (storage.PendingSubscription, error) {
		p := storage.PendingSubscription{Owner: owner}
		return p, row.Scan(&p.From, &p.Stanza)
	}, `
		SELECT from_jid, stanza
		FROM pending_subscriptions
		WHERE owner = ?
		ORDER BY id`, owner)
	if err != nil {
		return nil, s.wrap(err, "pending subscriptions of %s", owner)
	}
	return out, nil
}

// UpdateRoster implements storage.Rosters. The owner's account row, locked
// first, keeps every other change to the owner's roster out until the
// change is written (on SQLite the one writer does).
func (s *Store) UpdateRoster(ctx context.Context, owner, contact string, change func(*storage.RosterState) error) (int64, error) {
	if err := check.JID(contact); err != nil {
		return 0, s.wrap(err, "update roster %s/%s", owner, contact)
	}
	var version int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		version = 0
		if err := s.lockAccount(ctx, tx, owner); err != nil {
			return err
		}
		before, err := rosterState(ctx, tx, owner, contact)
		if err != nil {
			return err
		}
		after := before
		after.Item.Groups = slices.Clone(before.Item.Groups)
		after.PendingIn = slices.Clone(before.PendingIn)
		if err := change(&after); err != nil {
			return err
		}
		after.Item.Owner, after.Item.JID = owner, contact
		if after.OnRoster != before.OnRoster || (after.OnRoster && !sameItem(after.Item, before.Item)) {
			if version, err = s.writeRosterItem(ctx, tx, after); err != nil {
				return err
			}
		}
		if !bytes.Equal(after.PendingIn, before.PendingIn) || (after.PendingIn == nil) != (before.PendingIn == nil) {
			return s.writePendingIn(ctx, tx, owner, contact, after.PendingIn)
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap(err, "update roster %s/%s", owner, contact)
	}
	return version, nil
}

// rosterState reads what owner keeps about contact, in tx.
func rosterState(ctx context.Context, tx *sql.Tx, owner, contact string) (storage.RosterState, error) {
	st := storage.RosterState{Item: storage.RosterItem{Owner: owner, JID: contact, Subscription: storage.SubscriptionNone}}
	var groups string
	err := tx.QueryRowContext(ctx, `
		SELECT name, subscription, ask, group_names
		FROM roster_items
		WHERE owner = ? AND jid = ?`,
		owner, contact).Scan(&st.Item.Name, &st.Item.Subscription, &st.Item.Ask, &groups)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("roster item: %w", err)
	default:
		st.OnRoster = true
		if st.Item.Groups, err = decodeList(groups); err != nil {
			return st, fmt.Errorf("roster item: %w", err)
		}
	}
	err = tx.QueryRowContext(ctx, `
		SELECT stanza FROM pending_subscriptions WHERE owner = ? AND from_jid = ?`,
		owner, contact).Scan(&st.PendingIn)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("pending subscription: %w", err)
	}
	if err == nil && st.PendingIn == nil {
		st.PendingIn = []byte{} // a request stored without its stanza is still a request
	}
	return st, nil
}

// writeRosterItem puts or deletes st's item and returns the new roster
// version.
func (s *Store) writeRosterItem(ctx context.Context, tx *sql.Tx, st storage.RosterState) (int64, error) {
	it := st.Item
	if !st.OnRoster {
		if _, err := tx.ExecContext(ctx, `DELETE FROM roster_items WHERE owner = ? AND jid = ?`, it.Owner, it.JID); err != nil {
			return 0, fmt.Errorf("roster item: %w", err)
		}
		return s.bumpRosterVersion(ctx, tx, it.Owner)
	}
	if err := check.RosterItem(it); err != nil {
		return 0, err
	}
	groups, err := encodeList(it.Groups)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO roster_items (owner, jid, name, subscription, ask, group_names)
		VALUES (?, ?, ?, ?, ?, ?) `+s.upsert("owner, jid", "name", "subscription", "ask", "group_names"),
		it.Owner, it.JID, it.Name, it.Subscription, it.Ask, groups)
	if err != nil {
		return 0, fmt.Errorf("roster item: %w", s.mapError(err))
	}
	return s.bumpRosterVersion(ctx, tx, it.Owner)
}

// writePendingIn stores, replaces (keeping its place in the order) or, for
// a nil stanza, forgets contact's request to owner.
func (s *Store) writePendingIn(ctx context.Context, tx *sql.Tx, owner, contact string, stanza []byte) error {
	if stanza == nil {
		_, err := tx.ExecContext(ctx,
			`DELETE FROM pending_subscriptions WHERE owner = ? AND from_jid = ?`, owner, contact)
		return err
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO pending_subscriptions (owner, from_jid, stanza, created_at)
		VALUES (?, ?, ?, ?) `+s.upsert("owner, from_jid", "stanza"),
		owner, contact, stanza, s.t(time.Now()))
	return s.mapError(err)
}

// sameItem reports whether two items of one owner and contact hold the same
// values.
func sameItem(a, b storage.RosterItem) bool {
	return a.Name == b.Name && a.Subscription == b.Subscription && a.Ask == b.Ask && slices.Equal(a.Groups, b.Groups)
}
