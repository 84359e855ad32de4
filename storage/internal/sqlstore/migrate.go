package sqlstore

import (
	"database/sql"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Migrator returns the goose provider of the migrations in fsys for db, in
// goose's dialect, versioned in table. repair is set for the content schema
// only: its back end's Dialect, for the Go migration that repairs stored
// stanzas, which runs among the SQL ones with the one that normalises
// stored identities (IdentityMigration).
func Migrator(db *sql.DB, dialect goose.Dialect, fsys fs.FS, table string, repair *Dialect) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(table),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if repair != nil {
		opts = append(opts, goose.WithGoMigrations(StanzaRepairMigration(repair), IdentityMigration()))
	}
	return goose.NewProvider(dialect, db, fsys, opts...)
}
