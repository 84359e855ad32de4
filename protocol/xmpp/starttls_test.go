package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// RFC 6120 §5.4.2.3, §5.4.3.2: once the server has sent <proceed/>, the
// client reads TLS only. If the negotiation fails or does not happen, the
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
	readToClose(t, c)
	_, after, ok := strings.Cut(c.received.String(), proceedElement)
	if !ok {
		t.Fatalf("no %s in what the server sent:\n%s", proceedElement, c.received)
	}
	return after
}

// readToClose adds to c.received (which has all the decoder read, more
// than it parsed) what the server sends until it closes the connection.
func readToClose(t *testing.T, c *testClient) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(c.received, c.conn); err != nil {
		t.Fatalf("waiting for the server to close the connection: %v", err)
	}
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
	// Ends the stream as soon as the server has accepted the connection.
	waitFor(t, "a stream to end", func() bool { return ts.srv.MoveSessions(context.Background(), "", false) == 1 })
	readToClose(t, c)
	if got := c.received.String(); got != "" {
		t.Errorf("the server sent %q before the TLS handshake", got)
	}
}

// The same on a server-to-server link (RFC 6120 §13.8: STARTTLS as on a
// client stream), where the server is the receiving entity.
func TestS2SNothingAfterProceed(t *testing.T) {
	open := func(t *testing.T, addr string) *testClient {
		p := dialRaw(t, addr)
		p.s2s = true
		p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.test' to='a.test' version='1.0'>`)
		p.readStreamHeader()
		if f := p.next(); f.Child(nsTLS, "starttls") == nil {
			t.Fatalf("s2s features before TLS: %s", f)
		}
		return p
	}
	t.Run("handshake times out", func(t *testing.T) {
		a := startFederation(t, map[string]fedOptions{"a.test": {server: func(c *Config) { c.UnauthTimeout = 2 * time.Second }}})["a.test"]
		p := open(t, a.s2sAddr)
		if err := a.srv.SetLiveLimits(LiveLimits{UnauthTimeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if got := sentAfterProceed(t, p, "", func() {}); got != "" {
			t.Errorf("the server sent %q after <proceed/>", got)
		}
	})
	t.Run("shutdown during the handshake", func(t *testing.T) {
		a := startFederation(t, map[string]fedOptions{"a.test": {}})["a.test"]
		got := sentAfterProceed(t, open(t, a.s2sAddr), "", func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
		if got != "" {
			t.Errorf("the server sent %q after <proceed/>", got)
		}
	})
}

// A direct TLS link (XEP-0368) ended before its handshake is closed with
// nothing in plaintext.
func TestS2SNothingBeforeDirectTLS(t *testing.T) {
	a := startFederation(t, map[string]fedOptions{"a.test": {}})["a.test"]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go a.srv.ServeS2STLS(ln)
	p := dialRaw(t, ln.Addr().String())
	waitFor(t, "the link to be accepted", func() bool { return len(a.srv.S2SLinks()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	readToClose(t, p)
	if got := p.received.String(); got != "" {
		t.Errorf("the server sent %q before the TLS handshake", got)
	}
}

// As the initiating entity, the server too sends nothing in plaintext
// once it has read <proceed/> (RFC 6120 §5.4.2.3): when the peer answers
// its ClientHello with something that is not TLS, it closes the
// connection without </stream:stream>.
func TestS2SOutboundNothingAfterProceed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a := startFederation(t, map[string]fedOptions{"a.test": {configure: func(c *S2SConfig) {
		c.Routes["peer.test"] = ln.Addr().String()
	}}})["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	alice.send(`<message to='bob@peer.test' type='chat'><body>hi</body></message>`)

	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &testClient{t: t, conn: conn, s2s: true, received: new(bytes.Buffer)}
	p.dec = xml.NewDecoder(p.reader(conn))
	p.readStreamHeader()
	p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.test' to='a.test' id='s1' version='1.0'>` +
		`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
	if el := p.next(); el.Name.Local != "starttls" {
		t.Fatalf("expected starttls, got %s", el)
	}
	// The server waits for <proceed/>: what it sends from here on
	// is read after this point.
	sent := p.received.Len()
	p.send(proceedElement + `this is not TLS`)
	readToClose(t, p)
	if rest := notTLS(p.received.Bytes()[sent:]); len(rest) > 0 {
		t.Errorf("after <proceed/> the server sent %q, which is not TLS", rest)
	}
}

// notTLS is what is left of b after the TLS records it starts with
// (RFC 8446 §5.1: a type, a version and a two-byte length).
func notTLS(b []byte) []byte {
	for len(b) >= 5 && b[0] >= 20 && b[0] <= 23 {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if len(b) < n {
			break
		}
		b = b[n:]
	}
	return b
}
