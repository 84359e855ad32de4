package sqlstore

import (
	"context"
	"database/sql"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// QueryObserver is told of every transaction and every query outside one
// that a store runs: op names what the store was asked to do (the exported
// method of Store or ComplianceStore that ran it: "AppendHistory",
// "HistoryPage", "SearchHistory", "Capture", …), took how long it took until
// commit or rollback, err its error (nil on success). parleyd turns it into
// the parley_storage_query_seconds histogram. It must be quick and safe for
// concurrent use.
type QueryObserver func(op string, took time.Duration, err error)

// ObserveQueries sets the store's observer; nil stops observing. It may be
// called while the store is in use.
func (db *db) ObserveQueries(o func(op string, took time.Duration, err error)) {
	if o == nil {
		db.observer.Store(nil)
		return
	}
	observer := QueryObserver(o)
	db.observer.Store(&observer)
}

// observe reports a transaction or query that began at began to the
// observer, if there is one, under the name of the exported store method
// that ran it.
func (db *db) observe(began time.Time, err error) {
	o := db.observer.Load()
	if o == nil {
		return
	}
	(*o)(callerOp(), time.Since(began), err)
}

// pooled is a pool whose queries outside a transaction are observed.
type pooled struct {
	db   *db
	pool *sql.DB
}

// reads and writes are the store's read and write pools, observed.
func (db *db) reads() pooled  { return pooled{db, db.read} }
func (db *db) writes() pooled { return pooled{db, db.write} }

// QueryRowContext, QueryContext (until its first row) and ExecContext are
// the pool's, observed.
func (p pooled) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	began := time.Now()
	row := p.pool.QueryRowContext(ctx, q, args...)
	p.db.observe(began, row.Err())
	return row
}

// queryRowPrepared is QueryRowContext through a cached prepared
// statement (stmtCache), for the queries every post runs.
func (p pooled) queryRowPrepared(ctx context.Context, q string, args ...any) *sql.Row {
	st := p.db.stmts.get(ctx, p.pool, q)
	if st == nil {
		return p.QueryRowContext(ctx, q, args...)
	}
	began := time.Now()
	row := st.QueryRowContext(ctx, args...)
	p.db.observe(began, row.Err())
	return row
}

func (p pooled) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	began := time.Now()
	rows, err := p.pool.QueryContext(ctx, q, args...)
	p.db.observe(began, err)
	return rows, err
}

func (p pooled) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	began := time.Now()
	res, err := p.pool.ExecContext(ctx, q, args...)
	p.db.observe(began, err)
	return res, err
}

// opNames caches callerOp's answer per program counter of the frame that
// named the operation.
var opNames sync.Map // uintptr → string

// callerOp returns the name of the nearest exported method of this package
// on the call stack ("AppendHistory" for (*Store).AppendHistory), or
// "other" when there is none (a back end's own query through WriteTx).
func callerOp() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if name, ok := opNames.Load(f.PC); ok {
			return name.(string)
		}
		if name, ok := exportedMethod(f.Function); ok {
			opNames.Store(f.PC, name)
			return name
		}
		if !more {
			return "other"
		}
	}
}

// exportedMethod reports the method name of a function of this package
// such as "github.com/…/sqlstore.(*Store).AppendHistory" when it is an
// exported method (closures inside it, "….AppendHistory.func1", count
// as the method).
func exportedMethod(function string) (string, bool) {
	const pkg = "/storage/internal/sqlstore."
	i := strings.LastIndex(function, pkg)
	if i < 0 {
		return "", false
	}
	rest := function[i+len(pkg):] // (*Store).AppendHistory.func1
	if !strings.HasPrefix(rest, "(*") {
		return "", false
	}
	_, method, ok := strings.Cut(rest, ").")
	if !ok {
		return "", false
	}
	method, _, _ = strings.Cut(method, ".")
	if method == "" || method[0] < 'A' || method[0] > 'Z' {
		return "", false
	}
	return method, true
}

// observerSlot holds a store's QueryObserver.
type observerSlot = atomic.Pointer[QueryObserver]
