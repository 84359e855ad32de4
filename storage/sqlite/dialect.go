package sqlite

import (
	"errors"
	"strings"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/fulltext"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// dialect is the SQL of SQLite where it differs from MySQL's: one writer
// connection whose transactions begin IMMEDIATE, so writes are serial and
// need no row locks; INTEGER microsecond times; ON CONFLICT … DO UPDATE;
// this process's clock.
var dialect = &sqlstore.Dialect{
	Name:      "storage/sqlite",
	OneWriter: true,
	UnixMicro: true,
	Constraint: func(err error) error {
		var e *sqlite3.Error
		if !errors.As(err, &e) {
			return nil
		}
		switch e.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3lib.SQLITE_CONSTRAINT_UNIQUE:
			return storage.ErrExists
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return storage.ErrNotFound
		}
		return nil
	},
	Upsert: func(key, set string) string {
		if set == "" {
			return "ON CONFLICT (" + key + ") DO NOTHING"
		}
		return "ON CONFLICT (" + key + ") DO UPDATE SET " + set
	},
	Inserted:     func(col string) string { return "excluded." + col },
	MatchHistory: matchHistory,
	MatchArchive: matchArchive,
}

// matchHistory starts from the FTS5 index (CROSS JOIN makes SQLite keep
// that order) and looks each hit up in history. The hits come in rowid
// order, which within a room is seq order (the one writer appends a room's
// rows in seq order, and a new rowid is always above every rowid in the
// table), so LIMIT stops the scan there too instead of sorting all hits of
// a common word.
//
// The query requires every term: each word a quoted phrase matched as a
// prefix ("deploy"* finds "deployment"), each symbol word exactly. A
// phrase is tokenized like the body, so a word that FTS5 splits
// (snake_case) matches its parts in a row.
func matchHistory(terms []fulltext.Term) sqlstore.HistoryMatch {
	return matchFTS("history", terms)
}

// matchArchive is matchHistory on an account's archive (user_archive and
// its FTS5 index, built the same way): rowid order is id order.
func matchArchive(terms []fulltext.Term) sqlstore.HistoryMatch {
	return matchFTS("user_archive", terms)
}

// matchFTS matches terms in table through its FTS5 index table_fts.
func matchFTS(table string, terms []fulltext.Term) sqlstore.HistoryMatch {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + strings.ReplaceAll(t.Word, `"`, `""`) + `"`
		if !t.Symbol {
			parts[i] += "*"
		}
	}
	return sqlstore.HistoryMatch{
		From:  table + "_fts CROSS JOIN " + table + " AS h ON h.id = " + table + "_fts.rowid",
		Where: table + "_fts MATCH ?",
		Args:  []any{strings.Join(parts, " AND ")},
		Order: table + "_fts.rowid",
	}
}
