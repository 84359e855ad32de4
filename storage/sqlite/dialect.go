package sqlite

import (
	"errors"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/parleychat/parley/storage"
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
	Inserted: func(col string) string { return "excluded." + col },
}
