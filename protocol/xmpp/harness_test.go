package xmpp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/expattest"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage/sqlite"
)

// The test harness: a real server on a loopback socket with a real SQLite
// store, and a small raw client that speaks the wire exactly as written in
// each test, so that tests read like the RFC's examples.

type testServer struct {
	srv     *Server
	store   *sqlite.Store
	domain  string
	addr    string // STARTTLS port
	tlsAddr string // direct TLS port
}

func selfSignedCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func startServer(t testing.TB, configure ...func(*Config)) *testServer {
	t.Helper()
	return startServerFor(t, "localhost", configure...)
}

// startServerFor starts a server for domain (its room engine knows the
// domain: users of others are remote).
func startServerFor(t testing.TB, domain string, configure ...func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	rooms, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Domain: domain})
	if err != nil {
		t.Fatalf("room engine: %v", err)
	}
	cfg := Config{
		Rooms:  rooms,
		Domain: domain,
		TLS:    &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t)}},
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Keep failed-login tests quick.
		AuthFailureDelay: 10 * time.Millisecond,
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeC2S(ln)
	go srv.ServeDirectTLS(tln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		store.Close()
	})
	return &testServer{srv: srv, store: store, domain: domain, addr: ln.Addr().String(), tlsAddr: tln.Addr().String()}
}

func (ts *testServer) addUser(t testing.TB, name, password string) {
	t.Helper()
	creds, err := auth.DeriveCredentials(name, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.store.CreateAccount(context.Background(), name, creds, nil, nil); err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
}

// testClient is a raw XMPP client over a real socket.
type testClient struct {
	t      testing.TB
	conn   net.Conn
	dec    *xml.Decoder
	jid    string
	domain string // the server's domain: localhost unless set
	s2s    bool   // a server-to-server stream: its header declares db: too
	// received holds the bytes read since the last stream (re)start,
	// stream header included: the document a client's parser reads.
	// Nil for a client that does not keep them.
	received *bytes.Buffer
}

// reader returns what the client's decoder reads from conn: conn, with
// every byte also kept in received.
func (c *testClient) reader(conn net.Conn) io.Reader {
	return io.TeeReader(conn, c.received)
}

// assertWellFormed checks with expat (expattest) that the client's current
// stream, as read so far, is well-formed: nothing the server relayed could
// break a strict client's parser.
func (c *testClient) assertWellFormed() {
	c.t.Helper()
	if v := expattest.Parse(c.t, expattest.Document{Data: c.received.Bytes()})[0]; v != "" {
		c.t.Errorf("%s's stream is not well-formed (expat: %s):\n%s", c.jid, v, c.received.Bytes())
	}
}

func dialRaw(t testing.TB, addr string) *testClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &testClient{t: t, conn: conn, domain: "localhost", received: new(bytes.Buffer)}
	c.dec = xml.NewDecoder(c.reader(conn))
	return c
}

