package mysql

import (
	"context"
	"embed"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// complianceMigrations is the compliance database's schema for MySQL.
// storage/sqlite/compliance_migrations is the same schema for SQLite;
// change both in the same commit.
//
//go:embed compliance_migrations/*.sql
var complianceMigrations embed.FS

// ComplianceVersionTable records the compliance schema's migrations.
const ComplianceVersionTable = sqlstore.ComplianceVersionTable

// complianceMaxOpenConns is per node: the compliance database has one
// writer per pool and a few readers (status, export).
const complianceMaxOpenConns = 4

// ComplianceStore is a storage.ComplianceStore on a MySQL or MariaDB
// database, which may be another database on the content server or on
// another server. It is safe for concurrent use, also by several processes.
type ComplianceStore struct {
	*sqlstore.ComplianceStore
}

var _ storage.ComplianceStore = (*ComplianceStore)(nil)

// OpenCompliance connects to the compliance database that dsn names (a
// go-sql-driver/mysql DSN, with the settings Open forces), creating the
// database if it does not exist, and brings its schema up to date. Errors
// never show the password.
func OpenCompliance(ctx context.Context, dsn string) (*ComplianceStore, error) {
	db, where, err := open(ctx, dsn, "compliance ", "parley_compliance",
		complianceMigrations, "compliance_migrations", ComplianceVersionTable, nil, complianceMaxOpenConns)
	if err != nil {
		return nil, err
	}
	return &ComplianceStore{sqlstore.NewCompliance(dialect(), db, db, "compliance database "+where)}, nil
}
