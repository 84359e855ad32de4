package xmpp

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The direct TLS port (XEP-0368) counts a connection against its
// address's unauthenticated limit from the moment it is accepted, as the
// STARTTLS port does: connections that never start TLS cannot pile up.
func TestDirectTLSUnauthPerIP(t *testing.T) {
	const limit = 5
	ts := startServer(t, func(c *Config) {
		c.MaxUnauthPerIP = limit
		c.UnauthTimeout = time.Minute
	})
	ts.addUser(t, "alice", "secret")
	var idle []net.Conn
	for range limit {
		c, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, fmt.Sprintf("%d unauthenticated connections counted", limit), func() bool {
		return ts.srv.limits.unauthCount("127.0.0.1") == limit
	})

	handshake := func() error {
		raw, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		return tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}).Handshake()
	}
	if err := handshake(); err == nil {
		t.Fatalf("connection %d got a TLS session", limit+1)
	}
	if n := testutil.ToFloat64(ts.srv.metrics.unauthRefused); n != 1 {
		t.Errorf("refused: %v, want 1", n)
	}

	// One idle connection goes: a real client gets in again.
	idle[0].Close()
	waitFor(t, "the closed connection's slot released", func() bool {
		return ts.srv.limits.unauthCount("127.0.0.1") == limit-1
	})
	if err := handshake(); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
}