func (c *testClient) send(format string, args ...any) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c.conn, format, args...); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// openStream sends a stream header and reads the server's header and
// features.
func (c *testClient) openStream() *Element {
	c.t.Helper()
	if c.received != nil {
		c.received.Reset()
	}
	c.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>`, c.domain)
	c.readStreamHeader()
	return c.next()
}

func (c *testClient) readStreamHeader() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			c.t.Fatalf("reading stream header: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			if s.Name.Local != "stream" {
				c.t.Fatalf("expected stream header, got %v", s.Name)
			}
			return
		}
	}
}

// nextOrErr reads the next top-level element, or returns the error (io.EOF
// when the server closed the stream).
func (c *testClient) nextOrErr(timeout time.Duration) (*Element, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			scope := streamScope
			if c.s2s {
				scope = s2sTestScope
			}
			return readElement(c.dec, t, scope)
		case xml.EndElement:
			return nil, io.EOF
		}
	}
}

func (c *testClient) next() *Element {
	c.t.Helper()
	el, err := c.nextOrErr(5 * time.Second)
	if err != nil {
		c.t.Fatalf("reading from server: %v", err)
	}
	return el
}

// expect reads until an element matches, failing after 5 s.
func (c *testClient) expect(what string, match func(*Element) bool) *Element {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		el, err := c.nextOrErr(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(el) {
			return el
		}
	}
	c.t.Fatalf("timed out waiting for %s", what)
	return nil
}

// expectStreamError reads until a stream error and returns its condition.
func (c *testClient) expectStreamError() string {
	c.t.Helper()
	el := c.expect("stream error", func(e *Element) bool { return e.Name.Space == nsStreams && e.Name.Local == "error" })
	for _, ch := range el.Elements() {
		if ch.Name.Space == nsStreamE && ch.Name.Local != "text" {
			return ch.Name.Local
		}
	}
	c.t.Fatalf("stream error without condition: %s", el)
	return ""
}

// startTLS negotiates STARTTLS and restarts the stream.
func (c *testClient) startTLS() *Element {
	c.t.Helper()
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.next(); el.Name.Local != "proceed" {
		c.t.Fatalf("expected proceed, got %s", el)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.dec = xml.NewDecoder(c.reader(tc))
	return c.openStream()
}

// scramAuth runs SCRAM with xdg-go/scram's client (which no one here
// wrote) and reports success.
func (c *testClient) scramAuth(mech, user, password string) bool {
	c.t.Helper()
	return c.scramAuthBound(mech, user, password, scram.NewTLSExporterBinding)
}

// scramAuthBound is scramAuth with the channel binding a -PLUS mechanism
// uses.
func (c *testClient) scramAuthBound(mech, user, password string, binding func(*tls.ConnectionState) (scram.ChannelBinding, error)) bool {
	c.t.Helper()
	if !strings.HasSuffix(mech, "-PLUS") {
		binding = nil
	}
	conv := c.scramConversation(mech, user, password, binding)
	first, err := conv.Step("")
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`, mech, base64.StdEncoding.EncodeToString([]byte(first)))
	for {
		el := c.next()
		data, _ := base64.StdEncoding.DecodeString(el.Text())
		switch el.Name.Local {
		case "challenge":
			resp, err := conv.Step(string(data))
			if err != nil {
				c.t.Fatalf("SCRAM client step: %v", err)
			}
			c.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, base64.StdEncoding.EncodeToString([]byte(resp)))
		case "success":
			if _, err := conv.Step(string(data)); err != nil {
				c.t.Fatalf("server signature did not verify: %v", err)
			}
			return true
		case "failure":
			return false
		default:
			c.t.Fatalf("unexpected during SASL: %s", el)
		}
	}
}

// scramConversation is xdg-go/scram's client conversation for mech, with
// the channel binding binding computes when it is not nil.
func (c *testClient) scramConversation(mech, user, password string, binding func(*tls.ConnectionState) (scram.ChannelBinding, error)) *scram.ClientConversation {
	c.t.Helper()
	hash := scram.SHA256
	if strings.HasPrefix(mech, "SCRAM-SHA-1") {
		hash = scram.SHA1
	}
	client, err := hash.NewClient(user, password, "")
	if err != nil {
		c.t.Fatal(err)
	}
	if binding == nil {
		return client.NewConversation()
	}
	state := c.conn.(*tls.Conn).ConnectionState()
	cb, err := binding(&state)
	if err != nil {
		c.t.Fatal(err)
	}
	return client.NewConversationWithChannelBinding(cb)
}

// bind binds a resource and records the full JID.
func (c *testClient) bind(resource string) string {
	c.t.Helper()
	c.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>`, resource)
	el := c.next()
	j := el.Child(nsBind, "bind")
	if el.AttrValue("type") != "result" || j == nil || j.Child(nsBind, "jid") == nil {
		c.t.Fatalf("bind failed: %s", el)
	}
	c.jid = j.Child(nsBind, "jid").Text()
	return c.jid
}

// login connects, negotiates STARTTLS, authenticates with SCRAM-SHA-256 and
// binds resource.
func (ts *testServer) login(t testing.TB, user, password, resource string) *testClient {
	t.Helper()
	c := ts.authenticate(t, user, password)
	c.bind(resource)
	return c
}

// authenticate connects, negotiates STARTTLS, authenticates with
// SCRAM-SHA-256 and opens the stream again, binding no resource.
func (ts *testServer) authenticate(t testing.TB, user, password string) *testClient {
	t.Helper()
	c := dialRaw(t, ts.addr)
	c.domain = ts.domain
	c.openStream()
	c.startTLS()
	if !c.scramAuth("SCRAM-SHA-256", user, password) {
		t.Fatalf("login %s failed", user)
	}
	c.openStream()
	return c
}

// online logs in and sends initial presence, returning after the server has
// processed it (a ping round trip follows it).
func (ts *testServer) online(t testing.TB, user, password, resource string) *testClient {
	t.Helper()
	c := ts.login(t, user, password, resource)
	c.send(`<presence/>`)
	c.roundTrip()
	return c
}

// roundTrip pings the server and waits for the answer, so that everything
// sent before has been processed. Elements read meanwhile are returned.
func (c *testClient) roundTrip() []*Element {
	c.t.Helper()
	id := "rt-" + randomID(4)
	c.send(`<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, id, c.domain)
	var seen []*Element
	c.expect("ping reply", func(e *Element) bool {
		if e.AttrValue("id") == id {
			return true
		}
		seen = append(seen, e)
		return false
	})
	return seen
}
