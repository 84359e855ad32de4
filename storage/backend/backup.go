package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// Snapshot writes a consistent copy of the database dsn names (a content
// or compliance --storage value) into the new file out, while the
// database stays in use, and returns its kind: "sqlite" (a database file,
// made with VACUUM INTO) or "mysql" (a dump of every table read in one
// REPEATABLE READ snapshot, see mysql.Dump).
func Snapshot(ctx context.Context, dsn, out string) (kind string, err error) {
	kind, rest, _ := strings.Cut(dsn, ":")
	switch kind {
	case "sqlite":
		return kind, sqlite.Backup(ctx, rest, out)
	case "mysql":
		f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return kind, fmt.Errorf("storage/backend: %w", err)
		}
		err = mysql.Dump(ctx, rest, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return kind, err
	}
	return "", fmt.Errorf("storage/backend: unknown storage kind %s; want %s", describe(kind), Forms)
}

// Load restores a snapshot of kind read from r into the database dsn
// names, which must be empty (an SQLite file that does not exist yet, a
// MySQL database without tables). A snapshot restores into the kind it
// was taken from.
func Load(ctx context.Context, dsn, kind string, r io.Reader) error {
	target, rest, _ := strings.Cut(dsn, ":")
	if target != kind {
		return fmt.Errorf("storage/backend: a %s backup restores into %s storage, not %s (for a move between back ends, restore, then copy with the database's own tools)", kind, kind, describe(target))
	}
	switch kind {
	case "sqlite":
		return sqlite.Restore(r, rest)
	case "mysql":
		return mysql.Restore(ctx, rest, r)
	}
	return errors.New("storage/backend: unknown backup kind " + describe(kind))
}
