package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/storagetest"
)

// dsnEnv names the environment variable with the DSN of the server the tests
// use, without a database name; each test creates and drops its own.
const (
	dsnEnv     = "PARLEY_TEST_MYSQL_DSN"
	defaultDSN = "root@tcp(127.0.0.1:3306)/"
)

// testServer is a MySQL or MariaDB server to create test databases on.
type testServer struct {
	cfg   *gomysql.Config // without a database name
	admin *sql.DB
}

// newTestServer connects to the server that PARLEY_TEST_MYSQL_DSN names.
// The MySQL back end is the one a pool runs on, so a missing server fails
// the test instead of skipping it.
func newTestServer(t testing.TB) *testServer {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		dsn = defaultDSN
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", dsnEnv, err)
	}
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("%s: %v", dsnEnv, err)
	}
	admin := sql.OpenDB(connector)
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MySQL/MariaDB at %s(%s) is not reachable: %v\n"+
			"Start the local MariaDB (as root) with\n"+
			"\tstart-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd\n"+
			"or point %s at a server you may create databases on, e.g.\n"+
			"\t%s='user:password@tcp(host:3306)/'",
			cfg.Net, cfg.Addr, err, dsnEnv, dsnEnv)
	}
	return &testServer{cfg: cfg, admin: admin}
}

// newDatabase returns the DSN of a database name that does not exist yet
// and drops that database when the test ends.
func (s *testServer) newDatabase(t testing.TB) string {
	return s.newDatabaseNamed(t, "parley_test_")
}

// newDatabaseNamed is newDatabase with a name that starts with prefix.
func (s *testServer) newDatabaseNamed(t testing.TB, prefix string) string {
	t.Helper()
	name := prefix + hex.EncodeToString(randomBytes(t, 6))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg := s.cfg.Clone()
	cfg.DBName = name
	return cfg.FormatDSN()
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func open(t *testing.T, dsn string) *mysql.Store {
	t.Helper()
	s, err := mysql.Open(t.Context(), dsn, contentrules.Rules{})
	if err != nil {
		t.Fatalf("mysql.Open: %v", err)
	}
	return s
}

// TestConformance runs the storage conformance suite on a fresh MySQL
// database per subtest, which mysql.Open creates.
func TestConformance(t *testing.T) {
	server := newTestServer(t)
	t.Run("mysql", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) func() storage.Store {
			dsn := server.newDatabase(t)
			return func() storage.Store { return open(t, dsn) }
		})
	})
}

// TestStanzaRepair runs the stanza repair migration (issue 18) on rows
// written before it.
func TestStanzaRepair(t *testing.T) {
	storagetest.StanzaRepair(t, migrationOpener(newTestServer(t)))
}

// TestIdentityNormalisation runs the migration that normalises stored JIDs
// (issue 18) on rows written before it.
func TestIdentityNormalisation(t *testing.T) {
	storagetest.IdentityNormalisation(t, migrationOpener(newTestServer(t)))
}

