package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/storage"
)

// Failover between replicas (README "High availability").
//
// A DSN may list several servers of one replication set in its address,
// separated by commas:
//
//	parley:secret@tcp(db1:3306,db2:3306)/parley
//
// Every new connection goes to the first server, starting with the one
// last found writable, that accepts it and says it is writable
// (@@global.read_only and @@global.innodb_read_only both off): a replica
// kept read-only is never written to, and once an operator (or MaxScale,
// or orchestrator) promotes it, the next connection finds it. A single
// server is checked the same way.
//
// A connection that loses its server, or is refused a write because the
// server turned read-only, is dropped, and so is every other connection of
// the pool made before (they go to the same, lost, primary): the next
// statement connects again, which probes again. While no listed server is
// writable, every statement fails at once with an error that wraps
// storage.ErrUnavailable, which the front doors answer as "try again
// shortly" (XMPP type wait, SIP 503 with Retry-After). Nothing is retried
// here: a transaction whose COMMIT got no answer may or may not have been
// committed, and only its caller can say whether it was acknowledged.

// MySQL and MariaDB errors that mean the server will not take writes now.
const (
	erServerShutdown      = 1053 // ER_SERVER_SHUTDOWN
	erOptionPrevents      = 1290 // ER_OPTION_PREVENTS_STATEMENT (--read-only)
	erReadOnlyTransaction = 1792 // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	erReadOnlyMode        = 1836 // ER_READ_ONLY_MODE
	erConnectionKilled    = 1927 // ER_CONNECTION_KILLED (MariaDB)
)

// defaultPort is MySQL's, for a listed server without one.
const defaultPort = "3306"

// parseDSN parses a go-sql-driver/mysql DSN whose address may list several
// servers, and returns one configuration per server, in the order listed.
// A DSN with one server is gomysql.ParseDSN's.
func parseDSN(dsn string) ([]*gomysql.Config, error) {
	// Where ParseDSN finds the address: between the first '(' after the
	// last '@' before the last '/', and the ')' just before that '/'.
	slash := strings.LastIndex(dsn, "/")
	if slash < 1 || dsn[slash-1] != ')' {
		return one(dsn)
	}
	at := strings.LastIndex(dsn[:slash], "@")
	open := strings.Index(dsn[at+1:slash], "(")
	if open < 0 {
		return one(dsn)
	}
	open += at + 1
	list := dsn[open+1 : slash-1]
	if !strings.Contains(list, ",") {
		return one(dsn)
	}
	var addrs []string
	seen := map[string]bool{}
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, errors.New("empty server address in the list; want tcp(HOST:PORT,HOST:PORT)")
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, defaultPort)
		}
		if seen[a] {
			return nil, fmt.Errorf("server %s listed twice", a)
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	cfg, err := gomysql.ParseDSN(dsn[:open+1] + addrs[0] + dsn[slash-1:])
	if err != nil {
		return nil, err
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("several servers need tcp, not %q", cfg.Net)
	}
	cfgs := make([]*gomysql.Config, len(addrs))
	for i, a := range addrs {
		cfgs[i] = cfg.Clone()
		cfgs[i].Addr = a
	}
	return cfgs, nil
}

func one(dsn string) ([]*gomysql.Config, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return []*gomysql.Config{cfg}, nil
}

// describeAll names the servers and database for messages, without the
// password: user@tcp(db1:3306,db2:3306)/parley.
func describeAll(cfgs []*gomysql.Config) string {
	if len(cfgs) == 1 {
		return describe(cfgs[0])
	}
	addrs := make([]string, len(cfgs))
	for i, c := range cfgs {
		addrs[i] = c.Addr
	}
	c := cfgs[0]
	return fmt.Sprintf("%s@%s(%s)/%s", c.User, c.Net, strings.Join(addrs, ","), c.DBName)
}

// connector is a driver.Connector over the servers of one replication set
// that connects only to a writable one.
type connector struct {
	cfgs    []*gomysql.Config
	servers []driver.Connector
	where   string
	// current is the index of the server last found writable: the first
	// tried.
	current atomic.Int32
	// epoch counts the failures seen: a connection made in an earlier
	// epoch is dropped before it is used again.
	epoch atomic.Int64
}

// newConnector returns a connector over cfgs, which are used as they are
// (configure them first).
func newConnector(cfgs []*gomysql.Config) (*connector, error) {
	c := &connector{cfgs: cfgs, where: describeAll(cfgs)}
	for _, cfg := range cfgs {
		sc, err := gomysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", describe(cfg), err)
		}
		c.servers = append(c.servers, sc)
	}
	return c, nil
}

// Connect implements driver.Connector: a connection to the first writable
// server, trying the one last found writable first.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	start := int(c.current.Load())
	var errs []error
	for i := range c.servers {
		n := (start + i) % len(c.servers)
		conn, err := c.writable(ctx, n)
		if err == nil {
			c.current.Store(int32(n))
			return &failoverConn{conn: conn, c: c, epoch: c.epoch.Load()}, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.cfgs[n].Addr, err))
	}
	return nil, &UnavailableError{Where: c.where, Err: errors.Join(errs...)}
}

// errReadOnly says a server is read-only (a replica).
var errReadOnly = errors.New("read-only (a replica?)")

