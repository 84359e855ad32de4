package mysqltest

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Solo is one MariaDB server of the test's own, without replication, for
// tests that stop and start it under load (interop's chaos run). Parley
// connects as User with Password, with every privilege on the databases
// whose names start with "parley".
type Solo struct {
	*Server
	User, Password string
}

// StartSolo starts a MariaDB server in a temporary data directory on a
// free loopback port; it is killed when the test ends. A machine without
// mariadbd skips the test.
func StartSolo(t testing.TB) *Solo {
	t.Helper()
	requireMariaDB(t)
	s := &Solo{Server: startServer(t, "server", 1, false), User: "parley", Password: "solo-" + randomHex(t, 8)}
	db := s.admin(t)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, stmt := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", s.User, s.Password),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON `parley%%`.* TO '%s'@'127.0.0.1'", s.User),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("mysqltest: %s: %v", stmt, err)
		}
	}
	return s
}

// DSN is the go-sql-driver DSN of database, as --storage takes it after
// "mysql:".
func (s *Solo) DSN(database string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", s.User, s.Password, s.Addr, database)
}

// Restart stops the server, with SIGKILL (a crash) or SIGTERM (a clean
// shutdown, waited for), and starts it again on the same data directory
// and port. It returns how long the server was down.
func (s *Server) Restart(t testing.TB, kill bool) time.Duration {
	t.Helper()
	began := time.Now()
	if kill {
		s.Kill(t)
	} else {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && s.running() {
			t.Fatalf("mysqltest: SIGTERM to the %s: %v", s.Name, err)
		}
		select {
		case <-s.done:
		case <-time.After(startLimit):
			s.Kill(t)
		}
	}
	if err := s.start(filepath.Join(s.dir, "data"), false); err != nil {
		t.Fatalf("mysqltest: start the %s again: %v\n%s", s.Name, err, s.Tail(30))
	}
	return time.Since(began)
}