// migrationOpener gives storagetest's migration tests (StanzaRepair,
// IdentityNormalisation) a fresh database on server, a way to take its
// schema back, and a plain connection.
func migrationOpener(server *testServer) storagetest.StanzaRepairOpener {
	return func(t *testing.T) (func() storage.Store, func(int64), func() *sql.DB) {
		dsn := server.newDatabase(t)
		migrateDownTo := func(version int64) {
			if err := mysql.MigrateDownTo(t.Context(), dsn, version); err != nil {
				t.Fatalf("migrate down to %d: %v", version, err)
			}
		}
		conn := func() *sql.DB {
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
		return func() storage.Store { return open(t, dsn) }, migrateDownTo, conn
	}
}

func TestOpenCreatesDatabaseWithSchema(t *testing.T) {
	server := newTestServer(t)
	dsn := server.newDatabase(t)
	s := open(t, dsn)
	s.Close()
	s = open(t, dsn) // the second Open finds everything in place
	defer s.Close()

	cfg, _ := gomysql.ParseDSN(dsn)
	var charset, collation string
	err := server.admin.QueryRowContext(t.Context(), `
		SELECT default_character_set_name, default_collation_name
		FROM information_schema.schemata WHERE schema_name = ?`, cfg.DBName).Scan(&charset, &collation)
	if err != nil {
		t.Fatalf("database %s: %v", cfg.DBName, err)
	}
	if charset != "utf8mb4" || collation != "utf8mb4_bin" {
		t.Errorf("database %s is %s/%s, want utf8mb4/utf8mb4_bin", cfg.DBName, charset, collation)
	}

	rows, err := server.admin.QueryContext(t.Context(), `
		SELECT table_name, table_collation, engine
		FROM information_schema.tables WHERE table_schema = ?`, cfg.DBName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := map[string]bool{}
	for rows.Next() {
		var name, collation, engine string
		if err := rows.Scan(&name, &collation, &engine); err != nil {
			t.Fatal(err)
		}
		tables[name] = true
		if collation != "utf8mb4_bin" || engine != "InnoDB" {
			t.Errorf("table %s is %s on %s, want utf8mb4_bin on InnoDB", name, collation, engine)
		}
	}
	for _, want := range []string{"accounts", "scram_credentials", "roster_items", "roster_versions",
		"pending_subscriptions", "offline_messages", "categories", "rooms", "affiliations", "history",
		"outbox", mysql.VersionTable} {
		if !tables[want] {
			t.Errorf("table %s missing; have %v", want, tables)
		}
	}
	var version int64
	if err := server.admin.QueryRowContext(t.Context(),
		"SELECT MAX(version_id) FROM "+cfg.DBName+"."+mysql.VersionTable).Scan(&version); err != nil || version < 6 {
		t.Errorf("schema version = %d, %v; want at least 6", version, err)
	}

	// Searched text is case- and accent-insensitive, and emoji have weights
	// of their own (utf8mb4_unicode_ci would give them all one).
	rows, err = server.admin.QueryContext(t.Context(), `
		SELECT column_name, collation_name FROM information_schema.columns
		WHERE table_schema = ? AND table_name = 'history' AND column_name IN ('body', 'symbols')`, cfg.DBName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var column, collation string
		if err := rows.Scan(&column, &collation); err != nil {
			t.Fatal(err)
		}
		if n++; collation != "utf8mb4_unicode_520_ci" {
			t.Errorf("history.%s is %s, want utf8mb4_unicode_520_ci", column, collation)
		}
	}
	if n != 2 {
		t.Errorf("found %d of history's body and symbols columns", n)
	}
}

// TestOpenForcesConnectionSettings opens with a DSN that asks for
// everything the store must not have and checks that 4-byte characters and
// times still come back right.
func TestOpenForcesConnectionSettings(t *testing.T) {
	server := newTestServer(t)
	dsn := server.newDatabase(t)
	if strings.Contains(dsn, "?") {
		dsn += "&"
	} else {
		dsn += "?"
	}
	dsn += "parseTime=false&interpolateParams=true&charset=latin1&loc=Local&sql_mode=''"
	s := open(t, dsn)
	defer s.Close()
	before := time.Now()
	if err := s.CreateAccount(t.Context(), "zoë🦊", nil, nil, nil); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	a, err := s.Account(t.Context(), "zoë🦊")
	if err != nil {
		t.Fatalf("Account: %v", err)
	}
	if a.Created.Location() != time.UTC || a.Created.Before(before.Add(-time.Second)) || a.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v, want about %v in UTC", a.Created, before.UTC())
	}
}

// TestConcurrentOpen starts several nodes on one new database at once, as
// a pool does: the migration lock lets one migrate and the others wait.
func TestConcurrentOpen(t *testing.T) {
	server := newTestServer(t)
	dsn := server.newDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	for range nodes {
		wg.Go(func() {
			s, err := mysql.Open(t.Context(), dsn, contentrules.Rules{})
			if err != nil {
				t.Errorf("mysql.Open: %v", err)
				return
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
			s.Close()
		})
	}
	wg.Wait()
}

func TestOpenErrors(t *testing.T) {
	server := newTestServer(t)
	const password = "Sekr1t-Pa55word"
	for _, c := range []struct {
		name, dsn string
		want      string // in the error
	}{
		{"no database", "root:" + password + "@tcp(127.0.0.1:3306)/", "names no database"},
		{"malformed", "root:" + password + "@tcp(127.0.0.1:3306", "parse DSN"},
		// The driver would quote "Pa55%zz@tcp(127.0.0.1:3306)" as the
		// database name.
		{"malformed around the password", "root:Sekr1t-/Pa55%zz@tcp(127.0.0.1:3306)", "parse DSN"},
		{"nothing listening", "root:" + password + "@tcp(127.0.0.1:1)/parley", "127.0.0.1:1"},
		{"wrong user", "parley_no_such_user:" + password + "@tcp(" + server.cfg.Addr + ")/parley", "parley_no_such_user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := mysql.Open(ctx, c.dsn, contentrules.Rules{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", c.dsn)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if strings.Contains(msg, password) || strings.Contains(msg, "Pa55") {
				t.Errorf("error reveals the password: %s", msg)
			}
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "storage/mysql: ") {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
		})
	}
}
