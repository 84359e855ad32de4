package mysqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// Server is a MariaDB server of the test's own (mariadbd from Debian's
// mariadb-server), in a temporary data directory, on a free loopback port.
type Server struct {
	Name string // "primary", "replica": for messages
	Addr string // 127.0.0.1:PORT
	Port int
	ID   int // server_id
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Pair is a primary and a replica with GTID replication between them
// (README "High availability"): the primary waits for the replica to
// acknowledge each transaction before its commit returns (semi-synchronous
// replication, AFTER_SYNC), so that a commit a client was told of is on
// the replica when the primary dies; the replica is read_only.
//
// Parley connects as User with Password, an account with every privilege
// on the databases whose names start with "parley" but not SUPER or READ
// ONLY ADMIN, so read_only binds it as it would bind an application in
// production. Admin is a root DSN (no database) for either server.
type Pair struct {
	Primary, Replica *Server
	User, Password   string
	t                testing.TB
}

// Replication settings of a pair.
const (
	// semiSyncTimeout is how long the primary waits for the replica's
	// acknowledgement before it falls back to asynchronous replication
	// (and could lose an acknowledged commit with its disk): far longer
	// than any test waits.
	semiSyncTimeout = 10 * time.Minute
	startLimit      = 2 * time.Minute
	// promoteWait bounds how long Promote waits for the replica to apply
	// what it has received.
	promoteWait = time.Minute
)

// StartPair starts two MariaDB servers (as root with --user=root, as the
// test machines run them) and replication from the first to the second.
// They are killed when the test ends. A machine without mariadbd skips
// the test.
func StartPair(t testing.TB) *Pair {
	t.Helper()
	requireMariaDB(t)
	p := &Pair{User: "parley", Password: "repl-" + randomHex(t, 8), t: t}
	p.Primary = startServer(t, "primary", 1, false)
	p.Replica = startServer(t, "replica", 2, true)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	primary := p.Primary.admin(t)
	defer primary.Close()
	for _, stmt := range []string{
		// Users made on the primary reach the replica by replication.
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", p.User, p.Password),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON `parley%%`.* TO '%s'@'127.0.0.1'", p.User),
		"CREATE USER 'repl'@'127.0.0.1'",
		"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
	} {
		if _, err := primary.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("mysqltest: primary: %s: %v", stmt, err)
		}
	}
	replica := p.Replica.admin(t)
	defer replica.Close()
	for _, stmt := range []string{
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', "+
			"MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos", p.Primary.Port),
		"START SLAVE",
	} {
		if _, err := replica.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("mysqltest: replica: %s: %v", stmt, err)
		}
	}
	// Semi-synchronous from now on: switched on before, the primary
	// would have waited for a replica that was not there yet. The
	// replica's fetching thread announces itself as semi-synchronous when
	// it connects, so it connects again.
	if _, err := primary.ExecContext(ctx, "SET GLOBAL rpl_semi_sync_master_enabled = 1"); err != nil {
		t.Fatalf("mysqltest: primary: %v", err)
	}
	for _, stmt := range []string{"STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD"} {
		if _, err := replica.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("mysqltest: replica: %s: %v", stmt, err)
		}
	}
	// Replication is up once the primary counts a semi-sync client and
	// the user made above is on the replica.
	for {
		var name string
		var clients int
		err := primary.QueryRowContext(ctx, "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'").Scan(&name, &clients)
		var n int
		if err == nil {
			err = replica.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE user = ?", p.User).Scan(&n)
		}
		if err == nil && clients == 1 && n == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("mysqltest: replication did not start (semi-sync clients %d, user replicated %v, %v):\n%s",
				clients, n == 1, err, p.Replica.Tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("mysqltest: MariaDB primary %s replicating to %s (GTID, semi-synchronous)", p.Primary.Addr, p.Replica.Addr)
	return p
}

// DSN is the go-sql-driver DSN of database on both servers, primary first,
// as --storage takes it after "mysql:".
func (p *Pair) DSN(database string) string {
	return fmt.Sprintf("%s:%s@tcp(%s,%s)/%s", p.User, p.Password, p.Primary.Addr, p.Replica.Addr, database)
}

// KillPrimary kills the primary with SIGKILL, as a crash would.
func (p *Pair) KillPrimary() {
	p.t.Helper()
	p.Primary.Kill(p.t)
}

// Promote makes the replica the primary by the procedure the README
// gives: stop fetching from the old primary, wait until everything
// fetched has been applied (with semi-synchronous replication that is
// every commit any client was told of), forget the old primary and take
// writes.
func (p *Pair) Promote() {
	t := p.t
	t.Helper()
	if err := Promote(context.Background(), p.Replica.AdminDSN()); err != nil {
		t.Fatalf("mysqltest: promote %s: %v", p.Replica.Addr, err)
	}
}

// Promote runs the promotion procedure on the replica that adminDSN (a
// user with SUPER or the MariaDB 10.5+ replication privileges) reaches.
func Promote(ctx context.Context, adminDSN string) error {
	db, err := sql.Open("mysql", adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, promoteWait)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "STOP SLAVE IO_THREAD"); err != nil {
		return err
	}
	received, err := slaveStatus(ctx, conn, "Gtid_IO_Pos")
	if err != nil {
		return err
	}
	var res sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", received, int(promoteWait.Seconds())).Scan(&res); err != nil {
		return fmt.Errorf("wait for the relay log to be applied: %w", err)
	}
	if res.Int64 != 0 {
		return fmt.Errorf("the replica did not apply %s within %v", received, promoteWait)
	}
	for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// requireMariaDB skips the test on a machine without mariadbd.
