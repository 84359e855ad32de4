package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
	"github.com/parleychat/parley/storage/internal/fulltext"
)

// The accounts' own archives (XEP-0313 on the bare JID), their archiving
// preferences and blocklists (XEP-0191): storage.UserArchives and
// storage.Blocklists.

// ArchiveMessages implements storage.UserArchives. Each owner's account
// row is locked first, in name order (the account before the account's
// rows, storage/mysql's lock order), so that an owner deleted meanwhile
// fails the write rather than leaving rows behind.
func (s *Store) ArchiveMessages(ctx context.Context, msgs []storage.ArchivedMessage, ev *storage.OutboxEvent) error {
	var errs []error
	owners := make([]string, 0, len(msgs))
	for _, m := range msgs {
		errs = append(errs, check.Username(m.Owner), check.JID(m.With), check.JID(m.StanzaID))
		owners = append(owners, m.Owner)
	}
	if ev != nil {
		errs = append(errs, check.Event(*ev))
	}
	if err := errors.Join(errs...); err != nil {
		return s.wrap(err, "archive messages")
	}
	slices.Sort(owners)
	owners = slices.Compact(owners)
	now := time.Now()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, o := range owners {
			if err := s.lockAccount(ctx, tx, o); err != nil {
				return err
			}
		}
		for i := range msgs {
			m := &msgs[i]
			res, err := tx.ExecContext(ctx, `
				INSERT INTO user_archive (owner, stanza_id, with_jid, outgoing, body, symbols, stanza, archived_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				m.Owner, m.StanzaID, m.With, m.Outgoing, m.Body, fulltext.Symbols(m.Body), nonNil(m.Stanza), s.t(orNow(m.Time, now)))
			if err != nil {
				return s.mapError(err)
			}
			if m.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		if ev != nil {
			return s.writeEvent(ctx, tx, *ev)
		}
		return nil
	})
	if err != nil {
		return s.wrap(err, "archive %d messages", len(msgs))
	}
	for i := range msgs {
		msgs[i].Time = orNow(msgs[i].Time, now).UTC().Truncate(time.Microsecond)
	}
	return nil
}

const archiveColumns = `h.id, h.owner, h.stanza_id, h.with_jid, h.outgoing, h.body, h.stanza, h.archived_at`

func scanArchived(row scanner) (m storage.ArchivedMessage, err error) {
	return m, row.Scan(&m.ID, &m.Owner, &m.StanzaID, &m.With, &m.Outgoing, &m.Body, &m.Stanza, scanTime(&m.Time))
}

// archiveSelect builds the FROM and WHERE clauses of q and the expression
// pages follow; ok is false when a full-text search has nothing
// searchable. A search starts from the full-text index, as history's does
// (Dialect.MatchArchive); otherwise (owner, id) or (owner, with_jid, id)
// yields the rows in order.
func (s *Store) archiveSelect(q storage.ArchiveQuery) (from, order string, args []any, ok bool) {
	var b strings.Builder
	if q.With != "" {
		b.WriteString(` AND h.with_jid = ?`)
		args = append(args, q.With)
	}
	if q.AfterID > 0 {
		b.WriteString(` AND h.id > ?`)
		args = append(args, q.AfterID)
	}
	if q.BeforeID > 0 {
		b.WriteString(` AND h.id < ?`)
		args = append(args, q.BeforeID)
	}
	if !q.Start.IsZero() {
		b.WriteString(` AND h.archived_at >= ?`)
		args = append(args, s.t(q.Start))
	}
	if !q.End.IsZero() {
		b.WriteString(` AND h.archived_at <= ?`)
		args = append(args, s.t(q.End))
	}
	if q.FullText != "" {
		terms := fulltext.Parse(q.FullText)
		if len(terms) == 0 {
			return "", "", nil, false
		}
		m := s.d.MatchArchive(terms)
		return ` FROM ` + m.From + ` WHERE ` + m.Where + ` AND h.owner = ?` + b.String(),
			m.Order, append(append(m.Args, q.Owner), args...), true
	}
	return ` FROM user_archive AS h WHERE h.owner = ?` + b.String(), "h.id", append([]any{q.Owner}, args...), true
}

// ArchivedMessages implements storage.UserArchives, asking for one row
// more than q.Limit to learn whether the page is the last.
func (s *Store) ArchivedMessages(ctx context.Context, q storage.ArchiveQuery) ([]storage.ArchivedMessage, bool, error) {
	if q.Limit <= 0 {
		return nil, false, s.wrap(fmt.Errorf("limit %d is not positive", q.Limit), "archive of %s", q.Owner)
	}
	limit := min(q.Limit, math.MaxInt32-1)
	from, order, args, ok := s.archiveSelect(q)
	if !ok {
		return nil, true, nil
	}
	if q.Last {
		order += " DESC"
	}
	msgs, err := collect(ctx, s.reads(), scanArchived,
		`SELECT `+archiveColumns+from+` ORDER BY `+order+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, s.wrap(err, "archive of %s", q.Owner)
	}
	complete := len(msgs) <= limit
	if !complete {
		msgs = msgs[:limit]
	}
	if q.Last {
		slices.Reverse(msgs)
	}
	return msgs, complete, nil
}

// CountArchived implements storage.UserArchives.
func (s *Store) CountArchived(ctx context.Context, q storage.ArchiveQuery) (int, error) {
	from, _, args, ok := s.archiveSelect(q)
	if !ok {
		return 0, nil
	}
	var n int
	err := s.reads().QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&n)
	return n, s.wrap(err, "count archive of %s", q.Owner)
}

// ArchivedByStanzaID implements storage.UserArchives.
func (s *Store) ArchivedByStanzaID(ctx context.Context, owner, stanzaID string) (storage.ArchivedMessage, error) {
	m, err := scanArchived(s.reads().QueryRowContext(ctx,
		`SELECT `+archiveColumns+` FROM user_archive AS h WHERE h.owner = ? AND h.stanza_id = ?`, owner, stanzaID))
	if err != nil {
		return storage.ArchivedMessage{}, s.wrap(notFound(err), "archived message %s of %s", stanzaID, owner)
	}
	return m, nil
}

// ArchivePrefs implements storage.UserArchives.
func (s *Store) ArchivePrefs(ctx context.Context, owner string) (storage.ArchivePrefs, error) {
	var (
		p             storage.ArchivePrefs
		always, never string
	)
	err := s.reads().QueryRowContext(ctx,
		`SELECT default_mode, always_jids, never_jids FROM archive_prefs WHERE owner = ?`, owner).Scan(&p.Default, &always, &never)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ArchivePrefs{Default: storage.ArchiveAlways}, nil
	}
	if err == nil {
		if p.Always, err = decodeList(always); err == nil {
			p.Never, err = decodeList(never)
		}
	}
	if err != nil {
		return storage.ArchivePrefs{}, s.wrap(err, "archive preferences of %s", owner)
	}
	return p, nil
}

// SetArchivePrefs implements storage.UserArchives.
func (s *Store) SetArchivePrefs(ctx context.Context, owner string, p storage.ArchivePrefs) error {
	if err := check.Username(owner); err != nil {
		return s.wrap(err, "set archive preferences")
	}
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveNever, storage.ArchiveRoster:
	default:
		return s.wrap(fmt.Errorf("default %q is not always, never or roster", p.Default), "set archive preferences of %s", owner)
	}
	norm := func(l []string) []string {
		l = slices.Clone(l)
		slices.Sort(l)
		return slices.Compact(l)
	}
	always, err := encodeList(norm(p.Always))
	if err != nil {
		return s.wrap(err, "set archive preferences of %s", owner)
	}
	never, err := encodeList(norm(p.Never))
	if err != nil {
		return s.wrap(err, "set archive preferences of %s", owner)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO archive_prefs (owner, default_mode, always_jids, never_jids) VALUES (?, ?, ?, ?) `+
			s.upsert("owner", "default_mode", "always_jids", "never_jids"),
			owner, p.Default, always, never)
		return err
	})
	return s.wrap(err, "set archive preferences of %s", owner)
}

