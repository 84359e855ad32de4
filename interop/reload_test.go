package interop

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
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
// probes it); a setting that needs a restart is named in the log.
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
