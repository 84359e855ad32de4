package interop

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
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
)

// TestSIGHUPKeepsSessions (issue 15 item 1): 20 slixmpp sessions chat in a
// room while parleyd, a real process, gets two SIGHUPs. Before each, the
// test changes the configuration file and removes the self-signed
// certificate, which parleyd then generates anew. After each: no session
// was dropped and every post still reaches every session; new TLS
// handshakes (XMPP direct TLS, SIP over TLS) get the new certificate; the
// stanza size limit in the file applies to a new session (the script
// probes it); a setting that needs a restart is named in the log. Beside
// them, parley-bench keeps 500 more sessions posting in 20 rooms of 25
// (50 posts/s) through both reloads: every one stays joined, and every post
// reaches every occupant once.
func TestSIGHUPKeepsSessions(t *testing.T) {
	requireSlixmpp(t)
	t.Parallel()
	s := newServer(t, "")
	file := filepath.Join(s.dir, "parley.toml")
	writeConfig := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("max-stanza-size = \"256KiB\"\n")
	sipTLS := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	s.args = []string{"--config", file, "--sip-tls", sipTLS}
	s.start()
	var users []account
	for i := 1; i <= 10; i++ {
		u := account{fmt.Sprintf("u%02d", i), fmt.Sprintf("pw-%02d-reload", i)}
		s.addUser(u.name, u.password)
		users = append(users, u)
	}
	s.mustCtl("room", "create", "lobby", "--privacy", "open")
	load := startRoomLoad(t, s, 20, 25, 50, 20*time.Second)

	state := filepath.Join(s.dir, "reload.state")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("reload_chat.py", users, "--state", state, "--room", "lobby", "--sessions", "2")
	}()
	ok := false
	defer func() {
		if !ok {
			os.WriteFile(state+".stop", nil, 0o644)
			<-done
		}
	}()
	rounds := func() int {
		b, _ := os.ReadFile(state)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	waitRounds := func(n int, what string) {
		t.Helper()
		deadline := time.After(40 * time.Second)
		for rounds() < n {
			select {
			case <-done:
				t.Fatalf("the script ended while waiting for %s", what)
			case <-deadline:
				t.Fatalf("no %s within 40s (%d rounds)", what, rounds())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitRounds(2, "two rounds of chat")
	certs := []struct {
		what string
		addr string
	}{{"XMPP direct TLS", fmt.Sprintf("127.0.0.1:%d", s.tls)}, {"SIP over TLS", sipTLS}}
	served := func() [][]byte {
		t.Helper()
		var out [][]byte
		for _, c := range certs {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
			out = append(out, conn.ConnectionState().PeerCertificates[0].Raw)
			conn.Close()
		}
		return out
	}
	before := served()

	for k, config := range []string{
		"max-stanza-size = \"8KiB\"\ncompliance-interval = \"10m\"\n",
		"max-stanza-size = \"256KiB\"\ncompliance-interval = \"10m\"\n",
	} {
		k++
		writeConfig(config)
		// A certificate to renew: parleyd generates a new self-signed
		// one when its files are gone.
		for _, f := range []string{"cert.pem", "key.pem"} {
			if err := os.Remove(filepath.Join(s.data, "tls", f)); err != nil {
				t.Fatal(err)
			}
		}
		r := rounds()
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("msg=reloaded", k)
		renewed := certDER(t, filepath.Join(s.data, "tls", "cert.pem"))
		for i, got := range served() {
			if bytes.Equal(got, before[i]) || !bytes.Equal(got, renewed) {
				t.Errorf("reload %d: %s does not serve the renewed certificate", k, certs[i].what)
			}
		}
		before = served()
		if err := os.WriteFile(fmt.Sprintf("%s.reloaded-%d", state, k), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(30 * time.Second)
		for !fileExists(fmt.Sprintf("%s.probed-%d", state, k)) {
			select {
			case <-done:
				t.Fatalf("the script ended before probing the limit after reload %d", k)
			case <-deadline:
				t.Fatalf("the script did not probe the limit within 30s of reload %d", k)
			case <-time.After(20 * time.Millisecond):
			}
		}
		waitRounds(r+2, fmt.Sprintf("two more rounds after reload %d", k))
		t.Logf("reload %d: %d rounds so far, every session still in the room", k, rounds())
	}
	stderr, _ := os.ReadFile(s.stderr)
	if n := bytes.Count(stderr, []byte(`msg="restart needed`)); n != 2 || !bytes.Contains(stderr, []byte("keys=[compliance-interval]")) {
		t.Errorf("want a restart-needed warning naming compliance-interval after each reload, got %d:\n%s", n, s.tail(s.stderr, 20))
	}
	if err := os.WriteFile(state+".stop", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-done
	ok = true
	load.check()
}

// roomLoad is a parley-bench rooms run against a server.
type roomLoad struct {
	t      *testing.T
	out    bytes.Buffer
	stderr string
	done   chan error
	users  int
}

// startRoomLoad creates rooms×size bench users and runs parley-bench rooms
// (rooms of size, rate posts/s for duration) against s in the background;
// it returns once the bench is posting.
func startRoomLoad(t *testing.T, s *server, rooms, size, rate int, duration time.Duration) *roomLoad {
	t.Helper()
	bench := filepath.Join(binaries(t), "parley-bench")
	storage := s.storage
	if storage == "" {
		storage = "sqlite:" + filepath.Join(s.data, "parley.db")
	}
	l := &roomLoad{t: t, stderr: filepath.Join(s.dir, "bench.stderr"), done: make(chan error, 1), users: rooms * size}
	if out, err := exec.Command(bench, "users", "--storage", storage, "--count", strconv.Itoa(l.users)).CombinedOutput(); err != nil {
		t.Fatalf("parley-bench users: %v\n%s", err, out)
	}
	errFile, err := os.Create(l.stderr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bench, "rooms", "--addr", fmt.Sprintf("127.0.0.1:%d", s.c2s), "--domain", s.domain,
		"--storage", storage, "--rooms", strconv.Itoa(rooms), "--size", strconv.Itoa(size),
		"--rate", strconv.Itoa(rate), "--duration", duration.String(), "--json")
	cmd.Stdout, cmd.Stderr = &l.out, errFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- cmd.Wait(); errFile.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	deadline := time.After(90 * time.Second)
	for {
		b, _ := os.ReadFile(l.stderr)
		if bytes.Contains(b, []byte("msg=posting")) {
			return l
		}
		select {
		case err := <-l.done:
			t.Fatalf("parley-bench rooms ended before posting (%v):\n%s", err, b)
		case <-deadline:
			t.Fatalf("parley-bench rooms not posting within 90s:\n%s", b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// check waits for the bench to end and fails the test unless every session
// stayed joined and every post reached every occupant exactly once.
func (l *roomLoad) check() {
	t := l.t
	t.Helper()
	err := <-l.done
	stderr, _ := os.ReadFile(l.stderr)
	if err != nil {
		t.Fatalf("parley-bench rooms: %v\n%s", err, stderr)
	}
	var r struct {
		Joined             int            `json:"joined"`
		Posts              int            `json:"posts"`
		SendErrors         int            `json:"send_errors"`
		DeliveriesExpected int            `json:"deliveries_expected"`
		DeliveriesReceived int            `json:"deliveries_received"`
		Lost               int            `json:"lost"`
		Duplicates         int            `json:"duplicates"`
		Dropped            map[string]int `json:"dropped"`
	}
	if err := json.Unmarshal(l.out.Bytes(), &r); err != nil {
		t.Fatalf("parley-bench rooms' report: %v\n%s", err, l.out.Bytes())
	}
	t.Logf("parley-bench: %d sessions joined, %d posts, %d of %d deliveries, %d lost, %d duplicates, dropped %v",
		r.Joined, r.Posts, r.DeliveriesReceived, r.DeliveriesExpected, r.Lost, r.Duplicates, r.Dropped)
	if r.Joined != l.users || r.Posts == 0 || r.SendErrors != 0 || r.Lost != 0 || r.Duplicates != 0 || len(r.Dropped) != 0 ||
		r.DeliveriesReceived != r.DeliveriesExpected {
		t.Errorf("the bench's sessions did not all come through:\n%s\n%s", l.out.Bytes(), stderr)
	}
}

// waitLog waits until parleyd's log holds want n times.
func (s *server) waitLog(want string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(s.stderr)
		if bytes.Count(b, []byte(want)) >= n {
			return
		}
		if !s.running() {
			s.t.Fatalf("parleyd exited (%v) while waiting for %q in its log:\n%s", s.cmd.ProcessState, want, s.tail(s.stderr, 30))
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %d× %q in parleyd's log within 15s:\n%s", n, want, s.tail(s.stderr, 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// certDER reads the first certificate of a PEM file.
func certDER(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	return block.Bytes
}
