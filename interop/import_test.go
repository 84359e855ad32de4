package interop

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// parleyctl import from a real Prosody (Debian's 0.12): the test runs
// Prosody with MUC and its archive (mod_muc_mam) on the internal store,
// and again on the sql store with SQLite; slixmpp users make rooms (open,
// secret, moderated), subscribe to each other and post; Prosody stops;
// parleyctl imports its data into a fresh parleyd; running the import
// again changes nothing; then slixmpp logs in to parleyd with the
// passwords the users had on Prosody (SCRAM-SHA-1 from the stored keys,
// and PLAIN) and finds every message of every room in parleyd's archive,
// and every 1:1 chat in alice's own, in order, with its Prosody id,
// timestamp and nick, and a full-text search finds one at once. Compliance records one import event per room.
// See testdata/import_source.py.

const (
	oldDomain    = "old.test"
	oldMUCDomain = "rooms.old.test"
)

var importUsers = []account{{"alice", "al1ce's old pw"}, {"bob", "b0b-old"}}

func TestImportProsody(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	for _, store := range []string{"internal", "sql"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			p := startImportProsody(t, store)
			state := filepath.Join(t.TempDir(), "state.json")
			populate(t, p.dir, p.c2s, state)
			p.stop()

			s := newServer(t, "")
			from := filepath.Join(p.dir, "data")
			if store == "sql" {
				from = "sqlite:" + filepath.Join(from, "prosody.sqlite")
			}
			checkImport(t, s, "prosody", from, state, 36)
		})
	}
}

// checkImport imports into s from, imports again (nothing new), starts
// s and runs the verify phase; want is the number of messages.
func checkImport(t *testing.T, s *server, kind, from, state string, want int, extra ...string) {
	t.Helper()
	args := append([]string{"import", kind, "--from", from}, extra...)
	out := s.mustCtl(args...)
	// Three chats between alice and bob, in each one's archive: 6.
	for _, line := range []string{"accounts: 2 imported", "rooms: 3 created", fmt.Sprintf("messages: %d imported, 0 already there", want),
		"account archives: 6 messages imported, 0 already there"} {
		if !strings.Contains(out, line) {
			t.Errorf("parleyctl %s says\n%s\nwant a line with %q", strings.Join(args, " "), out, line)
		}
	}
	out = s.mustCtl(args...)
	for _, line := range []string{"accounts: 0 imported, 2 already there", "rooms: 0 created, 3 already there",
		fmt.Sprintf("messages: 0 imported, %d already there", want), "account archives: 0 messages imported, 6 already there"} {
		if !strings.Contains(out, line) {
			t.Errorf("parleyctl %s run again says\n%s\nwant a line with %q", strings.Join(args, " "), out, line)
		}
	}
	if out := s.mustCtl("room", "show", "board"); !regexp.MustCompile(`privacy\s+secret`).MatchString(out) {
		t.Errorf("the hidden members-only room was not imported as a secret room:\n%s", out)
	}
	if out := s.mustCtl("room", "show", "town"); !regexp.MustCompile(`type\s+auditorium`).MatchString(out) ||
		!regexp.MustCompile(`presenters\s+bob@`).MatchString(out) {
		t.Errorf("the moderated room was not imported as an auditorium with its voiced member a presenter:\n%s", out)
	}
	s.start()
	s.runScript("import_source.py", importUsers, "--phase", "verify", "--state", state, "--muc", "conference."+s.domain)
	waitImportEvents(t, s, "design", "board", "town")
}

// waitImportEvents waits until compliance holds exactly one import event
// for each room (parleyd's compliance worker copies the outbox).
func waitImportEvents(t *testing.T, s *server, rooms ...string) {
	t.Helper()
	for _, room := range rooms {
		var out string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
			var err error
			out, err = s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", room, "--format", "json")
			n := strings.Count(out, `"type":"import"`)
			if err == nil && n == 1 {
				break
			}
			if n > 1 || time.Now().After(deadline) {
				t.Errorf("compliance holds %d import events for %s, want 1 (err %v):\n%s", n, room, err, out)
				break
			}
		}
	}
}

// populate runs the populate phase against the old server.
func populate(t *testing.T, dir string, port int, state string) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("testdata", "import_source.py"))
	args := []string{"-B", script, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--domain", oldDomain,
		"--log", filepath.Join(dir, "populate.slixmpp.log"), "--phase", "populate", "--state", state, "--muc", oldMUCDomain}
	for _, u := range importUsers {
		args = append(args, "--user", u.name+":"+u.password)
	}
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONUTF8=1")
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp import_source.py --phase populate:\n%s", out)
	if err != nil {
		t.Fatalf("populating the old server failed: %v\nlast stanzas:\n%s", err, stanzaTail(filepath.Join(dir, "populate.slixmpp.log"), 40))
	}
}

// importProsody is a Prosody whose data the test imports.
type importProsody struct {
	*prosody
	dir string
}

