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

// OpenCompliance opens the compliance database that dsn (a
// --compliance-storage value, in the same forms as --storage) names and
// brings its schema up to date. It may be the content database itself, a
// file or database of its own, or a database on another server. Errors
// never repeat dsn.
func OpenCompliance(ctx context.Context, dsn string) (storage.ComplianceStore, error) {
	kind, rest, ok := strings.Cut(dsn, ":")
	switch {
	case !ok:
		return nil, fmt.Errorf("storage/backend: compliance storage %s: no kind given; want %s", describe(kind), Forms)
	case kind == "sqlite":
		if rest == "" {
			return nil, errors.New("storage/backend: compliance sqlite: empty path; want " + Forms)
		}
		return sqlite.OpenCompliance(ctx, rest)
	case kind == "mysql":
		if rest == "" {
			return nil, errors.New("storage/backend: compliance mysql: empty DSN; want " + Forms)
		}
		return mysql.OpenCompliance(ctx, rest)
	}
	return nil, fmt.Errorf("storage/backend: unknown compliance storage kind %s; want %s", describe(kind), Forms)
}
