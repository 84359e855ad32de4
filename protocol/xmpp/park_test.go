package xmpp

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// connOf is the server's connection of a client's session.
func (ts *testServer) connOf(t testing.TB, c *testClient) *conn {
	t.Helper()
	s := ts.sessionOf(c)
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	for sc := range ts.srv.conns {
		sc.writeMu.Lock()
		mine := sc.sess == s
		sc.writeMu.Unlock()
		if mine {
			return sc
		}
	}
	t.Fatalf("no connection for %s", c.jid)
	return nil
}

// tlsInputCap is the capacity of the TLS connection's record buffer.
func tlsInputCap(tc *tls.Conn) int {
	return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), tlsBuffers.rawInput)).Cap()
}

// Idle sessions park (park.go) and wake for whatever their client sends:
// stanzas one by one, many in one write, one split over several writes,
// and stanzas larger than a TLS record; what they are sent reaches them
// while parked; and a parked session gives back its TLS record buffer.
func TestIdleSessionParks(t *testing.T) {
	ts := startServer(t, noRates)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.online(t, "bob", "secret", "b")
	parked := func(n float64) func() bool {
		return func() bool { return testutil.ToFloat64(ts.srv.metrics.parked) == n }
	}
	waitFor(t, "both sessions parked", parked(2))

	// Sent to a parked session: written by its writer, the reader stays
	// parked.
	alice.send(`<message to='bob@localhost/b' type='chat' id='one'><body>hi</body></message>`)
	if el := bob.expect("alice's message", func(e *Element) bool { return e.AttrValue("id") == "one" }); el == nil {
		t.Fatal("no message")
	}

	// Many stanzas in one write: each is read, none waits for more input.
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `<message to='bob@localhost/b' type='chat' id='m%d'><body>%d</body></message>`, i, i)
	}
	alice.send("%s", b.String())
	for i := range 50 {
		want := fmt.Sprintf("m%d", i)
		if el := bob.next(); el.AttrValue("id") != want {
			t.Fatalf("got %s, want id %s", el, want)
		}
	}

	// A stanza split over writes (the reader waits for the rest in
	// the decoder).
	waitFor(t, "alice parked", parked(2))
	alice.send(`<message to='bob@localhost/b' type='chat' id='split'><bo`)
	waitFor(t, "alice reading", parked(1))
	alice.send(`dy>two halves</body></message>`)
	if el := bob.next(); el.AttrValue("id") != "split" {
		t.Fatalf("got %s, want the split message", el)
	}

	// A stanza of several TLS records grows the server's record buffer;
	// once parked again the buffer is given back.
	big := strings.Repeat("x", 40<<10)
	alice.send(`<message to='bob@localhost/b' type='chat' id='big'><body>%s</body></message>`, big)
	if el := bob.next(); el.AttrValue("id") != "big" || el.Child(nsClient, "body").Text() != big {
		t.Fatalf("got %.200s, want the big message", el)
	}
	alice.roundTrip()
	waitFor(t, "both sessions parked", parked(2))
	if !tlsBuffers.ok {
		t.Fatalf("crypto/tls of %s has no rawInput/hand/input buffers to release: update tlsidle.go", runtime.Version())
	}
	if n := tlsInputCap(ts.connOf(t, alice).rw.(*tls.Conn)); n != 0 {
		t.Errorf("parked session's TLS record buffer holds %d bytes, want 0", n)
	}
	// (For the race detector: the reader, waking, updates the gauge
	// before it touches the buffer again; this orders the read above
	// before that.)
	ts.srv.metrics.parked.Add(0)
	bob.send(`<message to='alice@localhost/a' type='chat' id='back'><body>%s</body></message>`, big)
	if el := alice.next(); el.AttrValue("id") != "back" {
		t.Fatalf("got %.200s, want bob's big message", el)
	}
	alice.roundTrip()
}

// releaseTLSBuffers empties a TLS connection's input buffers between
// reads, and the connection goes on working both ways.
func TestReleaseTLSBuffers(t *testing.T) {
	if !tlsBuffers.ok {
		t.Fatalf("crypto/tls of %s has no rawInput/hand/input buffers to release: update tlsidle.go", runtime.Version())
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t)}})
	cli := tls.Client(b, &tls.Config{InsecureSkipVerify: true})
	big := bytes.Repeat([]byte("y"), 12<<10)
	go func() {
		_, _ = cli.Write(big)
		_, _ = cli.Write([]byte("after"))
		buf := make([]byte, 5)
		_, _ = io.ReadFull(cli, buf)
		_, _ = cli.Write(buf)
	}()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(srv, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("first read: %v", err)
	}
	if n := tlsInputCap(srv); n < 1<<10 {
		t.Fatalf("record buffer %d bytes after %d bytes of records", n, len(big))
	}
	releaseTLSBuffers(srv)
	if n := tlsInputCap(srv); n != 0 {
		t.Fatalf("record buffer %d bytes after release", n)
	}
	got = make([]byte, 5)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "after" {
		t.Fatalf("read after release: %q, %v", got, err)
	}
	if _, err := srv.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "again" {
		t.Fatalf("echo after release: %q, %v", got, err)
	}
}

// A parked session drops its decoder and a new one reads the client's
// stream header again (streamReplay): a prefix the header declared, and
// the header's own prefix for the stream element, are still in force
// after the session woke.
func TestParkedStreamKeepsItsHeader(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	bob := ts.online(t, "bob", "secret", "b")
	c := ts.loginWithHeader(t, "alice", "secret", "a", `<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' xmlns:e='urn:example' to='localhost' version='1.0'>`)
	conn := ts.connOf(t, c)
	waitFor(t, "both sessions parked", func() bool { return testutil.ToFloat64(ts.srv.metrics.parked) == 2 })
	// Parked, the connection has dropped its decoder for this header
	// (written before it parked: read after the gauge said so).
	if header, want := string(conn.streamHeader), `<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' xmlns:e='urn:example'>`; header != want {
		t.Fatalf("header to replay %s, want %s", header, want)
	}
	c.send(`<message to='bob@localhost/b' type='chat'><body>hi</body><e:note e:level='2'>n</e:note></message>`)
	got := bob.expect("message", isMessageWithBody("hi"))
	if n := got.Child("urn:example", "note"); n == nil || n.Text() != "n" {
		t.Fatalf("bob got %s", got)
	}
	// The stream ends with the header's prefix, cleanly.
	waitFor(t, "alice parked", func() bool { return testutil.ToFloat64(ts.srv.metrics.parked) == 2 })
	c.send(`</s:stream>`)
	for {
		el, err := c.nextOrErr(5 * time.Second)
		if err == io.EOF {
			break // the server's </stream:stream>
		}
		if err != nil {
			t.Fatalf("after </s:stream>: %v", err)
		}
		if el.Name.Space == nsStreams && el.Name.Local == "error" {
			t.Fatalf("closing with </s:stream>: %s", el)
		}
	}
}
