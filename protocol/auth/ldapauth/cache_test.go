package ldapauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// clock is a settable clock for the caches' TTLs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func directoryConfig(srv *slapdtest.Server) ldapauth.Config {
	return ldapauth.Config{
		URLs: []string{srv.URL}, CAFile: srv.CAFile,
		BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
		UserBase: slapdtest.Users, UserFilter: "(uid=%u)", Timeout: 3 * time.Second,
		GroupBase: slapdtest.Groups, Domain: "example.org",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// openDirectory opens a directory with its metrics in a registry of its
// own; the test's cleanup closes it.
func openDirectory(t *testing.T, cfg ldapauth.Config) (*ldapauth.Directory, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	d, err := ldapauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, reg
}

// With the directory down, a user who logged in within --ldap-cache-ttl
// still logs in, a wrong password is refused, and a user never seen is
// refused as unavailable without waiting; once the TTL is over the cached
// user is refused too. The cache holds no password (a salted PBKDF2
// verifier): the metrics count what it answered.
func TestCacheWhileDirectoryDown(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"}, slapdtest.User{UID: "bob", Password: "bob-pw"})
	clk := &clock{now: time.Now()}
	cfg := directoryConfig(srv)
	cfg.CacheTTL, cfg.Now = 10*time.Minute, clk.Now
	d, reg := openDirectory(t, cfg)
	ctx := context.Background()
	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Fatalf("alice while the directory is up: %v", err)
	}
	// A wrong password while up is the directory's answer, and does
	// not spoil alice's entry.
	if err := d.Verify(ctx, "alice", "nope"); !errors.Is(err, auth.ErrNotAuthorized) {
		t.Fatalf("wrong password while up: %v", err)
	}
	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("cached alice while the directory is down: %v", err)
	}
	if err := d.Verify(ctx, "alice", "bob-pw"); !errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("cached alice with a wrong password while down: %v, want ErrNotAuthorized", err)
	}
	start := time.Now()
	err := d.Verify(ctx, "bob", "bob-pw")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("never-seen bob while down: %v, want ErrUnavailable", err)
	}
	t.Logf("never-seen user refused in %v: %v", time.Since(start), err)

	clk.add(10 * time.Minute)
	if err := d.Verify(ctx, "alice", "alice-pw"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("alice after the TTL while down: %v, want ErrUnavailable", err)
	}
	for result, want := range map[string]float64{"hit": 1, "wrong_password": 1, "unseen": 2} {
		if got := counter(t, reg, "parley_ldap_cache_logins_total", "result", result); got != want {
			t.Errorf("parley_ldap_cache_logins_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// counter is the value of the series of counter name with the given
// label pairs in reg (0 if there is none).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Logins share pooled connections: twenty logins (good and bad, one after
// the other) open one connection to the directory, and each finds the
// service account bound again after the user's bind.
func TestPool(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"}, slapdtest.User{UID: "bob", Password: "bob-pw"})
	d, reg := openDirectory(t, directoryConfig(srv))
	for i := range 20 {
		user, pw := "alice", "alice-pw"
		if i%2 == 1 {
			user, pw = "bob", "wrong"
		}
		err := d.Verify(context.Background(), user, pw)
		if (i%2 == 0) != (err == nil) {
			t.Fatalf("login %d (%s): %v", i, user, err)
		}
	}
	if got := counter(t, reg, "parley_ldap_operations_total", "op", "connect", "result", "ok"); got != 1 {
		t.Errorf("connections opened for 20 logins: %v, want 1", got)
	}
	if got := counter(t, reg, "parley_ldap_operations_total", "op", "bind", "result", "refused"); got != 10 {
		t.Errorf("refused binds: %v, want 10", got)
	}
}

// A directory that hangs (slapd gone, something on its port that accepts
// connections and never answers): the first login after it waits for
// --ldap-timeout; then, for RetryAfter, logins do not try the directory at
// all: a cached user is let in and a user never seen refused without
// another connection attempt.
func TestHungDirectoryAnswersFromCache(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"}, slapdtest.User{UID: "bob", Password: "bob-pw"})
	cfg := directoryConfig(srv)
	cfg.CacheTTL, cfg.Timeout = time.Hour, 500*time.Millisecond
	d, reg := openDirectory(t, cfg)
	ctx := context.Background()
	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Skipf("cannot listen on slapd's address after it stopped: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("cached alice, directory hung: %v", err)
	}
	// The attempt fails connecting, or binding on a connection the pool
	// kept from before slapd stopped.
	failed := func() float64 {
		return counter(t, reg, "parley_ldap_operations_total", "op", "connect", "result", "error") +
			counter(t, reg, "parley_ldap_operations_total", "op", "bind", "result", "error")
	}
	// A cached user may be answered before the attempt to reach the
	// directory has failed (it times out after cfg.Timeout): wait for it.
	for deadline := time.Now().Add(10 * time.Second); failed() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	tried := failed()
	if tried == 0 {
		t.Fatal("no failed connection attempt to the hung directory")
	}
	start := time.Now()
	if err := d.Verify(ctx, "bob", "bob-pw"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("never-seen bob, directory hung: %v, want ErrUnavailable", err)
	}
	t.Logf("never-seen user refused in %v while the directory is marked down", time.Since(start))
	if err := d.Verify(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("cached alice again: %v", err)
	}
	if got := failed(); got != tried {
		t.Errorf("connection attempts while the directory is marked down: %v, want none after the first %v", got-tried, tried)
	}
}
