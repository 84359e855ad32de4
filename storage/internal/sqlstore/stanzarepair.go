package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
)

// Stored stanzas made well-formed (issue 18). Before the XMPP front door
// refused stanzas that are not namespace-well-formed, it stored them as it
// had read them: an attribute given twice, above all, which every client
// that was sent the stanza again (a history replay, a MAM page, an offline
// message, a subscription request) failed to parse.

// StanzaRepairVersion is the content schema version of the repair. It is a
// Go migration (SQL cannot parse XML) that runs after
// 00013_stanza_repairs.sql, which creates the table it records in; both
// back ends register it with their SQL migrations (ContentGoMigrations).
const StanzaRepairVersion = 14

// stanzaRepairMigration returns the migration that repairs or quarantines
// every stored stanza that rules find not well-formed, on the back end d
// (see migrations/00013_stanza_repairs.sql for what it does to each
// table). It may run again: a well-formed stanza is left as it is.
func stanzaRepairMigration(d *Dialect, rules storage.ContentRules) *goose.Migration {
	return goose.NewGoMigration(StanzaRepairVersion, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		return (&db{d: d}).repairStanzas(ctx, tx, rules, time.Now().UTC().Truncate(time.Microsecond))
	}}, nil)
}

// stanzaTables are the tables with a stanza column: the columns that name
// a row, and whether a row whose stanza cannot be repaired stays (a
// history row, replayed from its body once its stanza is empty) or goes
// (a message or request that cannot be delivered as it is).
var stanzaTables = []struct {
	name string
	key  []string
	keep bool
}{
	{"history", []string{"room", "seq"}, true},
	{"offline_messages", []string{"id"}, false},
	{"pending_subscriptions", []string{"owner", "from_jid"}, false},
}

// badStanza is a row whose stanza is not well-formed.
type badStanza struct {
	key      []any  // the values of the table's key columns
	original []byte // the stanza as stored
	repaired []byte // nil when RepairStanza could not make it well-formed
	reason   string // what is not well-formed
}

// repairStanzas repairs or quarantines the bad stanzas of every table in
// stanzaTables, recording each original in stanza_repairs.
func (db *db) repairStanzas(ctx context.Context, tx *sql.Tx, rules storage.ContentRules, now time.Time) error {
	for _, t := range stanzaTables {
		bad, err := badStanzas(ctx, tx, rules, t.name, t.key)
		if err != nil {
			return db.wrap(err, "repair stanzas: read %s", t.name)
		}
		where := strings.Join(t.key, " = ? AND ") + " = ?"
		for _, b := range bad {
			outcome, change, args := "repaired", "UPDATE "+t.name+" SET stanza = ? WHERE "+where, append([]any{b.repaired}, b.key...)
			switch {
			case b.repaired != nil:
			case t.keep:
				outcome, args[0] = "quarantined", []byte{}
			default:
				outcome, change, args = "quarantined", "DELETE FROM "+t.name+" WHERE "+where, b.key
			}
			rowKey, err := keyJSON(t.key, b.key)
			if err != nil {
				return db.wrap(err, "repair stanzas: %s row %v", t.name, b.key)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO stanza_repairs (table_name, row_key, outcome, reason, original, repaired_at)
				VALUES (?, ?, ?, ?, ?, ?)`, t.name, rowKey, outcome, b.reason, b.original, db.t(now)); err != nil {
				return db.wrap(err, "repair stanzas: record %s row %s", t.name, rowKey)
			}
			if _, err := tx.ExecContext(ctx, change, args...); err != nil {
				return db.wrap(err, "repair stanzas: %s row %s", t.name, rowKey)
			}
		}
	}
	return nil
}

// badStanzas reads every stanza of table and returns the rows whose stanza
// is not well-formed, with the repair rules make of each.
func badStanzas(ctx context.Context, tx *sql.Tx, rules storage.ContentRules, table string, key []string) ([]badStanza, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(key, ", ")+", stanza FROM "+table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bad []badStanza
	for rows.Next() {
		b := badStanza{key: make([]any, len(key))}
		dest := make([]any, len(key)+1)
		for i := range b.key {
			dest[i] = &b.key[i]
		}
		dest[len(key)] = &b.original
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(b.original) == 0 {
			continue // a post from SIP, or one quarantined before
		}
		err := rules.CheckStanza(b.original)
		if err == nil {
			continue
		}
		b.reason = err.Error()
		if b.repaired, err = rules.RepairStanza(b.original); err != nil {
			b.repaired = nil // quarantined: the row is kept or dropped
		}
		for i, k := range b.key {
			if raw, ok := k.([]byte); ok {
				b.key[i] = string(raw) // MySQL returns text as bytes
			}
		}
		bad = append(bad, b)
	}
	return bad, rows.Err()
}

// keyJSON names a row for stanza_repairs.row_key: its key columns and
// values as a JSON object.
func keyJSON(cols []string, vals []any) (string, error) {
	m := make(map[string]any, len(cols))
	for i, c := range cols {
		m[c] = vals[i]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("row key: %w", err)
	}
	return string(b), nil
}
