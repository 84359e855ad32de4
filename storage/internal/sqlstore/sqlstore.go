// Package sqlstore is Parley's SQL written once: the queries, scanning,
// transactions, outbox writes and error wrapping of every store, over a
// small Dialect that says what one database system needs and the other does
// not. storage/sqlite and storage/mysql only open their database, run their
// migrations and fill in their Dialect; the one schema they migrate to has
// the same tables and columns on both (shared/DESIGN.md §5).
//
// Two ways of keeping writers apart meet here. SQLite runs one write
// transaction at a time (Dialect.OneWriter): whatever a transaction reads it
// may then write without anyone slipping in between. MySQL runs many, on
// every node of a pool, so a transaction first locks the rows whose state it
// depends on (Dialect.ForUpdate), always in the same order: the account
// before the account's rows, the rooms in name order before their history
// and outbox rows (see storage/mysql's package comment). On SQLite those
// locking reads are plain reads.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/fulltext"
)

// VersionTable and ComplianceVersionTable are the tables in which goose
// records the applied migrations of the content and the compliance schema,
// each its own, so that both schemas may share a database.
const (
	VersionTable           = "parley_content_migrations"
	ComplianceVersionTable = "parley_compliance_migrations"
)

// Dialect is what differs between the SQL of the two back ends. Each back
// end fills in one when it opens its database.
type Dialect struct {
	// Name names the back end at the start of every error:
	// "storage/sqlite", "storage/mysql".
	Name string

	// OneWriter is set when the database runs one write transaction at a
	// time (SQLite, through its one writer connection). Then the lock rows
	// that only the MySQL schema has (file_owners, compliance_capture_lock)
	// are not taken, and the rows of one multi-row INSERT have consecutive
	// ids ending at its LastInsertId.
	OneWriter bool

	// ForUpdate and ForShare end a SELECT that locks the rows it reads
	// until the transaction ends, exclusively or shared (MySQL: " FOR
	// UPDATE", " LOCK IN SHARE MODE"); empty where OneWriter makes locks
	// needless.
	ForUpdate, ForShare string

	// UnixMicro is set when time columns hold INTEGER microseconds since
	// the Unix epoch (SQLite); otherwise they are DATETIME(6) in UTC
	// (MySQL).
	UnixMicro bool

	// WriteTx and ReadTx are the options of write and read transactions;
	// nil is the driver's default.
	WriteTx, ReadTx *sql.TxOptions

	// Retry reports whether a write transaction that failed with err runs
	// again from the start (MySQL: InnoDB chose it as a deadlock victim);
	// nil never retries.
	Retry func(err error) bool

	// Constraint returns the storage error that a constraint violation
	// means (a duplicate key storage.ErrExists, a missing parent row
	// storage.ErrNotFound, a parent row still referenced
	// storage.ErrNotEmpty), or nil for any other error.
	Constraint func(err error) error

	// Upsert ends an INSERT into a table whose unique key is the columns
	// key, so that a row already there with that key is updated by the
	// assignments set instead, in which Inserted(col) is the value the
	// INSERT gave col. An empty set leaves such a row alone, and it counts
	// as no affected row.
	Upsert   func(key, set string) string
	Inserted func(col string) string

	// Clock is the query that reads the database server's clock, which
	// every node of a pool shares, for leases and capture times (MySQL:
	// SELECT NOW(6)); empty uses this process's clock.
	Clock string

	// MatchHistory says how a full-text search for terms (never empty)
	// reads history.
	MatchHistory func(terms []fulltext.Term) HistoryMatch
	// MatchArchive says the same for the accounts' own archives
	// (user_archive, aliased h, ordered by h.id): the same index and
	// matching as history's, on another table.
	MatchArchive func(terms []fulltext.Term) HistoryMatch
}

// HistoryMatch is the part of a full-text history search that the full-text
// index decides. The rest of the query (room, bounds, tombstones) is added
// on the history table's alias h.
type HistoryMatch struct {
	// From lists the tables, history among them as h.
	From string
	// Where holds the conditions of the match, with Args for their
	// placeholders, ANDed with the rest.
	Where string
	Args  []any
	// Order is the expression whose order pages follow; it must be the
	// order of h.seq within a room.
	Order string
}

