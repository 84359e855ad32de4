// Package mysql is Parley's store on MySQL 8 or MariaDB 10.11 and later
// (github.com/go-sql-driver/mysql): the back end for anything beyond one
// node, shared by every node of a pool (shared/DESIGN.md §2, §5). It opens
// the database, runs the migrations and gives storage/internal/sqlstore,
// where the queries are, its Dialect; the pool's own tables (pool.go) are
// MySQL's alone.
//
// The shared queries lock rows through the dialect (FOR UPDATE). Writes
// that must see a consistent picture of one user (the offline quota, the
// roster version) run at READ COMMITTED and first lock the user's row in
// accounts, so that concurrent writers for the same user, on this node or
// another, queue behind each other while writers for different users do
// not, and every transaction takes its locks in the same order (account,
// then the account's rows), as the ON DELETE CASCADE of DeleteAccount does.
//
// Rooms follow the same pattern: AppendHistory locks the rows in rooms of
// the rooms it posts to, in name order (one SELECT … ORDER BY name FOR
// UPDATE), reads and bumps their last_seq and only then writes history and
// outbox rows and locks and tombstones the targets of retractions and
// moderations; UpdateRoom and Tombstone lock the row they change first;
// DeleteCategory locks the category, so that a concurrent CreateRoom in it,
// whose foreign key check waits for that lock, cannot slip in between the
// count of its rooms and the delete.
package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/fulltext"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// migrations is the content schema for MySQL. storage/sqlite/migrations is
// the same schema for SQLite; change both in the same commit.
//
//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable records the content schema's migrations.
const VersionTable = sqlstore.VersionTable

// Connection settings Open forces or defaults.
const (
	charset   = "utf8mb4"
	collation = "utf8mb4_bin"
	// timeZone makes NOW() and friends agree with the UTC times Go sends.
	timeZone = "'+00:00'"
	// defaultSQLMode is strict: refuse, never truncate, data that does not
	// fit. Both MySQL 8 and MariaDB know TRADITIONAL.
	defaultSQLMode     = "'TRADITIONAL'"
	defaultDialTimeout = 10 * time.Second
	// maxOpenConns is per node: a pool of 8 nodes stays under the default
	// max_connections of 151.
	maxOpenConns    = 16
	connMaxLifetime = 30 * time.Minute
)

// Transaction settings.
const (
	// deadlockRetries is how often a write transaction is tried when
	// InnoDB keeps choosing it as a deadlock victim.
	deadlockRetries = 3
	// migrationLockWait is how long Open waits for another node that is
	// migrating the same database.
	migrationLockWait   = 2 * time.Minute
	migrationLockPrefix = "parley.migrate."
)

// Store is a storage.Store on one MySQL or MariaDB database. It is safe for
// concurrent use, also by several processes on the same database.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database that dsn names, creating the database if it
// does not exist (utf8mb4, utf8mb4_bin), and brings the schema up to date.
//
// dsn is a go-sql-driver/mysql data source name, for example
// "parley:secret@tcp(db.example.net:3306)/parley?tls=true". Whatever it says,
// Open uses parseTime=true, interpolateParams=false, the utf8mb4 character
// set with the utf8mb4_bin collation, UTC (loc and time_zone), and, unless
// the DSN sets sql_mode, the strict TRADITIONAL mode. Errors name the user,
// address and database, never the password.
//
// The content migrations that need them apply rules
// (storage.ContentRules; required).
func Open(ctx context.Context, dsn string, rules storage.ContentRules) (*Store, error) {
	gomigs, err := sqlstore.ContentGoMigrations(dialect(), rules)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: open: %w", err)
	}
	db, where, err := open(ctx, dsn, "", "parley", migrations, "migrations", VersionTable, gomigs, maxOpenConns)
	if err != nil {
		return nil, err
	}
	// Words shorter than innodb_ft_min_token_size or longer than
	// innodb_ft_max_token_size are not in the full-text index; full-text
	// search matches them with LIKE.
	var ftMin, ftMax int
	if err := db.QueryRowContext(ctx,
		`SELECT @@innodb_ft_min_token_size, @@innodb_ft_max_token_size`).Scan(&ftMin, &ftMax); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage/mysql: full-text settings of %s: %w", where, err)
	}
	d := dialect()
	d.MatchHistory = func(terms []fulltext.Term) sqlstore.HistoryMatch {
		return matchTable("history", "h.seq", terms, ftMin, ftMax)
	}
	d.MatchArchive = func(terms []fulltext.Term) sqlstore.HistoryMatch {
		return matchTable("user_archive", "h.id", terms, ftMin, ftMax)
	}
	return &Store{Store: sqlstore.New(d, db, db, where), db: db}, nil
}

