package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// The servers the suite command benchmarks, each started fresh with a
// configuration generated for the run in its own directory: every limit
// and traffic shaper that would measure itself instead of the server is
// off, archiving of room messages is on, clients must use TLS.
//
//   - parley-sqlite, parley-mysql: parleyd from --bin, c2s only, on SQLite
//     in the run directory or on a fresh MySQL database (--mysql); the
//     per-address, per-user and per-session stanza rates, the join and
//     unauthenticated-connection limits raised far beyond the load.
//   - prosody: Debian's prosody 0.12 (prosody -F), epoll, internal_hashed
//     accounts, mod_muc with mod_muc_mam on every room (muc_log_all_rooms),
//     in-band registration without throttling for the bench's addresses,
//     no mod_limits, room locking and the room cache out of the way.
//   - ejabberd: Debian's ejabberd 23.01 (ejabberdctl foreground as the
//     ejabberd user, Erlang distribution on loopback), Mnesia, mod_muc
//     with mod_mam on by default in rooms, c2s shaper none, no
//     registration timeout, room size limit and caches raised; started
//     as the ejabberd user with setpriv (ejabberdctl's su would bring the
//     open-files limit down to 1,024).
//
// Accounts are created by the bench: in Parley's database directly (users
// command), on the peers by in-band registration (XEP-0077).

// benchServer is one running server under test.
type benchServer interface {
	Name() string
	Addr() string
	PID() int
	// Storage is the DSN for Parley's users and rooms (bench writes the
	// database directly); "" for peers, which get accounts in-band.
	Storage() string
	Stop()
}

// serverKinds are the servers suite knows, in table order.
var serverKinds = []string{"parley-sqlite", "parley-mysql", "prosody", "ejabberd"}

// startServer starts a fresh server of kind in a new directory under
// dir.
func startServer(ctx context.Context, log *slog.Logger, kind string, o suiteOptions) (benchServer, error) {
	dir, err := os.MkdirTemp(o.Work, kind+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	switch kind {
	case "parley-sqlite":
		return startParley(ctx, log, kind, dir, "sqlite:"+filepath.Join(dir, "parley.db"), o)
	case "parley-mysql":
		db := "parley_bench_" + randomHex(4)
		if err := mysqlExec(o.MySQL, "CREATE DATABASE "+db); err != nil {
			return nil, fmt.Errorf("creating MySQL database %s on %s: %w", db, o.MySQL, err)
		}
		s, err := startParley(ctx, log, kind, dir, "mysql:"+o.MySQL+db, o)
		if err != nil {
			_ = mysqlExec(o.MySQL, "DROP DATABASE "+db)
			return nil, err
		}
		s.drop = db
		return s, nil
	case "prosody":
		return startProsody(ctx, log, dir, port, o)
	case "ejabberd":
		return startEjabberd(ctx, log, dir, port, o)
	}
	return nil, fmt.Errorf("unknown server %q (want one of %s)", kind, strings.Join(serverKinds, ", "))
}

// process is a started server process.
type process struct {
	name string
	addr string
	pid  int
	cmd  *exec.Cmd
	done chan error
	out  string // its stdout and stderr
}

func (p *process) Name() string { return p.name }
func (p *process) Addr() string { return p.addr }
func (p *process) PID() int     { return p.pid }

// start runs argv with stdout and stderr to the file out.
func (p *process) start(env []string, argv ...string) error {
	f, err := os.Create(p.out)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = append(os.Environ(), env...)
	// Its own process group: ^C on the bench does not reach it first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	p.pid = p.cmd.Process.Pid
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	return nil
}

// waitListening waits until addr accepts connections or the process
// exits.
func (p *process) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited at start-up (%v):\n%s", p.name, err, tail(p.out, 20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %v:\n%s", p.name, p.addr, timeout, tail(p.out, 20))
}

// stop sends SIGTERM to the process and waits, then SIGKILL.
func (p *process) stop(grace time.Duration) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
	}
}

// parleyServer is parleyd.
type parleyServer struct {
	process
	storage string
	mysql   string
	drop    string // MySQL database to drop at the end
}

func (s *parleyServer) Storage() string { return s.storage }

func (s *parleyServer) Stop() {
	s.stop(20 * time.Second)
	if s.drop != "" {
		_ = mysqlExec(s.mysql, "DROP DATABASE IF EXISTS "+s.drop)
	}
}