// startImportProsody runs Prosody for old.test with its MUC service at
// rooms.old.test archiving every room (mod_muc_mam), on store
// ("internal" or "sql" with SQLite), c2s on a free loopback port, no
// federation; alice and bob are registered (internal_hashed: SCRAM-SHA-1
// keys).
func startImportProsody(t *testing.T, store string) *importProsody {
	t.Helper()
	dir := t.TempDir()
	ip := "127.0.0.1"
	p := &importProsody{dir: dir, prosody: &prosody{c2s: freePortOn(t, ip), cfg: filepath.Join(dir, "prosody.cfg.lua"), log: filepath.Join(dir, "prosody.log")}}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, oldDomain, oldMUCDomain)
	storage := `storage = "internal"`
	if store == "sql" {
		storage = `storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }`
	}
	cfg := fmt.Sprintf(`-- generated by parley's import test
pidfile = %[1]q
data_path = %[2]q
run_as_root = true
modules_disabled = { "posix", "s2s" }
interfaces = { %[3]q }
c2s_ports = { %[4]d }
s2s_ports = { }
http_ports = { }
https_ports = { }
log = { debug = %[5]q }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "mam" }
c2s_require_encryption = true
authentication = "internal_hashed"
%[6]s
certificates = %[7]q
ssl = { certificate = %[8]q, key = %[9]q }
VirtualHost %[10]q
Component %[11]q "muc"
    modules_enabled = { "muc_mam" }
    muc_log_all_rooms = true
    muc_log_expires_after = "never"
`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), ip, p.c2s, p.log, storage,
		dir, certFile, keyFile, oldDomain, oldMUCDomain)
	configureProsody(t, p.cfg, cfg, filepath.Join(dir, "data"), oldDomain, importUsers...)
	hostsFile := filepath.Join(dir, "hosts")
	writeHosts(t, hostsFile, map[string]string{oldDomain: ip})
	p.peerProcess = runWithHosts(t, "prosody", hostsFile, filepath.Join(dir, "prosody.out"), nil,
		net.JoinHostPort(ip, strconv.Itoa(p.c2s)), "prosody", "-F", "--config", p.cfg)
	t.Cleanup(func() {
		if !p.exited(0) {
			p.stop()
		}
	})
	t.Logf("prosody (%s store) started on c2s %d in %v", store, p.c2s, p.startup)
	return p
}

// The same from ejabberd (Debian's 23.01) with its SQL back end on
// MariaDB (a database the test creates with ejabberd's own schema file):
// accounts with SCRAM keys, rosters, rooms and the rooms' archive
// (mod_mam, kind groupchat); parleyd runs on MariaDB too.
func TestImportEjabberd(t *testing.T) {
	requireSlixmpp(t)
	requireEjabberd(t)
	binaries(t)
	t.Parallel()
	dsn := ejabberdDatabase(t)
	cfg, err := gomysql.ParseDSN(strings.TrimPrefix(dsn, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	top := fmt.Sprintf(`default_db: sql
sql_type: mysql
sql_server: "127.0.0.1"
sql_port: 3306
sql_database: %q
sql_username: %q
sql_password: %q
auth_method: sql
auth_password_format: scram
`, cfg.DBName, cfg.User, cfg.Passwd)
	modules := fmt.Sprintf(`  mod_mam:
    default: always
  mod_muc:
    host: %q
    default_room_options:
      mam: true
      persistent: true
`, oldMUCDomain)
	e := startEjabberdWith(t, oldDomain, "127.0.0.1", map[string]string{oldDomain: "127.0.0.1"}, top, modules, importUsers...)
	state := filepath.Join(t.TempDir(), "state.json")
	populate(t, e.dir, e.c2s, state)
	e.stop()

	// 37: ejabberd archives the subject change too.
	s := newServer(t, mysqlStorage(t))
	checkImport(t, s, "ejabberd", dsn, state, 37, "--host", oldDomain)
}

// ejabberdDatabase creates a MariaDB database with ejabberd's schema
// (Debian's /usr/share/ejabberd/sql/mysql.sql) and a user of its own with
// a password (ejabberd's MySQL driver cannot log in with an empty one),
// and returns the DSN for --from.
func ejabberdDatabase(t *testing.T) string {
	t.Helper()
	dsn := mysqlStorage(t)
	cfg, err := gomysql.ParseDSN(strings.TrimPrefix(dsn, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("/usr/share/ejabberd/sql/mysql.sql")
	if err != nil {
		t.Fatalf("ejabberd's MySQL schema: %v", err)
	}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(schema)); err != nil {
		t.Fatalf("loading ejabberd's schema: %v", err)
	}
	user, password := "ej_"+randomHex(t, 5), randomHex(t, 12)
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'127.0.0.1'", cfg.DBName, user),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			_, _ = admin.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user))
			admin.Close()
		}
	})
	cfg.User, cfg.Passwd, cfg.MultiStatements = user, password, false
	return "mysql:" + cfg.FormatDSN()
}
