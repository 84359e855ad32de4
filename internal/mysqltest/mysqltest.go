// Package mysqltest gives tests fresh databases on the MySQL or MariaDB
// server they run against: the local one (127.0.0.1:3306, root, no
// password; `make mariadb` starts it) or the one PARLEY_TEST_MYSQL_DSN
// names. The MySQL back end is the one a pool runs on, so an unreachable
// server fails the test instead of skipping it.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// Env names the environment variable with the DSN of the test server,
// without a database name.
const Env = "PARLEY_TEST_MYSQL_DSN"

// DefaultDSN is the local server.
const DefaultDSN = "root@tcp(127.0.0.1:3306)/"

// Database returns the DSN (go-sql-driver form, without the "mysql:" of
// --storage) of a database named prefix plus random hex that does not
// exist yet — storage/mysql.Open creates it — and drops it when the test
// ends.
func Database(t testing.TB, prefix string) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		dsn = DefaultDSN
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	admin := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Fatalf("MySQL/MariaDB at %s(%s) is not reachable: %v\n"+
			"Start the local MariaDB with `make mariadb`, or point %s at a server\n"+
			"you may create databases on, e.g. %s='user:password@tcp(host:3306)/'",
			cfg.Net, cfg.Addr, err, Env, Env)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
