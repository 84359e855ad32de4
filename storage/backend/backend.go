// Package backend opens the content store that a --storage value names. It
// is the one place that maps that value to an implementation, so cmd/parleyd
// and cmd/parleyctl accept the same forms:
//
//	sqlite:PATH                  an SQLite file, created if missing
//	                             (sqlite:./data/parley.db)
//	mysql:GO-SQL-DRIVER-DSN      a MySQL or MariaDB database, created if missing
//	                             (mysql:parley:secret@tcp(db:3306)/parley); the
//	                             address may list the servers of a replication
//	                             set, and the writable one is used
//	                             (mysql:parley:secret@tcp(db1:3306,db2:3306)/parley)
package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// Forms describes the accepted values, for flag help and error messages.
const Forms = "sqlite:PATH or mysql:USER:PASSWORD@tcp(HOST:PORT[,HOST:PORT...])/DATABASE"

// Open opens the store that dsn names (see the package comment) and brings
// its schema up to date, applying rules in the content migrations that need
// them (storage.ContentRules; required: internal/contentrules.Rules{}).
// Errors never repeat dsn, which may hold a password.
func Open(ctx context.Context, dsn string, rules storage.ContentRules) (storage.Store, error) {
	kind, rest, ok := strings.Cut(dsn, ":")
	switch {
	case !ok:
		return nil, fmt.Errorf("storage/backend: storage %s: no kind given; want %s", describe(kind), Forms)
	case kind == "sqlite":
		if rest == "" {
			return nil, errors.New("storage/backend: sqlite: empty path; want " + Forms)
		}
		return sqlite.Open(ctx, rest, rules)
	case kind == "mysql":
		if rest == "" {
			return nil, errors.New("storage/backend: mysql: empty DSN; want " + Forms)
		}
		return mysql.Open(ctx, rest, rules)
	}
	return nil, fmt.Errorf("storage/backend: unknown storage kind %s; want %s", describe(kind), Forms)
}

// describe quotes the part of a --storage value before the first colon for
// an error message. With no colon at all the whole value is that part, and
// it might be a mistyped DSN with a password in it, so only a short, plain
// word is quoted.
func describe(kind string) string {
	if kind == "" {
		return `""`
	}
	if len(kind) > 16 || strings.ContainsAny(kind, "@/()?=& \t") {
		return "(not shown)"
	}
	return fmt.Sprintf("%q", kind)
}
