package mysql

import (
	"context"
	"database/sql"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// SetBeforeCaptureCommit makes s call f inside each capture transaction,
// just before its commit (tests only).
func SetBeforeCaptureCommit(s *ComplianceStore, f func(evs []storage.OutboxEvent)) {
	sqlstore.SetBeforeCaptureCommit(s.ComplianceStore, f)
}

// MigrateDownTo takes the content schema of the database dsn names back to
// the version given (tests only).
func MigrateDownTo(ctx context.Context, dsn string, version int64) error {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	if err := configure(cfg); err != nil {
		return err
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	gomigs, err := sqlstore.ContentGoMigrations(dialect(), contentrules.Rules{})
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
