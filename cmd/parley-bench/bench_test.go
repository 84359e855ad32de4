package main

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchAgainstParleyd runs a tiny version of every command against a
// real parleyd (built into a temporary directory, on SQLite, on a free
// loopback port) and checks behaviour only: every session is established
// and answers, no message is lost. Timings are not asserted.
func TestBenchAgainstParleyd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "parley.db")

	// users: 20 accounts, then again to see them skipped.
	uo := usersOptions{Storage: dsn, Prefix: "bench", Password: "pw", Count: 20, Workers: 4}
	ur, err := runUsers(ctx, log, uo)
	if err != nil {
		t.Fatalf("users: %v", err)
	}
	if ur.Created != 20 || ur.Failed != 0 {
		t.Fatalf("users: created %d, failed %d (%v); want 20 created", ur.Created, ur.Failed, ur.Failures)
	}
	if ur, err = runUsers(ctx, log, uo); err != nil || ur.Existing != 20 || ur.Created != 0 {
		t.Fatalf("users again: %v, created %d, existing %d; want the 20 skipped", err, ur.Created, ur.Existing)
	}

	pid, addr := startParleyd(t, data)
	login := loginOptions{
		Addr:         addr,
		Domain:       "localhost",
		Prefix:       "bench",
		Password:     "pw",
		MaxInFlight:  8, // below parleyd's --max-unauth-per-ip (20)
		Timeout:      20 * time.Second,
		WriteTimeout: 10 * time.Second,
	}

	sr, err := runSessions(ctx, log, sessionsOptions{loginOptions: login, Count: 20, VerifyTimeout: 10 * time.Second, PID: pid})
	if err != nil {
		t.Fatalf("sessions: %v", err)
	}
	t.Logf("\n%s", sr.Text())
	if sr.Login.Established != 20 || len(sr.Login.Failures) != 0 {
		t.Errorf("sessions: %d established, failures %v; want 20, none", sr.Login.Established, sr.Login.Failures)
	}
	if sr.Alive != 20 || len(sr.Dropped) != 0 {
		t.Errorf("sessions: %d answered the final ping, dropped %v; want 20, none", sr.Alive, sr.Dropped)
	}
	if sr.Server == nil || sr.Server.RSSAfterKB <= 0 {
		t.Errorf("sessions: no server memory reported for pid %d: %+v", pid, sr.Server)
	}

	login.Rate = 100
	cr, err := runChat(ctx, log, chatOptions{loginOptions: login, Pairs: 5, Duration: 2 * time.Second, Rate: 50, Grace: 10 * time.Second})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	t.Logf("\n%s", cr.Text())
	if cr.PairsActive != 5 || cr.Sent == 0 || cr.SendErrors != 0 {
		t.Errorf("chat: %d pairs active, %d sent, %d send errors; want 5 pairs sending without errors", cr.PairsActive, cr.Sent, cr.SendErrors)
	}
	if cr.Lost != 0 || cr.Received != cr.Sent || cr.Duplicates != 0 || cr.Misrouted != 0 || len(cr.Bounced) != 0 {
		t.Errorf("chat: sent %d, received %d, lost %d, duplicates %d, misrouted %d, bounced %v; want every message once",
			cr.Sent, cr.Received, cr.Lost, cr.Duplicates, cr.Misrouted, cr.Bounced)
	}
	if cr.Latency.Count != cr.Received {
		t.Errorf("chat: %d latencies for %d messages received", cr.Latency.Count, cr.Received)
	}
}

// startParleyd builds parleyd, starts it on a free loopback port with its
// data in dir, and returns its pid and c2s address. It is stopped with
// SIGTERM when the test ends.
func startParleyd(t *testing.T, dir string, extra ...string) (pid int, addr string) {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/parleyd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build parleyd: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(bin, "parleyd"),
		append([]string{"--data", dir, "--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "", "--http", "", "--admin-http", "", "--sip", "", "--sip-tls", "", "--xmpp-s2s", "", "--log-level", "warn"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting parleyd: %v", err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 1)
	go func() {
		c2s := regexp.MustCompile(`^parleyd: XMPP c2s \(STARTTLS\) on (\S+)$`)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := c2s.FindStringSubmatch(lines.Text()); m != nil {
				addrs <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case addr = <-addrs:
	case err := <-exited:
		t.Fatalf("parleyd exited at start-up: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("parleyd did not announce its c2s listener within 30s\n%s", stderr.String())
	}
	return cmd.Process.Pid, addr
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := Summary{Count: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (Summary{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

// The context used by the commands must end the run promptly: a chat
// interrupted while logging in reports an error instead of hanging.
func TestChatInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, err := runChat(ctx, log, chatOptions{
		loginOptions: loginOptions{Addr: "127.0.0.1:1", Domain: "localhost", Prefix: "x", MaxInFlight: 1, Timeout: time.Second},
		Pairs:        1, Duration: time.Second, Rate: 1,
	})
	if err == nil {
		t.Fatal("chat with a cancelled context: no error")
	}
}
