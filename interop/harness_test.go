package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// The harness: the real binaries, built once per test run, started as a
// real process on loopback ports with its own data directory, and real
// clients run as child processes against it.

const (
	python     = "/usr/bin/python3" // Debian's, which has python3-slixmpp
	domain     = "localhost"
	mysqlEnv   = "PARLEY_TEST_MYSQL_DSN" // as in storage/mysql's tests
	mysqlDSN   = "root@tcp(127.0.0.1:3306)/"
	startLimit = 20 * time.Second // for parleyd to answer /healthz
	stopLimit  = 15 * time.Second // for parleyd to exit after SIGTERM
	scriptMax  = 90 * time.Second // hard limit on one client script (it bounds itself at 55 s)
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goTool is the go command: $GOROOT/bin/go when GOROOT is set, else the
// one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// binaries builds parleyd and parleyctl once per test binary run and
// returns the directory that holds them.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "parley-interop-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		start := time.Now()
		cmd := exec.Command(goTool(), "build", "-o", dir+string(filepath.Separator),
			"./cmd/parleyd", "./cmd/parleyctl", "./cmd/parley-bench")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/parleyd ./cmd/parleyctl ./cmd/parley-bench: %v\n%s", err, out)
			return
		}
		t.Logf("built parleyd, parleyctl and parley-bench in %v", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// requireSlixmpp fails the test (it does not skip: the real-client test is
// part of the suite) unless Debian's python3 can import slixmpp.
func requireSlixmpp(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import slixmpp; print(slixmpp.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import slixmpp (%v): %s\n"+
			"Install it with: apt-get install -y python3-slixmpp",
			python, err, strings.TrimSpace(string(out)))
	}
	t.Logf("slixmpp %s (%s)", strings.TrimSpace(string(out)), python)
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mysqlStorage creates a fresh database on the local MySQL/MariaDB, drops
// it when the test ends, and returns the --storage value for it. An
// unreachable server fails the test with how to start one.
func mysqlStorage(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(mysqlEnv)
	if dsn == "" {
		dsn = mysqlDSN
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", mysqlEnv, err)
	}
	server := cfg.Clone() // what parleyd gets, with the new database's name
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("%s: %v", mysqlEnv, err)
	}
	admin := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Fatalf("MySQL/MariaDB at %s(%s) is not reachable: %v\n"+
			"Start the local MariaDB (as root) with\n"+
			"\tstart-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd\n"+
			"or point %s at a server you may create databases on, e.g.\n"+
			"\t%s='user:password@tcp(host:3306)/'",
			cfg.Net, cfg.Addr, err, mysqlEnv, mysqlEnv)
	}
	name := "parley_it_" + randomHex(t, 6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	// Registered before the server starts, so it runs after the server
	// has stopped (cleanups run last-in first-out).
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	server.DBName = name
	return "mysql:" + server.FormatDSN()
}

// server is one parleyd process and what it needs to be restarted on the
// same data: its flags, ports and output files.
type server struct {
	t       *testing.T
	bin     string
	dir     string // temp dir: data/, logs
	data    string
	domain  string // --domain (the const domain unless a test sets it)
	storage string // --storage value; empty: SQLite under data/
	c2s     int
	tls     int
	http    int
	https   int      // --https: the web client, wss: and BOSH
	sip     int      // SIP over UDP and TCP (--sip); --sip-tls is off
	args    []string // more parleyd flags
	starts  int

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stderr string        // path of the current run's stderr
}

// newServer prepares a parleyd on fresh loopback ports with its own data
// directory; storage is the --storage value ("" for the SQLite default).
// It is stopped (and checked) when the test ends.
func newServer(t *testing.T, storage string) *server {
	t.Helper()
	ports := freePorts(t, 5)
	dir := t.TempDir()
	s := &server{
		t: t, bin: binaries(t), dir: dir, data: filepath.Join(dir, "data"), domain: domain,
		storage: storage, c2s: ports[0], tls: ports[1], http: ports[2], sip: ports[3], https: ports[4],
	}
	t.Cleanup(func() {
		if s.running() {
			s.stop()
		}
	})
	return s
}

