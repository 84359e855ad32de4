package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write and
// the test to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is parleyd running in-process.
type daemon struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *syncBuffer
	reload         chan os.Signal // what SIGHUP is to the process
}

func start(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cancel: cancel, done: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}, reload: make(chan os.Signal, 1)}
	go func() { d.done <- run(ctx, "parleyd", args, d.stdout, d.stderr, d.reload) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Error("parleyd did not stop")
		}
	})
	return d
}

// addr waits for the start-up line announcing what and returns its address.
func (d *daemon) addr(t *testing.T, what string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^parleyd: ` + regexp.QuoteMeta(what) + ` on (\S+)$`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(d.stdout.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-d.done:
			t.Fatalf("parleyd exited with %d\nstdout: %s\nstderr: %s", code, d.stdout, d.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("parleyd did not announce %s\nstdout: %s\nstderr: %s", what, d.stdout, d.stderr)
	return ""
}

// stop cancels the daemon's context, as SIGTERM does, and returns its exit
// code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code // for the cleanup
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("parleyd did not stop within 15s")
		return -1
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServeAndStop(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data", data,
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "127.0.0.1:0", "--https", "", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--sip-tls", "127.0.0.1:0",
		"--admin-http", "127.0.0.1:0", "--xmpp-s2s", "127.0.0.1:0")
	httpAddr := d.addr(t, "HTTP (/healthz, upload, /sip)")
	admin := d.addr(t, "admin HTTP (/metrics, /healthz, /readyz, /debug/pprof/)")
	c2s := d.addr(t, "XMPP c2s (STARTTLS)")
	direct := d.addr(t, "XMPP direct TLS (XEP-0368)")

	for _, base := range []string{httpAddr, admin} {
		if code, body := get(t, "http://"+base+"/healthz"); code != 200 || body != "ok" {
			t.Errorf("%s/healthz: %d %q, want 200 \"ok\"", base, code, body)
		}
	}
	if code, body := get(t, "http://"+admin+"/readyz"); code != 200 || body != "ready" {
		t.Errorf("/readyz: %d %q, want 200 \"ready\"", code, body)
	}
	if code, _ := get(t, "http://"+admin+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/: %d", code)
	}
	// Metrics are for operators: on the admin listener, not the public one.
	if code, _ := get(t, "http://"+httpAddr+"/metrics"); code != 404 {
		t.Errorf("/metrics on the public HTTP listener: %d, want 404", code)
	}
	// One SIP request, so that the requests counter has a series.
	sipConn, err := net.Dial("udp", d.addr(t, "SIP over UDP"))
	if err != nil {
		t.Fatal(err)
	}
	defer sipConn.Close()
	io.WriteString(sipConn, "OPTIONS sip:localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm1;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:anonymous@localhost>;tag=1\r\nTo: <sip:localhost>\r\nCall-ID: m1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	sipConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := sipConn.Read(make([]byte, 2048)); err != nil {
		t.Fatalf("SIP OPTIONS: %v", err)
	}
	code, body := get(t, "http://"+admin+"/metrics")
	if code != 200 {
		t.Errorf("/metrics: %d", code)
	}
	for _, metric := range []string{"go_goroutines", "process_open_fds", "go_build_info", "parley_xmpp_sessions",
		"parley_muc_rooms_active", "parley_muc_occupants", "parley_muc_posts_total", "parley_muc_post_commit_seconds",
		"parley_sip_registrations", "parley_sip_requests_total", "parley_sip_digest_failures_total",
		"parley_muc_deliveries_total", "parley_upload_files_total", "parley_upload_bytes_total", "parley_upload_downloads_total",
		`go_sql_open_connections{db_name="content-write"}`, `go_sql_open_connections{db_name="content-read"}`,
		`go_sql_wait_duration_seconds_total{db_name="compliance-write"}`,
		`parley_storage_schema_version{db="content"}`, `parley_storage_schema_version{db="compliance"}`,
		`parley_storage_query_seconds_bucket{db="content"`} {
		if !strings.Contains(body, metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}
	if m := regexp.MustCompile(`parley_storage_schema_version\{db="content"\} (\d+)`).FindStringSubmatch(body); m == nil || m[1] == "0" {
		t.Errorf("content schema version on /metrics: %v", m)
	}
	// The Grafana dashboard uses exactly these names.
	dashboard, err := os.ReadFile("../../dist/grafana/parley.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\b(?:parley|go_sql)_[a-z_]+`).FindAllString(string(dashboard), -1)
	if len(names) < 10 {
		t.Errorf("the dashboard names %d series", len(names))
	}
	for _, name := range names {
		series := strings.TrimSuffix(name, "_bucket")
		if !strings.Contains(body, "\n"+series) && !strings.Contains(body, "\n"+series+"{") {
			t.Errorf("dist/grafana/parley.json uses %s, which /metrics does not have", name)
		}
	}

	// The direct TLS port serves the generated certificate, valid for
	// the domain.
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", direct,
		&tls.Config{ServerName: "localhost", RootCAs: roots, NextProtos: []string{"xmpp-client"}})
	if err != nil {
		t.Errorf("direct TLS: %v", err)
	} else {
		conn.Close()
	}
	// The c2s port accepts TCP.
	if c, err := net.DialTimeout("tcp", c2s, 5*time.Second); err != nil {
		t.Errorf("c2s: %v", err)
	} else {
		c.Close()
	}
	// The federation port speaks server-to-server XMPP: STARTTLS first.
	if c, err := net.DialTimeout("tcp", d.addr(t, "XMPP server-to-server (federation)"), 5*time.Second); err != nil {
		t.Errorf("s2s: %v", err)
	} else {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='other.example' to='localhost' version='1.0'>`)
		var got []byte
		buf := make([]byte, 512)
		for !strings.Contains(string(got), "</stream:features>") {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !strings.Contains(string(got), "urn:ietf:params:xml:ns:xmpp-tls") {
			t.Errorf("s2s port answered %q, want stream features with STARTTLS", got)
		}
		c.Close()
	}

	out := d.stdout.String()
	for _, want := range []string{"self-signed, SHA-256", "Create the first user: parleyctl --data " + data + " user add alice"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up message lacks %q:\n%s", want, out)
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code after stop = %d, want 0\nstderr: %s", code, d.stderr)
	}
	if _, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
		t.Error("HTTP listener still open after stop")
	}
}

// TestBindError: a required listener (c2s) whose port is taken stops the
// start, and so does an optional one with --strict-listeners; the error
// names the flag.
func TestBindError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, args := range [][]string{
		{"--xmpp-c2s", addr, "--xmpp-tls", "127.0.0.1:0"},
		{"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", addr, "--strict-listeners"},
	} {
		flag := "--xmpp-c2s"
		if args[2] == "--xmpp-tls" && args[3] == addr {
			flag = "--xmpp-tls"
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), "parleyd",
			append([]string{"--data", t.TempDir(), "--https", "", "--http", "", "--sip", "", "--sip-tls", "", "--xmpp-s2s", ""}, args...),
			&stdout, &stderr, nil)
		if code != 1 || !strings.Contains(stderr.String(), "parleyd: "+flag+" "+addr+": ") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and an error naming %s %s", args, code, stderr.String(), flag, addr)
		}
	}
}

// TestSIPPortTaken: with UDP 5060 held by another program (a softphone,
// a PBX), parleyd started with its default --sip still serves XMPP, and
// its log says which flag moves or disables SIP.
func TestSIPPortTaken(t *testing.T) {
	// Hold UDP :5060, parleyd's default, for the whole test. Another
	// program (a parleyd of another package's test, say) may hold it for a
	// while; it could let go in the middle of this test, so wait until this
	// test holds the port itself.
	held := holdUDP(t, ":5060", time.Minute)
	defer held.Close()
	d := start(t, "--data", filepath.Join(t.TempDir(), "data"),
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "", "--http", "", "--sip-tls", "", "--xmpp-s2s", "")
	c2s := d.addr(t, "XMPP c2s (STARTTLS)")

	// The c2s port answers a stream header with its own and STARTTLS.
	conn, err := net.DialTimeout("tcp", c2s, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("</stream:features>")) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("c2s stream: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Contains(got, []byte("urn:ietf:params:xml:ns:xmpp-tls")) {
		t.Errorf("c2s stream features without STARTTLS: %q", got)
	}

	out := d.stdout.String()
	for _, want := range []string{"parleyd: SIP over UDP NOT started: :5060 is in use", "Create the first user:"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up message lacks %q:\n%s", want, out)
		}
	}
	if log := d.stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "SIP over UDP not started: :5060 is in use") ||
		!strings.Contains(log, "disable it with --sip ''") || !strings.Contains(log, "--strict-listeners") {
		t.Errorf("log lacks a warning naming --sip and --strict-listeners:\n%s", log)
	}
}

// holdUDP binds addr, retrying while another program holds it, for at most
// wait.
func holdUDP(t *testing.T, addr string, wait time.Duration) net.PacketConn {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.ListenPacket("udp", addr)
		if err == nil {
			return conn
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("holding UDP %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--unauth-timeout", "abc"}, 1, `parleyd: config: --unauth-timeout: invalid duration "abc"`},
		{[]string{"--help"}, 0, "--xmpp-c2s ADDR"},
		{[]string{"--log-format", "xml"}, 1, `parleyd: config: --log-format: invalid log format "xml": want text or json`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), "parleyd", tt.args, &stdout, &stderr, nil)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

// TestVersionAndJSONLog: --version prints the version and starts nothing;
// --log-format json writes one JSON object per log line.
func TestVersionAndJSONLog(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), "parleyd", []string{"--version"}, &stdout, &stderr, nil); code != 0 ||
		!strings.HasPrefix(stdout.String(), "parleyd 0.1.0-dev (") || stderr.Len() != 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}

	d := start(t, "--data", filepath.Join(t.TempDir(), "data"), "--log-format", "json",
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "", "--http", "", "--sip", "", "--sip-tls", "")
	d.addr(t, "XMPP c2s (STARTTLS)")
	d.waitLog(t, `"msg":"started"`, 1)
	for _, line := range strings.Split(strings.TrimSpace(d.stderr.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["level"] == nil || entry["msg"] == nil {
			t.Errorf("log line is not a JSON log entry (%v): %s", err, line)
		}
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	cfg := &config.Config{Data: t.TempDir(), Domain: "chat.example"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	leaf := first.cert.Leaf
	for _, name := range []string{"chat.example", "conference.chat.example", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("certificate not valid for %s: %v", name, err)
		}
	}
	info, err := os.Stat(filepath.Join(cfg.Data, "tls", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode %v, want 0600", info.Mode().Perm())
	}

	second, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.cert.Certificate[0], second.cert.Certificate[0]) {
		t.Error("certificate regenerated although the existing one was good")
	}

	cfg.Domain = "other.example"
	third, err := loadCertificate(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := third.cert.Leaf.VerifyHostname("other.example"); err != nil {
		t.Errorf("certificate not regenerated for the new domain: %v", err)
	}

	// Given files are used as they are.
	cfg.TLSCert, cfg.TLSKey = filepath.Join(cfg.Data, "tls", "cert.pem"), filepath.Join(cfg.Data, "tls", "key.pem")
	given, err := loadCertificate(cfg, log)
	if err != nil || given.selfSigned {
		t.Errorf("--tls-cert: %v, selfSigned %v", err, given.selfSigned)
	}
	cfg.TLSCert = filepath.Join(cfg.Data, "missing.pem")
	if _, err := loadCertificate(cfg, log); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("missing --tls-cert: err = %v, want one naming --tls-cert", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:data/parley.db":                       "sqlite:data/parley.db",
		"mysql:root@tcp(127.0.0.1:3306)/parley":       "mysql:root@tcp(127.0.0.1:3306)/parley",
		"mysql:parley:s3cr@t@tcp(db:3306)/parley?x=y": "mysql:parley:xxxxx@tcp(db:3306)/parley?x=y",
		"mysql:u:p/w@tcp(db)/parley":                  "mysql:u:xxxxx@tcp(db)/parley",
		"mysql:u:pw@tcp(db1:3306,db2:3306)/parley":    "mysql:u:xxxxx@tcp(db1:3306,db2:3306)/parley",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"./bin/parleyctl":                       "./bin/parleyctl",
		"mysql:root@tcp(127.0.0.1:3306)/parley": "'mysql:root@tcp(127.0.0.1:3306)/parley'",
		"it's":                                  `'it'\''s'`,
		"":                                      "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
