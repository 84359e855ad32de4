// Package sqlite is Parley's embedded, zero-configuration store: one SQLite
// file (modernc.org/sqlite, pure Go) in WAL mode, suitable for a single node
// (shared/DESIGN.md §2, §5). It opens the file, runs the migrations and
// gives storage/internal/sqlstore, where the queries are, its Dialect.
//
// SQLite allows one writer at a time. Store therefore keeps two connection
// pools on the same file: a single writer connection whose transactions
// begin IMMEDIATE (they take the write lock up front instead of failing with
// SQLITE_BUSY when a read transaction tries to upgrade), and a few read-only
// connections that, thanks to WAL, read concurrently with the writer and
// with each other.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// migrations is the content schema for SQLite. storage/mysql/migrations is
// the same schema for MySQL; change both in the same commit.
//
//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable records the content schema's migrations.
const VersionTable = sqlstore.VersionTable

// busyTimeout is how long a statement waits for a lock held by another
// process (parleyctl while parleyd runs) before failing with SQLITE_BUSY.
// Within one Store writers queue for the single writer connection instead.
const busyTimeout = 10 * time.Second

// Store is a storage.Store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	*sqlstore.Store
}

var _ storage.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating the file (mode 0600: it
// holds credentials) and its parent directories if they are missing, and
// brings the schema up to date, applying rules in the content migrations
// that need them (storage.ContentRules; required).
func Open(ctx context.Context, path string, rules storage.ContentRules) (*Store, error) {
	gomigs, err := sqlstore.ContentGoMigrations(dialect, rules)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", path, err)
	}
	write, read, abs, err := open(ctx, path, "", migrations, "migrations", VersionTable, gomigs, max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, err
	}
	return &Store{sqlstore.New(dialect, write, read, abs)}, nil
}

// open opens the database file at path, what it holds named by what in
// errors ("" or "compliance database "), as a writer pool of one
// connection and a pool of readers read-only connections, and brings the
// schema in dir of fsys, versioned in table, with the Go migrations
// gomigs, up to date.
func open(ctx context.Context, path, what string, fsys embed.FS, dir, table string, gomigs []*goose.Migration, readers int) (write, read *sql.DB, abs string, err error) {
	if path == "" {
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s(empty path)", what)
	}
	if abs, err = filepath.Abs(path); err != nil {
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s%s: %w", what, path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s%s: %w", what, abs, err)
	}
	if write, err = sql.Open("sqlite", dsn(abs, true)); err != nil {
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s%s: %w", what, abs, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// The writer goes first: it switches the file to WAL (which is
	// persistent) and creates the schema before any reader looks.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s%s: %w", what, abs, err)
	}
	if err := migrate(ctx, write, fsys, dir, table, gomigs); err != nil {
		write.Close()
		return nil, nil, "", fmt.Errorf("storage/sqlite: migrate %s%s: %w", what, abs, err)
	}
	if read, err = sql.Open("sqlite", dsn(abs, false)); err == nil {
		read.SetMaxOpenConns(readers)
		read.SetMaxIdleConns(readers)
		if err = read.PingContext(ctx); err != nil {
			read.Close()
		}
	}
	if err != nil {
		write.Close()
		return nil, nil, "", fmt.Errorf("storage/sqlite: open %s%s for reading: %w", what, abs, err)
	}
	return write, read, abs, nil
}

// createFile creates the database file and its directory if they do not
// exist yet, so that SQLite opens a file with our permissions rather than
// its default 0644. SQLite gives the -wal and -shm files the same mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds the modernc.org/sqlite data source name for path. The path is
// given as a file: URI so that any character in it ('?', '#', '%') is
// escaped rather than parsed.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	// FULL: a commit is on disk before it returns (in WAL mode NORMAL
	// could lose the last commits on power loss). Posts are acknowledged
	// only after their commit (DESIGN.md §3); batching posts into one
	// transaction, not a weaker sync, is how throughput is bought.
	q.Set("_synchronous", "FULL")
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// migrate applies the migrations in dir of fsys and the Go migrations
// gomigs that db has not seen yet, recording them in table.
func migrate(ctx context.Context, db *sql.DB, fsys embed.FS, dir, table string, gomigs []*goose.Migration) error {
	p, err := migrator(db, fsys, dir, table, gomigs)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// migrator returns the goose provider of the migrations in dir of fsys and
// the Go migrations gomigs (sqlstore.ContentGoMigrations for the content
// schema), versioned in table.
func migrator(db *sql.DB, fsys embed.FS, dir, table string, gomigs []*goose.Migration) (*goose.Provider, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	return sqlstore.Migrator(db, goose.DialectSQLite3, sub, table, gomigs...)
}