func requireMariaDB(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				t.Skipf("%s is not installed (Debian mariadb-server): %v", bin, err)
			}
		}
	}
}

// slaveStatus is one column of SHOW SLAVE STATUS.
func slaveStatus(ctx context.Context, conn *sql.Conn, column string) (string, error) {
	rows, err := conn.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", errors.New("SHOW SLAVE STATUS: not a replica")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	for i, c := range cols {
		if c == column {
			return string(vals[i]), nil
		}
	}
	return "", fmt.Errorf("SHOW SLAVE STATUS has no %s", column)
}

// startServer initialises a data directory and starts mariadbd on it.
func startServer(t testing.TB, name string, id int, readOnly bool) *Server {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := &Server{Name: name, ID: id, dir: dir, log: filepath.Join(dir, "mariadbd.log")}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mysqltest: mariadb-install-db for the %s: %v\n%s", name, err, out)
	}
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		err := s.start(data, readOnly)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(s.Tail(20), "already in use") {
			t.Fatalf("mysqltest: start the %s: %v\n%s", name, err, s.Tail(30))
		}
	}
	t.Cleanup(func() {
		if s.running() {
			s.Kill(t)
		}
	})
	return s
}

func (s *Server) start(data string, readOnly bool) error {
	args := []string{
		"--no-defaults", "--user=root", "--datadir=" + data,
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(s.Port),
		"--socket=" + filepath.Join(s.dir, "mysqld.sock"), "--pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
		"--log-error=" + s.log, "--skip-name-resolve",
		"--server-id=" + strconv.Itoa(s.ID),
		"--log-bin=" + filepath.Join(data, "binlog"), "--binlog-format=ROW", "--log-slave-updates",
		"--gtid-strict-mode=1", "--sync-binlog=1", "--innodb-flush-log-at-trx-commit=1",
		"--relay-log=" + filepath.Join(data, "relay"), "--relay-log-recovery=1",
		"--rpl-semi-sync-slave-enabled=1",
		"--rpl-semi-sync-master-wait-point=AFTER_SYNC",
		"--rpl-semi-sync-master-timeout=" + strconv.FormatInt(semiSyncTimeout.Milliseconds(), 10),
		// Small and quick: a test server holds a few thousand rows.
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--performance-schema=OFF",
		"--max-connections=200",
	}
	if readOnly {
		args = append(args, "--read-only=1")
	}
	s.cmd = exec.Command("mariadbd", args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(startLimit)
	for {
		db := s.adminDB()
		err := db.Ping()
		db.Close()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("mariadbd exited: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("mariadbd did not answer within %v: %v", startLimit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AdminDSN is a DSN for root on the server's socket, without a database.
func (s *Server) AdminDSN() string {
	cfg := gomysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = filepath.Join(s.dir, "mysqld.sock")
	cfg.Timeout = 3 * time.Second
	return cfg.FormatDSN()
}

func (s *Server) adminDB() *sql.DB {
	db, _ := sql.Open("mysql", s.AdminDSN())
	return db
}

// admin is an open root connection pool.
func (s *Server) admin(t testing.TB) *sql.DB {
	t.Helper()
	db := s.adminDB()
	if err := db.Ping(); err != nil {
		t.Fatalf("mysqltest: %s: %v", s.Name, err)
	}
	return db
}

func (s *Server) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill ends the server with SIGKILL and waits for it to go.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && s.running() {
		t.Fatalf("mysqltest: SIGKILL to the %s: %v", s.Name, err)
	}
	<-s.done
}

// Tail returns the last n lines of the server's error log.
func (s *Server) Tail(n int) string {
	b, _ := os.ReadFile(s.log)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
