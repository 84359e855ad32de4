package sqlite

import (
	"context"
	"database/sql"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// MigrateDownTo takes the content schema of the database file at path back
// to the version given (tests only).
func MigrateDownTo(ctx context.Context, path string, version int64) error {
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return err
	}
	defer db.Close()
	gomigs, err := sqlstore.ContentGoMigrations(dialect, contentrules.Rules{})
	if err != nil {
		return err
	}
	p, err := migrator(db, migrations, "migrations", VersionTable, gomigs)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