// writable connects to server n and checks that it takes writes.
func (c *connector) writable(ctx context.Context, n int) (driver.Conn, error) {
	conn, err := c.servers[n].Connect(ctx)
	if err != nil {
		return nil, err
	}
	ro, err := readOnly(ctx, conn)
	if err == nil && ro {
		err = errReadOnly
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// readOnly asks the server on conn whether it refuses writes. Both
// variables exist on MySQL 8 and MariaDB; users with SUPER (or READ ONLY
// ADMIN) could write to a read_only server all the same, so Parley does
// not rely on the server refusing it.
func readOnly(ctx context.Context, conn driver.Conn) (bool, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return false, errors.New("driver connection cannot query")
	}
	rows, err := q.QueryContext(ctx, `SELECT @@global.read_only, @@global.innodb_read_only`, nil)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	vals := make([]driver.Value, 2)
	if err := rows.Next(vals); err != nil {
		return false, fmt.Errorf("read_only: %w", err)
	}
	for _, v := range vals {
		var s string
		switch v := v.(type) {
		case []byte:
			s = string(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case string:
			s = v
		}
		if s != "0" && !strings.EqualFold(s, "OFF") {
			return true, nil
		}
	}
	return false, nil
}

// Driver implements driver.Connector.
func (c *connector) Driver() driver.Driver { return c.servers[0].Driver() }

// UnavailableError is a failure because no listed server is reachable and
// writable, or the one in use went away or turned read-only during the
// statement. It wraps storage.ErrUnavailable and the driver's error.
type UnavailableError struct {
	Where string // user@tcp(servers)/database, never the password
	Err   error
}

func (e *UnavailableError) Error() string {
	// One line for logs: errors.Join puts each server's on its own.
	return fmt.Sprintf("storage/mysql: no writable server for %s: %s", e.Where,
		strings.ReplaceAll(e.Err.Error(), "\n", "; "))
}

func (e *UnavailableError) Unwrap() []error { return []error{storage.ErrUnavailable, e.Err} }

// lostServer says whether err means the connection's server is gone or no
// longer takes writes: the connection must not be used again.
func lostServer(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, gomysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erServerShutdown, erReadOnlyTransaction, erReadOnlyMode, erConnectionKilled:
			return true
		case erOptionPrevents:
			return strings.Contains(me.Message, "read-only") || strings.Contains(me.Message, "read_only")
		}
	}
	return false
}

// failoverConn is a go-sql-driver connection that notices when its server
// is lost (see the top of this file). database/sql serialises the use of
// one connection, so bad needs no lock.
type failoverConn struct {
	conn  driver.Conn
	c     *connector
	epoch int64
	bad   bool
}

// check marks the connection, and every connection made before the
// failure, bad if err says the server is lost, and says it is unavailable.
func (fc *failoverConn) check(err error) error {
	if err == nil || err == driver.ErrSkip || !lostServer(err) {
		return err
	}
	fc.bad = true
	fc.c.epoch.CompareAndSwap(fc.epoch, fc.epoch+1)
	if errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	return &UnavailableError{Where: fc.c.where, Err: err}
}

func (fc *failoverConn) stale() bool { return fc.bad || fc.epoch != fc.c.epoch.Load() }

func (fc *failoverConn) Prepare(query string) (driver.Stmt, error) {
	return fc.PrepareContext(context.Background(), query)
}

func (fc *failoverConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := fc.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, fc.check(err)
	}
	return &failoverStmt{Stmt: st, fc: fc}, nil
}

func (fc *failoverConn) Close() error { return fc.conn.Close() }

func (fc *failoverConn) Begin() (driver.Tx, error) {
	return fc.BeginTx(context.Background(), driver.TxOptions{})
}

func (fc *failoverConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := fc.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, fc.check(err)
	}
	return &failoverTx{tx: tx, fc: fc}, nil
}

func (fc *failoverConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := fc.conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	return res, fc.check(err)
}

func (fc *failoverConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := fc.conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	return rows, fc.check(err)
}

func (fc *failoverConn) Ping(ctx context.Context) error {
	return fc.check(fc.conn.(driver.Pinger).Ping(ctx))
}

// ResetSession implements driver.SessionResetter: a connection made before
// a failure is dropped before it is used again (database/sql then takes
// or makes another, which probes).
func (fc *failoverConn) ResetSession(ctx context.Context) error {
	if fc.stale() {
		return driver.ErrBadConn
	}
	return fc.conn.(driver.SessionResetter).ResetSession(ctx)
}

// IsValid implements driver.Validator.
func (fc *failoverConn) IsValid() bool {
	return !fc.stale() && fc.conn.(driver.Validator).IsValid()
}

func (fc *failoverConn) CheckNamedValue(nv *driver.NamedValue) error {
	return fc.conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type failoverStmt struct {
	driver.Stmt
	fc *failoverConn
}

func (s *failoverStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, s.fc.check(err)
}

func (s *failoverStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	return rows, s.fc.check(err)
}

func (s *failoverStmt) CheckNamedValue(nv *driver.NamedValue) error {
	return s.Stmt.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type failoverTx struct {
	tx driver.Tx
	fc *failoverConn
}

func (t *failoverTx) Commit() error   { return t.fc.check(t.tx.Commit()) }
func (t *failoverTx) Rollback() error { return t.fc.check(t.tx.Rollback()) }