// common are the flags parleyd and parleyctl share.
func (s *server) common() []string {
	args := []string{"--data", s.data, "--domain", s.domain}
	if s.storage != "" {
		args = append(args, "--storage", s.storage)
	}
	return args
}

func (s *server) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// start runs parleyd and waits until /healthz answers 200.
func (s *server) start() {
	s.t.Helper()
	// freePorts releases the ports it finds, and tests run in parallel:
	// another test's socket may take one before parleyd binds it. Then
	// parleyd exits at once saying so, and it starts again on new ports.
	for attempt := 1; !s.tryStart(attempt < 4); attempt++ {
		ports := freePorts(s.t, 5)
		s.c2s, s.tls, s.http, s.sip, s.https = ports[0], ports[1], ports[2], ports[3], ports[4]
		s.t.Logf("parleyd could not bind a port another test took; starting again on new ports")
	}
}

// tryStart runs parleyd and waits until /healthz answers 200. It returns
// false if parleyd exited because a port was taken and mayRetry is set.
func (s *server) tryStart(mayRetry bool) bool {
	t := s.t
	t.Helper()
	s.starts++
	args := append(s.common(),
		"--xmpp-c2s", fmt.Sprintf("127.0.0.1:%d", s.c2s),
		"--xmpp-tls", fmt.Sprintf("127.0.0.1:%d", s.tls),
		"--https", fmt.Sprintf("127.0.0.1:%d", s.https),
		"--http", fmt.Sprintf("127.0.0.1:%d", s.http),
		"--sip", fmt.Sprintf("127.0.0.1:%d", s.sip),
		"--sip-tls", "",
		// Federation listens on a fixed port (5269): only the tests
		// that federate turn it on, on a loopback address of their own.
		"--xmpp-s2s", "",
		// A port another test took stops parleyd (below it starts again
		// on new ones) rather than leaving it without that listener.
		"--strict-listeners",
		"--admin-http", "", // its default port is one for the machine
		// Everything is logged, so the log audit (logaudit_test.go) sees
		// what any level would show.
		"--log-level", "debug",
	)
	args = append(args, s.args...)
	s.stderr = filepath.Join(s.dir, fmt.Sprintf("parleyd-%d.stderr", s.starts))
	errf, err := os.Create(s.stderr)
	if err != nil {
		t.Fatal(err)
	}
	outf, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("parleyd-%d.stdout", s.starts)))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(filepath.Join(s.bin, "parleyd"), args...)
	s.cmd.Stdout, s.cmd.Stderr = outf, errf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start parleyd: %v", err)
	}
	s.done = make(chan struct{})
	go func() {
		s.cmd.Wait()
		outf.Close()
		errf.Close()
		close(s.done)
	}()

	began := time.Now()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.http)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			stderr := s.tail(s.stderr, 40)
			if mayRetry && strings.Contains(stderr, "address already in use") {
				return false
			}
			t.Fatalf("parleyd exited during start-up (%v):\n%s", s.cmd.ProcessState, stderr)
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(began) > startLimit {
			t.Fatalf("parleyd did not answer %s within %v:\n%s", url, startLimit, s.tail(s.stderr, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("parleyd started (%s) in %v: c2s %d, direct TLS %d, http %d",
		s.storageName(), time.Since(began).Round(time.Millisecond), s.c2s, s.tls, s.http)
	return true
}

func (s *server) storageName() string {
	if s.storage == "" {
		return "sqlite under " + s.data
	}
	if i := strings.LastIndex(s.storage, "/"); i >= 0 {
		db, _, _ := strings.Cut(s.storage[i+1:], "?")
		return "mysql database " + db
	}
	return s.storage
}

// stop sends SIGTERM and checks parleyd exits 0 in time without a panic.
func (s *server) stop() {
	t := s.t
	t.Helper()
	began := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM to parleyd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(stopLimit):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("parleyd did not exit within %v of SIGTERM; killed it:\n%s", stopLimit, s.tail(s.stderr, 40))
		return
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("parleyd exited with %v after SIGTERM, want 0:\n%s", s.cmd.ProcessState, s.tail(s.stderr, 40))
	}
	s.auditLogs()
	stderr, _ := os.ReadFile(s.stderr)
	for _, bad := range []string{"panic:", "fatal error:", "WARNING: DATA RACE"} {
		if bytes.Contains(stderr, []byte(bad)) {
			t.Errorf("parleyd's stderr has %q:\n%s", bad, stderr)
		}
	}
	// Warnings and errors are worth seeing even when the test passes.
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Logf("parleyd: %s", line)
		}
	}
	t.Logf("parleyd stopped with SIGTERM in %v, exit 0", time.Since(began).Round(time.Millisecond))
}