// parleyLimitsOff are parleyd's flags that take its abuse limits out of
// the way of a benchmark (every bench session comes from a few loopback
// addresses and posts far faster than a person).
var parleyLimitsOff = []string{
	"--ip-stanza-rate", "1000000", "--ip-stanza-burst", "1000000",
	"--user-stanza-rate", "1000000", "--user-stanza-burst", "1000000",
	"--stanza-rate", "1000000", "--stanza-burst", "1000000",
	"--joins-per-minute", "1000000",
	"--max-unauth-per-ip", "100000",
	"--max-rooms-per-user", "1000000",
}

func startParley(ctx context.Context, log *slog.Logger, kind, dir, storage string, o suiteOptions) (*parleyServer, error) {
	bin := filepath.Join(o.Bin, "parleyd")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("parleyd not found in --bin %s (run make build): %w", o.Bin, err)
	}
	s := &parleyServer{process: process{name: kind, out: filepath.Join(dir, "parleyd.log")}, storage: storage, mysql: o.MySQL}
	args := append([]string{bin, "--data", dir, "--domain", o.Domain, "--storage", storage,
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "", "--http", "", "--admin-http", "",
		"--sip", "", "--sip-tls", "", "--xmpp-s2s", "", "--log-level", "warn"}, parleyLimitsOff...)
	args = append(args, o.ParleyArgs...)
	if err := s.start(nil, args...); err != nil {
		return nil, err
	}
	// parleyd announces its listeners on stdout.
	c2s := regexp.MustCompile(`^parleyd: XMPP c2s \(STARTTLS\) on (\S+)$`)
	deadline := time.Now().Add(60 * time.Second)
	for s.addr == "" {
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("parleyd did not announce its c2s listener within 60s:\n%s", tail(s.out, 20))
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("parleyd exited at start-up (%v):\n%s", err, tail(s.out, 20))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		f, err := os.Open(s.out)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := c2s.FindStringSubmatch(sc.Text()); m != nil {
				s.addr = m[1]
			}
		}
		f.Close()
	}
	log.Info("server started", "server", kind, "addr", s.addr, "pid", s.pid, "storage", storage)
	return s, nil
}

// prosodyServer is Prosody.
type prosodyServer struct{ process }

func (s *prosodyServer) Storage() string { return "" }
func (s *prosodyServer) Stop()           { s.stop(20 * time.Second) }

