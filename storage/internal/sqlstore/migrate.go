package sqlstore

import (
	"database/sql"
	"errors"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
)

// Migrator returns the goose provider of the migrations in fsys for db, in
// goose's dialect, versioned in table, with the Go migrations gomigs
// besides the SQL ones: ContentGoMigrations for the content schema, none
// for the compliance schema. goose runs them all in version order, each
// Go migration in a transaction of its own as a SQL one is.
func Migrator(db *sql.DB, dialect goose.Dialect, fsys fs.FS, table string, gomigs ...*goose.Migration) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(table),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if len(gomigs) > 0 {
		opts = append(opts, goose.WithGoMigrations(gomigs...))
	}
	return goose.NewProvider(dialect, db, fsys, opts...)
}

// ContentGoMigrations returns the content schema's Go migrations on the
// back end d: the repair of stored stanzas (StanzaRepairVersion) and the
// normalisation of stored identities (IdentityVersion), which apply rules
// (storage.ContentRules, from outside storage). rules are required
// whatever version the database is at: a database that ran the later SQL
// migrations without the Go ones would never run those.
func ContentGoMigrations(d *Dialect, rules storage.ContentRules) ([]*goose.Migration, error) {
	if rules == nil {
		return nil, errors.New("no storage.ContentRules for the content migrations (internal/contentrules.Rules{})")
	}
	return []*goose.Migration{stanzaRepairMigration(d, rules), identityMigration(rules)}, nil
}