// kill ends parleyd with SIGKILL, as a crash would: no clean stop.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatalf("SIGKILL to parleyd: %v", err)
	}
	<-s.done
	s.auditLogs()
}

// tail returns the last n lines of a file.
func (s *server) tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// addUser creates an account with parleyctl.
func (s *server) addUser(name, password string) {
	t := s.t
	t.Helper()
	auditSecret(password)
	args := append(s.common(), "user", "add", name, "--password", password)
	out, err := exec.Command(filepath.Join(s.bin, "parleyctl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("parleyctl user add %s: %v\n%s", name, err, out)
	}
}

// ctl runs parleyctl on the server's data and storage (while it runs or
// not) and returns its output; err is non-nil when it exits non-zero.
func (s *server) ctl(args ...string) (string, error) {
	s.t.Helper()
	all := append(s.common(), args...)
	out, err := exec.Command(filepath.Join(s.bin, "parleyctl"), all...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustCtl is ctl that fails the test when parleyctl fails.
func (s *server) mustCtl(args ...string) string {
	s.t.Helper()
	out, err := s.ctl(args...)
	if err != nil {
		s.t.Fatalf("parleyctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s.t.Logf("parleyctl %s: %s", strings.Join(args, " "), out)
	return out
}

// account is a user the scripts log in as.
type account struct{ name, password string }

// runScript runs testdata/NAME with /usr/bin/python3 against s, logs its
// output, and fails the test if it exits non-zero, showing the stanzas
// slixmpp logged. It returns the output.
func (s *server) runScript(name string, users []account, extra ...string) string {
	t := s.t
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(s.dir, fmt.Sprintf("%s-%d.slixmpp.log", strings.TrimSuffix(name, ".py"), s.starts))
	args := []string{"-B", script,
		"--host", "127.0.0.1", "--port", strconv.Itoa(s.c2s), "--tls-port", strconv.Itoa(s.tls),
		"--domain", s.domain, "--log", logFile}
	for _, u := range users {
		args = append(args, "--user", u.name+":"+u.password)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), scriptMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONUTF8=1")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began).Round(time.Millisecond)
	t.Logf("slixmpp %s %s (%v):\n%s", name, strings.Join(extra, " "), took, out)
	if err != nil {
		t.Errorf("slixmpp %s %s failed after %v: %v\n%s", name, strings.Join(extra, " "), took, err,
			failureLines(out))
		t.Logf("last stanzas slixmpp logged (%s):\n%s", logFile, stanzaTail(logFile, 60))
		t.Logf("parleyd's stderr:\n%s", s.tail(s.stderr, 30))
	}
	return string(out)
}

// failureLines picks the FAIL lines out of a script's output.
func failureLines(out []byte) string {
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "FAIL") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// stanzaTail returns the last n lines a script logged of what its clients
// sent and received (logger "wire", labelled with the client).
func stanzaTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, " INFO wire ") {
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