func startProsody(ctx context.Context, log *slog.Logger, dir string, port int, o suiteOptions) (*prosodyServer, error) {
	if _, err := exec.LookPath("prosody"); err != nil {
		return nil, fmt.Errorf("prosody not found (apt-get install prosody): %w", err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeSelfSigned(certFile, keyFile, o.Domain, "conference."+o.Domain); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	// Debian's defaults, minus the system paths, with the limits off.
	conf := fmt.Sprintf(`-- generated by parley-bench suite
pidfile = %[1]q
data_path = %[2]q
run_as_root = true
modules_disabled = { "posix" }
network_backend = "epoll"
interfaces = { "127.0.0.1" }
c2s_ports = { %[3]d }
s2s_ports = { }
http_ports = { }
https_ports = { }
log = { warn = %[4]q }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "register" }
c2s_require_encryption = true
allow_registration = true
registration_allowlist = { %[9]s }
registration_throttle_max = 1000000000
min_seconds_between_registrations = 0
authentication = "internal_hashed"
storage = "internal"
ssl = { certificate = %[5]q, key = %[6]q }
VirtualHost %[7]q
Component %[8]q "muc"
    modules_enabled = { "muc_mam" }
    muc_log_all_rooms = true
    muc_room_cache_size = 1000000
    storage_archive_item_limit = 1000000000
    restrict_room_creation = false
`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), port, filepath.Join(dir, "prosody.log"),
		certFile, keyFile, o.Domain, "conference."+o.Domain, luaStrings(o.Sources))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	s := &prosodyServer{process{name: "prosody", addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: filepath.Join(dir, "prosody.out")}}
	if err := s.start(nil, "prosody", "-F", "--config", cfg); err != nil {
		return nil, err
	}
	if err := s.waitListening(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	log.Info("server started", "server", "prosody", "addr", s.addr, "pid", s.pid)
	return s, nil
}

// luaStrings is the sources as a Lua list body, loopback always included.
func luaStrings(ips []net.IP) string {
	all := []string{`"127.0.0.1"`, `"::1"`}
	for _, ip := range ips {
		all = append(all, strconv.Quote(ip.String()))
	}
	return strings.Join(all, ", ")
}

// ejabberdServer is ejabberd.
type ejabberdServer struct {
	process
	dir  string
	node string
}

func (s *ejabberdServer) Storage() string { return "" }

// ctl runs ejabberdctl with the node's configuration.
func (s *ejabberdServer) ctl(args ...string) *exec.Cmd {
	all := append([]string{"ejabberdctl", "--config-dir", s.dir, "--config", filepath.Join(s.dir, "ejabberd.yml"),
		"--ctl-config", filepath.Join(s.dir, "ejabberdctl.cfg"), "--logs", filepath.Join(s.dir, "logs"),
		"--spool", filepath.Join(s.dir, "spool"), "--node", s.node}, args...)
	cmd := exec.Command(all[0], all[1:]...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_ADDRESS=127.0.0.1")
	return cmd
}

func (s *ejabberdServer) Stop() {
	_ = s.ctl("stop").Run()
	s.stop(30 * time.Second)
	_ = os.RemoveAll(s.dir)
}

func startEjabberd(ctx context.Context, log *slog.Logger, _ string, port int, o suiteOptions) (*ejabberdServer, error) {
	if _, err := exec.LookPath("ejabberdctl"); err != nil {
		return nil, fmt.Errorf("ejabberdctl not found (apt-get install ejabberd): %w", err)
	}
	u, err := user.Lookup("ejabberd")
	if err != nil {
		return nil, fmt.Errorf("no ejabberd user (apt-get install ejabberd): %w", err)
	}
	// ejabberdctl runs the node as the ejabberd user: its files are in a
	// directory that user can reach (not under a private temp dir).
	dir, err := os.MkdirTemp("", "parley-bench-ejabberd-")
	if err != nil {
		return nil, err
	}
	s := &ejabberdServer{
		process: process{name: "ejabberd", addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: filepath.Join(dir, "ejabberd.out")},
		dir:     dir,
		node:    "parleybench" + randomHex(6) + "@localhost",
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeSelfSigned(certFile, keyFile, o.Domain, "conference."+o.Domain); err != nil {
		return nil, err
	}
	cert, _ := os.ReadFile(certFile)
	key, _ := os.ReadFile(keyFile)
	files := map[string]string{
		"combined.pem": string(cert) + string(key),
		// ejabberdctl points the VM's resolver configuration here.
		"inetrc": "{lookup,[file,native]}.\n",
		// The process and port limits of the Erlang VM above the
		// bench's sessions.
		"ejabberdctl.cfg": fmt.Sprintf("INET_DIST_INTERFACE=127.0.0.1\nERLANG_NODE=%s\nEJABBERD_PID_PATH=%s\nERL_MAX_PORTS=65536\nERL_PROCESSES=1000000\n",
			s.node, filepath.Join(dir, "ejabberd.pid")),
		"ejabberd.yml": fmt.Sprintf(`# generated by parley-bench suite
hosts:
  - %[1]s
loglevel: warning
certfiles:
  - %[2]q
registration_timeout: infinity
cache_size: 10000000
shaper_rules:
  c2s_shaper: none
  s2s_shaper: none
max_fsm_queue: 1000000
listen:
  -
    port: %[3]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 1048576
auth_method: internal
auth_password_format: scram
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_register:
    access: register
    ip_access: all
    welcome_message: {subject: "", body: ""}
  mod_mam:
    default: always
  mod_muc:
    access_create: all
    access_persistent: all
    max_users: 100000
    max_user_conferences: 1000
    history_size: 20
    default_room_options:
      mam: true
      max_users: 100000
`, o.Domain, filepath.Join(dir, "combined.pem"), port),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"logs", "spool"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	}); err != nil {
		return nil, err
	}
	// As root, ejabberdctl runs the VM through su, whose PAM limits bring
	// the open-files limit back to 1,024 (the VM then refuses connections
	// past ~1,000): start it as the ejabberd user directly, keeping the
	// bench's limit, with that user's home (the Erlang cookie ejabberdctl
	// stop uses).
	argv := append([]string{"setpriv", "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups"}, s.ctl("foreground").Args...)
	if err := s.start([]string{"ERL_EPMD_ADDRESS=127.0.0.1", "HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}, argv...); err != nil {
		return nil, err
	}
	if err := s.waitListening(ctx, 120*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	// The Erlang VM's pid (beam.smp), not ejabberdctl's.
	b, err := os.ReadFile(filepath.Join(dir, "ejabberd.pid"))
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
		s.pid = pid
	} else {
		log.Warn("ejabberd: no pid file, measuring ejabberdctl instead", "err", errors.Join(err, perr))
	}
	log.Info("server started", "server", "ejabberd", "addr", s.addr, "pid", s.pid)
	return s, nil
}

// mysqlExec runs one statement on the MySQL server of dsn ("USER@tcp(HOST:PORT)/").
func mysqlExec(dsn, stmt string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeSelfSigned writes a self-signed ECDSA certificate for names.
func writeSelfSigned(certFile, keyFile string, names ...string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