// db is one database, through its two pools: write for write transactions
// and read for everything else. They are the same *sql.DB on MySQL.
type db struct {
	d     *Dialect
	write *sql.DB
	read  *sql.DB
	// where names the database in errors, never with a password.
	where string
	// observer, when set, is told of every transaction and query
	// (observe.go).
	observer observerSlot
	// stmts are the write pool's prepared statements of the hot path.
	stmts *stmtCache
}

// Store is a storage.Store and storage.RetentionStore on one database.
type Store struct{ db }

var (
	_ storage.Store            = (*Store)(nil)
	_ storage.RetentionStore   = (*Store)(nil)
	_ storage.ComplianceOutbox = (*Store)(nil)
)

// New returns the store on a content database whose schema is up to date.
// write and read may be the same pool; where names the database in errors.
// Close closes both pools.
func New(d *Dialect, write, read *sql.DB, where string) *Store {
	return &Store{db{d: d, write: write, read: read, where: where, stmts: &stmtCache{}}}
}

// Ping checks that both pools reach the database.
func (db *db) Ping(ctx context.Context) error {
	err := db.write.PingContext(ctx)
	if err == nil && db.read != db.write {
		err = db.read.PingContext(ctx)
	}
	return db.wrap(err, "ping %s", db.where)
}

// Close closes both pools, the read pool first: on SQLite the last
// connection to close checkpoints the WAL into the database file.
func (db *db) Close() error {
	err := db.stmts.close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return db.wrap(errors.Join(err, db.write.Close()), "close %s", db.where)
}

// WriteTx runs fn in a write transaction of s and commits it if fn returns
// nil, again from the start while the dialect says to retry. It is for the
// back ends' own queries (the MySQL pool tables).
func WriteTx(ctx context.Context, s *Store, fn func(tx *sql.Tx) error) error {
	return s.writeTx(ctx, fn)
}

// writeTx runs fn in a write transaction and commits it if fn returns nil.
func (db *db) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	defer func(began time.Time) { db.observe(began, err) }(time.Now())
	for range writeTries {
		err = inTx(ctx, db.write, db.d.WriteTx, fn)
		if err == nil || db.d.Retry == nil || !db.d.Retry(err) {
			return err
		}
	}
	return err
}

// writeTries is how often a write transaction is tried while the dialect
// says to retry it (InnoDB keeps choosing it as a deadlock victim).
const writeTries = 3

// readTx runs fn in a read transaction: every query in fn sees the same
// snapshot.
func (db *db) readTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	defer func(began time.Time) { db.observe(began, err) }(time.Now())
	return inTx(ctx, db.read, db.d.ReadTx, fn)
}

func inTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// The error that made us give up matters, not the rollback's.
		_ = tx.Rollback()
		return ended(ctx, err)
	}
	return ended(ctx, tx.Commit())
}

// ended says that a transaction failed because its context ended, when it
// did. database/sql rolls a transaction back from a goroutine of its own
// once the context passed to BeginTx is done; a statement or the Commit
// that comes after that rollback fails with sql.ErrTxDone, not the
// context's error, depending on which of the two goroutines got there
// first (Tx.Commit returns ErrTxDone when it finds the context done and
// the rollback made). Nothing was committed either way: the error wraps
// ctx.Err() too, so that callers that stop on context.Canceled (parleyctl
// import's "interrupted") or DeadlineExceeded see it.
func ended(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// wrap returns nil for a nil err, otherwise err with the back end's name
// and what failed in front of it.
func (db *db) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w: %w", db.d.Name, fmt.Errorf(format, args...), err)
}

// mapError turns a constraint violation into the storage error it means
// (see Dialect.Constraint); other errors pass unchanged.
func (db *db) mapError(err error) error {
	if err == nil {
		return nil
	}
	if se := db.d.Constraint(err); se != nil {
		return fmt.Errorf("%w (%v)", se, err)
	}
	return err
}

// upsert is Dialect.Upsert with each of cols set to its inserted value.
func (db *db) upsert(key string, cols ...string) string {
	set := make([]string, len(cols))
	for i, c := range cols {
		set[i] = c + " = " + db.d.Inserted(c)
	}
	return db.d.Upsert(key, strings.Join(set, ", "))
}

// t returns what a time column stores for t.
func (db *db) t(t time.Time) any {
	if db.d.UnixMicro {
		return t.UnixMicro()
	}
	return t.UTC()
}

// nullTime returns what a nullable time column stores for t: NULL for the
// zero time.
func (db *db) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return db.t(t)
}

