package sqlite

import (
	"context"
	"embed"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// complianceMigrations is the compliance database's schema for SQLite.
// storage/mysql/compliance_migrations is the same schema for MySQL; change
// both in the same commit.
//
//go:embed compliance_migrations/*.sql
var complianceMigrations embed.FS

// ComplianceVersionTable records the compliance schema's migrations.
const ComplianceVersionTable = sqlstore.ComplianceVersionTable

// ComplianceStore is a storage.ComplianceStore on one SQLite file, for a
// single node (a pool keeps its compliance database on MySQL). It is safe
// for concurrent use, as Store is, with the same single writer connection
// and read-only connections.
type ComplianceStore struct {
	*sqlstore.ComplianceStore
}

var _ storage.ComplianceStore = (*ComplianceStore)(nil)

// OpenCompliance opens the compliance database at path, creating the file
// (mode 0600) and its directories if they are missing, and brings its
// schema up to date.
func OpenCompliance(ctx context.Context, path string) (*ComplianceStore, error) {
	const what = "compliance database "
	write, read, abs, err := open(ctx, path, what, complianceMigrations, "compliance_migrations", ComplianceVersionTable, nil, 2)
	if err != nil {
		return nil, err
	}
	return &ComplianceStore{sqlstore.NewCompliance(dialect, write, read, what+abs)}, nil
}