// open connects to the database that dsn names (what names it in errors:
// "" or "compliance "; example the database name a DSN without one should
// have had), creating the database if it does not exist, with at most
// conns connections, and brings the schema in dir of fsys, versioned in
// table, with the Go migrations gomigs, up to date. It returns the pool
// and the database's name for errors, which never shows the password.
func open(ctx context.Context, dsn, what, example string, fsys embed.FS, dir, table string, gomigs []*goose.Migration, conns int) (*sql.DB, string, error) {
	c, err := connect(dsn, what, example, nil)
	if err != nil {
		return nil, "", err
	}
	if err := createDatabaseIfMissing(ctx, c); err != nil {
		return nil, "", fmt.Errorf("storage/mysql: %w", err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(connMaxLifetime)
	if err := migrate(ctx, db, c.cfgs[0].DBName, fsys, dir, table, gomigs); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("storage/mysql: migrate %s%s: %w", what, c.where, err)
	}
	return db, c.where, nil
}

// connect parses dsn (what names it in errors: "" or "compliance ";
// example the database name a DSN without one should have had), forces the
// connection settings the store relies on, lets adjust change them (nil:
// nothing to change), and returns the connector over its servers.
func connect(dsn, what, example string, adjust func(*gomysql.Config)) (*connector, error) {
	cfgs, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: parse %sDSN: %w", what, withoutPassword(err, dsn))
	}
	where := describeAll(cfgs)
	if cfgs[0].DBName == "" {
		return nil, fmt.Errorf("storage/mysql: %sDSN %s names no database; want user:password@tcp(host:3306)/%s", what, where, example)
	}
	for _, cfg := range cfgs {
		if err := configure(cfg); err != nil {
			return nil, fmt.Errorf("storage/mysql: configure %s: %w", where, err)
		}
		if adjust != nil {
			adjust(cfg)
		}
	}
	c, err := newConnector(cfgs)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: %w", err)
	}
	return c, nil
}

// configure forces the connection settings the store relies on.
func configure(cfg *gomysql.Config) error {
	cfg.ParseTime = true
	// Placeholders go to the server as a prepared statement's parameters,
	// never spliced into the SQL text by the client.
	cfg.InterpolateParams = false
	cfg.MultiStatements = false
	// Every node of a pool must read and write the same instants, whatever
	// its local time zone.
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultDialTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = timeZone
	if _, ok := cfg.Params["sql_mode"]; !ok {
		cfg.Params["sql_mode"] = defaultSQLMode
	}
	// The history FULLTEXT index is built by a connection of ours, without
	// stopwords (see migrations/00005_history.sql), and searched by them.
	cfg.Params["innodb_ft_enable_stopword"] = "OFF"
	return cfg.Apply(
		gomysql.Charset(charset, collation),
		// DATETIME(6) keeps microseconds; the server would round the
		// nanoseconds, Go's Truncate would not. Truncate on both sides.
		gomysql.TimeTruncate(time.Microsecond),
	)
}