// now returns the time of the clock the dialect names, read through q.
func (db *db) now(ctx context.Context, q queryer) (time.Time, error) {
	if db.d.Clock == "" {
		return time.Now().UTC().Truncate(time.Microsecond), nil
	}
	var now time.Time
	err := q.QueryRowContext(ctx, db.d.Clock).Scan(scanTime(&now))
	return now, err
}

// lock reads the row of table whose column col is key, locking it until
// the transaction ends (Dialect.ForUpdate); storage.ErrNotFound if there is
// none. table and col are the caller's constants.
func (db *db) lock(ctx context.Context, tx *sql.Tx, table, col, key string) error {
	var one int
	err := tx.QueryRowContext(ctx,
		`SELECT 1 FROM `+table+` WHERE `+col+` = ?`+db.d.ForUpdate, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// lockAccount locks username's row in accounts until the transaction ends,
// or returns storage.ErrNotFound if there is no such account: every write
// that must see a consistent picture of one user (the offline quota, the
// roster version) starts with it.
func (db *db) lockAccount(ctx context.Context, tx *sql.Tx, username string) error {
	if err := db.lock(ctx, tx, "accounts", "username", username); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	return nil
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect runs a query and returns its rows, each read by scan.
func collect[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// notFound turns sql.ErrNoRows into storage.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// affected returns storage.ErrNotFound if the statement whose result res is
// changed no row.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// timeCol scans a time column of either schema (see Dialect.UnixMicro)
// into a UTC time; NULL is the zero time.
type timeCol struct{ t *time.Time }

func scanTime(t *time.Time) timeCol { return timeCol{t} }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds a %T", v)
	}
	return nil
}

// nonNil returns b, or an empty slice for nil: a nil []byte is sent as SQL
// NULL, which the NOT NULL BLOB columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// orNow returns t, or now if t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// placeholders returns "?, ?, …" with n question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowPlaceholders returns "(?, …), (?, …)…": rows rows of cols each.
func rowPlaceholders(rows, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// encodeList and decodeList convert a list of strings (roster groups,
// keywords, JIDs) to and from the JSON array a column keeps.
func encodeList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

func decodeList(s string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// stmtCache keeps the statements of the posting path prepared, by pool
// and text (the room and category every post reads, the history and
// outbox inserts of its commit): parsing and planning them again for every
// commit (SQLite compiles the full-text triggers of the history insert
// with it; MySQL's driver prepares, executes and closes a statement per
// call, three round trips) was the largest cost of a post after the
// commit itself. database/sql prepares each statement once per
// connection and reuses it in transactions on that connection.
type stmtCache struct {
	mu        sync.Mutex
	stmts     map[stmtKey]*sql.Stmt
	closed    bool
	preparing sync.WaitGroup
}

type stmtKey struct {
	pool  *sql.DB
	query string
}

// maxCachedStmts bounds the cache: the statements differ only by their
// number of rows or rooms, and every connection of the write pool holds
// each (MySQL's max_prepared_stmt_count, 16,382 by default, is per
// server, for every node of a pool).
const maxCachedStmts = 48

// txExec runs query in tx through a cached prepared statement.
func (db *db) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.stmts.get(ctx, db.write, query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQuery is txExec for a query that returns rows.
func (db *db) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := db.stmts.get(ctx, db.write, query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// get returns the prepared statement for query, or nil: then the
// caller runs the query unprepared this time, and the statement is
// prepared in the background for the next (not here: the caller may hold
// the pool's only connection in a transaction, SQLite's writer, and
// preparing on the pool would wait for it forever). The cache stops
// growing when full; a failed preparation is not cached.
func (c *stmtCache) get(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if c == nil {
		return nil // a store without the cache (the compliance store)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := stmtKey{pool, query}
	if st, ok := c.stmts[key]; ok {
		return st // nil while it is being prepared
	}
	if c.closed || len(c.stmts) >= maxCachedStmts {
		return nil
	}
	if c.stmts == nil {
		c.stmts = make(map[stmtKey]*sql.Stmt)
	}
	c.stmts[key] = nil
	c.preparing.Add(1)
	go func() {
		defer c.preparing.Done()
		st, err := pool.PrepareContext(context.Background(), query)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case err != nil:
			delete(c.stmts, key)
		case c.closed:
			_ = st.Close()
		default:
			c.stmts[key] = st
		}
	}()
	return nil
}

func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.preparing.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for _, st := range c.stmts {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	c.stmts = nil
	return err
}
