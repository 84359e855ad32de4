package sqlite

import (
	"context"
	"database/sql"
)

// MigrateDownTo takes the content schema of the database file at path back
// to the version given (tests only).
func MigrateDownTo(ctx context.Context, path string, version int64) error {
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := migrator(db, migrations, "migrations", VersionTable)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