// withoutPassword returns the driver's complaint about a DSN it could not
// parse, unless the complaint quotes some of what may be the password (the
// driver quotes the database name and parameter values, and in a malformed
// DSN those can run into the password): then only a generic error.
func withoutPassword(err error, dsn string) error {
	colon, at := strings.Index(dsn, ":"), strings.LastIndex(dsn, "@")
	if colon < 0 || at <= colon+1 {
		return err // no password
	}
	password, msg := dsn[colon+1:at], err.Error()
	n := min(4, len(password)) // this many characters in a row give it away
	for i := 0; i+n <= len(password); i++ {
		if strings.Contains(msg, password[i:i+n]) {
			return errors.New("malformed; want user:password@tcp(host:3306)/database?param=value (details not shown: they would quote the password)")
		}
	}
	return err
}

// describe names the database for messages without the password.
func describe(cfg *gomysql.Config) string {
	return fmt.Sprintf("%s@%s(%s)/%s", cfg.User, cfg.Net, cfg.Addr, cfg.DBName)
}

// createDatabaseIfMissing connects to c's database and, if the server says
// it does not exist, connects without one and creates it. Trying the
// database first lets a user who may use it but not create databases open
// it all the same.
func createDatabaseIfMissing(ctx context.Context, c *connector) error {
	err := tryConnect(ctx, c)
	if err == nil {
		return nil
	}
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != erBadDB {
		return fmt.Errorf("connect to %s: %w", c.where, err)
	}

	servers := make([]*gomysql.Config, len(c.cfgs))
	for i, cfg := range c.cfgs {
		servers[i] = cfg.Clone()
		servers[i].DBName = ""
	}
	sc, err := newConnector(servers)
	if err != nil {
		return err
	}
	db := sql.OpenDB(sc)
	defer db.Close()
	stmt := fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s",
		quoteIdentifier(c.cfgs[0].DBName), charset, collation)
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("create database %s on %s: %w", c.cfgs[0].DBName, sc.where, err)
	}
	return nil
}

// tryConnect opens and closes one connection.
func tryConnect(ctx context.Context, c *connector) error {
	conn, err := c.Connect(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

// quoteIdentifier quotes a database or table name for MySQL.
func quoteIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// migrate applies the embedded migrations and the Go migrations gomigs
// that db has not seen yet.
//
// Pool nodes that start together on a new database would race: goose
// creates its version table before it takes any lock of its own, and in
// MySQL the CREATE TABLE commits before the row for version 0 is written,
// so another node can find the table empty and give up. Hence the whole
// migration runs under a lock of ours, named after the database.
func migrate(ctx context.Context, db *sql.DB, dbName string, fsys embed.FS, dir, table string, gomigs []*goose.Migration) error {
	p, err := migrator(db, fsys, dir, table, gomigs)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(dbName))
	// GET_LOCK names are server-wide and at most 64 characters.
	lock := migrationLockPrefix + hex.EncodeToString(sum[:8])
	return withLock(ctx, db, lock, migrationLockWait, func() error {
		_, err := p.Up(ctx)
		return err
	})
}

// migrator returns the goose provider of the migrations in dir of fsys and
// the Go migrations gomigs (sqlstore.ContentGoMigrations for the content
// schema), versioned in table.
func migrator(db *sql.DB, fsys embed.FS, dir, table string, gomigs []*goose.Migration) (*goose.Provider, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	return sqlstore.Migrator(db, goose.DialectMySQL, sub, table, gomigs...)
}

// withLock runs fn while holding the named lock (GET_LOCK, which MySQL and
// MariaDB both have). The lock belongs to one connection, held for the
// duration, and goes away with it: a node that dies while migrating does not
// leave it behind.
func withLock(ctx context.Context, db *sql.DB, name string, wait time.Duration, fn func() error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("take lock %s: %w", name, err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, int(wait.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("take lock %s: %w", name, err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take lock %s: another connection still holds it after %v", name, wait)
	}
	defer func() {
		// Released even if ctx is done: the connection goes back to the
		// pool and must not keep the lock.
		var released sql.NullInt64
		rerr := conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(?)`, name).Scan(&released)
		if rerr != nil && err == nil {
			err = fmt.Errorf("release lock %s: %w", name, rerr)
		}
	}()
	return fn()
}
