package xmpp

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// RFC 6120 §5.4.3.3: once the server has sent <proceed/>, the client
// reads TLS only. If the negotiation fails or does not happen, the
// server closes the TCP connection: no stream error and no
// </stream:stream> in plaintext, which a client already in its handshake
// would read as a TLS record, and a client about to start it as data
// after <proceed/>.

const proceedElement = `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`

// sentAfterProceed sends starttls on c's open stream (with extra after
// it, in the same write), reads <proceed/>, runs then while the client
// stays in plaintext and returns what the server sent after <proceed/>
// until it closed the connection.
func sentAfterProceed(t *testing.T, c *testClient, extra string, then func()) string {
	t.Helper()
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>%s`, extra)
	if el := c.next(); el.Name.Local != "proceed" {
		t.Fatalf("expected proceed, got %s", el)
	}
	then()
	// c.received has all the decoder read, and more than it parsed.
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(c.received, c.conn); err != nil {
		t.Fatalf("waiting for the server to close the connection: %v", err)
	}
	_, after, ok := strings.Cut(c.received.String(), proceedElement)
	if !ok {
		t.Fatalf("no %s in what the server sent:\n%s", proceedElement, c.received)
	}
	return after
}

func TestNothingAfterProceed(t *testing.T) {
	// The connection's UnauthTimeout, counted from connect, runs out in
	// the handshake: a stream whose client was slow to ask for STARTTLS.
	t.Run("handshake times out", func(t *testing.T) {
		ts := startServer(t, func(c *Config) { c.UnauthTimeout = 2 * time.Second })
		c := dialRaw(t, ts.addr)
		c.openStream()
		// The handshake's own limit, counted from <proceed/>, is then
		// longer: the connection's is the one that runs out.
		if err := ts.srv.SetLiveLimits(LiveLimits{UnauthTimeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if got := sentAfterProceed(t, c, "", func() {}); got != "" {
			t.Errorf("the server sent %q after <proceed/>", got)
		}
	})
	t.Run("data before the handshake", func(t *testing.T) {
		ts := startServer(t)
		c := dialRaw(t, ts.addr)
		c.openStream()
		if got := sentAfterProceed(t, c, "<presence/>", func() {}); got != "" {
			t.Errorf("the server sent %q after <proceed/>", got)
		}
	})
	// The reader is in the handshake when another goroutine ends every
	// stream (Shutdown, MoveSessions).
	t.Run("streams ended during the handshake", func(t *testing.T) {
		ts := startServer(t)
		c := dialRaw(t, ts.addr)
		c.openStream()
		got := sentAfterProceed(t, c, "", func() {
			if n := ts.srv.MoveSessions(context.Background(), "", false); n != 1 {
				t.Errorf("MoveSessions ended %d streams, want 1", n)
			}
		})
		if got != "" {
			t.Errorf("the server sent %q after <proceed/>", got)
		}
	})
}

// A direct TLS client (XEP-0368) reads TLS from the first byte: a stream
// ended before its handshake is closed with nothing in plaintext either.
func TestNothingBeforeDirectTLS(t *testing.T) {
	ts := startServer(t)
	c := dialRaw(t, ts.tlsAddr)
	// Wait for the server to have accepted the connection.
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.MoveSessions(context.Background(), "", false) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server did not accept the connection")
		}
		time.Sleep(time.Millisecond)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c.conn)
	if err != nil {
		t.Fatalf("waiting for the server to close the connection: %v", err)
	}
	if len(got) > 0 {
		t.Errorf("the server sent %q before the TLS handshake", got)
	}
}