// PurgeArchives implements storage.UserArchives, a batch at a time as
// PurgeHistory does.
func (s *Store) PurgeArchives(ctx context.Context, p storage.ArchivePurge) (int, error) {
	if p.Limit <= 0 || p.Event == nil || p.Before.IsZero() {
		return 0, s.wrap(errors.New("a purge needs Before, a positive Limit and Event"), "purge archives")
	}
	query := `SELECT id, archived_at FROM user_archive AS h WHERE h.archived_at < ?`
	args := []any{s.t(p.Before)}
	if len(p.KeepOwners) > 0 {
		query += ` AND h.owner NOT IN (` + placeholders(len(p.KeepOwners)) + `)`
		args = append(args, anys(p.KeepOwners)...)
	}
	if len(p.KeepWith) > 0 {
		query += ` AND h.with_jid NOT IN (` + placeholders(len(p.KeepWith)) + `)`
		args = append(args, anys(p.KeepWith)...)
	}
	query += ` ORDER BY h.archived_at, h.id LIMIT ?`
	args = append(args, p.Limit)
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var (
			newest time.Time
			err    error
		)
		n, newest, err = s.purgeBatch(ctx, tx, query, args, `DELETE FROM user_archive WHERE id`)
		if err != nil || n == 0 {
			return err
		}
		ev := p.Event(n, newest)
		if err := check.Event(ev); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return 0, s.wrap(err, "purge archives")
	}
	return n, nil
}

// Blocklist implements storage.Blocklists.
func (s *Store) Blocklist(ctx context.Context, owner string) ([]string, error) {
	out, err := collect(ctx, s.reads(), func(row scanner) (j string, err error) { return j, row.Scan(&j) },
		`SELECT jid FROM blocklist WHERE owner = ? ORDER BY jid`, owner)
	if err != nil {
		return nil, s.wrap(err, "blocklist of %s", owner)
	}
	return out, nil
}

// Block implements storage.Blocklists.
func (s *Store) Block(ctx context.Context, owner string, jids []string) error {
	errs := []error{check.Username(owner)}
	for _, j := range jids {
		errs = append(errs, check.JID(j))
	}
	if err := errors.Join(errs...); err != nil {
		return s.wrap(err, "block")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, owner); err != nil {
			return err
		}
		for _, j := range jids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO blocklist (owner, jid) VALUES (?, ?) `+
				s.d.Upsert("owner, jid", ""), owner, j); err != nil {
				return s.mapError(err)
			}
		}
		return nil
	})
	return s.wrap(err, "block %d JIDs for %s", len(jids), owner)
}

// Unblock implements storage.Blocklists.
func (s *Store) Unblock(ctx context.Context, owner string, jids []string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if len(jids) == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM blocklist WHERE owner = ?`, owner)
			return err
		}
		for chunk := range slices.Chunk(jids, 500) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM blocklist WHERE owner = ? AND jid IN (`+placeholders(len(chunk))+`)`,
				append([]any{owner}, anys(chunk)...)...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "unblock for %s", owner)
}
