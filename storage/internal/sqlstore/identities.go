package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
)

// Identities made canonical (issue 18, item 6). The room engine now
// normalises every JID it stores in affiliations and in a category's
// policy lists (RFC 7622, PRECIS: storage.ContentRules.PolicyEntry, which
// is internal/identity's). Rows written before
// may hold another spelling of a JID (ALICE@Example.ORG) that no
// comparison with a normalised JID matches: an outcast or a denied user
// spelled so would not be kept out. This migration rewrites them. Room
// names need none: every path that created a room (the XMPP front door,
// parleyctl, the admin API) already prepared the name as a localpart.

// IdentityVersion is the content schema version of the rewrite, a Go
// migration (SQL has no PRECIS); both back ends register it with their
// SQL migrations (ContentGoMigrations).
const IdentityVersion = 20

// groupPrefix starts a policy entry that names a directory group
// (muc.GroupPrefix), which is kept as it is.
const groupPrefix = "group:"

// identityMigration returns the migration that normalises the JIDs of
// affiliations and of categories' allowed, denied and creators lists with
// rules. It may run again: normalised rows are left as they are.
func identityMigration(rules storage.ContentRules) *goose.Migration {
	return goose.NewGoMigration(IdentityVersion, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		if err := normaliseAffiliations(ctx, tx, rules); err != nil {
			return fmt.Errorf("normalise affiliations: %w", err)
		}
		if err := normaliseCategories(ctx, tx, rules); err != nil {
			return fmt.Errorf("normalise categories: %w", err)
		}
		return nil
	}}, nil)
}

// affRank orders affiliations when two spellings of one JID in one room
// meet: an outcast stays out whatever the other row says, else the higher
// affiliation wins.
var affRank = map[string]int{"member": 1, "admin": 2, "owner": 3, "outcast": 4}

type affRow struct {
	room, jid, aff, reason string
	presenter              bool
}

func normaliseAffiliations(ctx context.Context, tx *sql.Tx, rules storage.ContentRules) error {
	rows, err := tx.QueryContext(ctx, `SELECT room, jid, affiliation, presenter, reason FROM affiliations ORDER BY room, jid`)
	if err != nil {
		return err
	}
	var all []affRow
	for rows.Next() {
		var a affRow
		if err := rows.Scan(&a.room, &a.jid, &a.aff, &a.presenter, &a.reason); err != nil {
			rows.Close()
			return err
		}
		all = append(all, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type key struct{ room, jid string }
	current := map[key]affRow{}
	for _, a := range all {
		current[key{a.room, a.jid}] = a
	}
	for _, a := range all {
		norm, err := rules.PolicyEntry(a.jid, groupPrefix)
		if err != nil || norm == a.jid {
			continue // not a JID at all: left for an administrator to see
		}
		delete(current, key{a.room, a.jid})
		kept, both := current[key{a.room, norm}]
		if !both {
			if _, err := tx.ExecContext(ctx, `UPDATE affiliations SET jid = ? WHERE room = ? AND jid = ?`, norm, a.room, a.jid); err != nil {
				return err
			}
			a.jid = norm
			current[key{a.room, norm}] = a
			continue
		}
		if affRank[a.aff] > affRank[kept.aff] {
			kept.aff, kept.reason = a.aff, a.reason
		}
		kept.presenter = kept.presenter || a.presenter
		if _, err := tx.ExecContext(ctx, `DELETE FROM affiliations WHERE room = ? AND jid = ?`, a.room, a.jid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE affiliations SET affiliation = ?, presenter = ?, reason = ? WHERE room = ? AND jid = ?`,
			kept.aff, kept.presenter, kept.reason, a.room, norm); err != nil {
			return err
		}
		current[key{a.room, norm}] = kept
	}
	return nil
}

func normaliseCategories(ctx context.Context, tx *sql.Tx, rules storage.ContentRules) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, allowed_members, denied_members, creators FROM categories`)
	if err != nil {
		return err
	}
	type cat struct {
		name  string
		lists [3]string
	}
	var cats []cat
	for rows.Next() {
		var c cat
		if err := rows.Scan(&c.name, &c.lists[0], &c.lists[1], &c.lists[2]); err != nil {
			rows.Close()
			return err
		}
		cats = append(cats, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cats {
		changed := false
		var out [3]string
		for i, raw := range c.lists {
			var list []string
			if err := json.Unmarshal([]byte(raw), &list); err != nil {
				return fmt.Errorf("category %q: %w", c.name, err)
			}
			norm := make([]string, 0, len(list))
			for _, e := range list {
				if n, err := rules.PolicyEntry(e, groupPrefix); err == nil {
					e = n
				}
				if !slices.Contains(norm, e) {
					norm = append(norm, e)
				}
			}
			b, err := json.Marshal(norm)
			if err != nil {
				return err
			}
			out[i] = string(b)
			changed = changed || !slices.Equal(list, norm)
		}
		if !changed {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE categories SET allowed_members = ?, denied_members = ?, creators = ? WHERE name = ?`,
			out[0], out[1], out[2], c.name); err != nil {
			return err
		}
	}
	return nil
}
