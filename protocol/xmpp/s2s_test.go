package xmpp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/wellformed"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Federation between two real Parley servers on loopback sockets: a.test
// and b.test find each other through S2SConfig.Routes, secure every link
// with STARTTLS and authenticate by dialback (self-signed certificates) or
// by certificate (a test CA both trust). Prosody as a peer is interop's
// (interop/prosody_test.go).

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Parley test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issueCert signs a certificate for names; with ca nil it is
// self-signed.
func issueCert(t testing.TB, ca *testCA, names ...string) tls.Certificate {
	t.Helper()
	c, err := newCert(ca, names...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCert(ca *testCA, names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// s2sTestScope is what a server-to-server stream header declares (our
// servers' and the tests' own peers'): the stream and db prefixes.
var s2sTestScope = wellformed.NewScope(nsServer, "stream", nsStreams, "db", nsDialback)

// fedServer is a test server that federates, with its s2s listener.
type fedServer struct {
	*testServer
	s2sAddr string
}

// fedOptions say how a federating test server is set up.
type fedOptions struct {
	ca         *testCA // signs its certificate (nil: self-signed)
	trust      *testCA // verifies peers (nil: no roots it trusts)
	secureAuth bool
	configure  func(*S2SConfig)
	server     func(*Config) // the server's own settings, if any
}

// startFederation starts one server per domain, each routing to the
// others' s2s listeners.
func startFederation(t testing.TB, opts map[string]fedOptions) map[string]*fedServer {
	t.Helper()
	lns := make(map[string]net.Listener)
	routes := make(map[string]string)
	for d := range opts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[d] = ln
		routes[d] = ln.Addr().String()
		routes[defaultMUCHost+"."+d] = ln.Addr().String()
		routes["upload."+d] = ln.Addr().String()
	}
	out := make(map[string]*fedServer)
	for d, o := range opts {
		cert := issueCert(t, o.ca, d, defaultMUCHost+"."+d)
		s2s := &S2SConfig{
			DialbackSecret: []byte("dialback secret of " + d),
			SecureAuth:     o.secureAuth,
			Routes:         routes,
			ConnectTimeout: 5 * time.Second,
		}
		if o.trust != nil {
			s2s.Roots = o.trust.pool
		} else {
			s2s.Roots = x509.NewCertPool()
		}
		if o.configure != nil {
			o.configure(s2s)
		}
		ts := startServerFor(t, d, func(c *Config) {
			c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			c.S2S = s2s
			if o.server != nil {
				o.server(c)
			}
		})
		go ts.srv.ServeS2S(lns[d])
		out[d] = &fedServer{testServer: ts, s2sAddr: lns[d].Addr().String()}
	}
	return out
}

// authLink returns the server's authenticated link in direction between
// local and remote (an inbound verification connection, which never
// authenticates, may be there too for a moment).
func (fs *fedServer) authLink(direction, local, remote string) (S2SLink, bool) {
	for _, l := range fs.srv.S2SLinks() {
		if l.Direction == direction && l.Local == local && l.Remote == remote && l.State == "authenticated" {
			return l, true
		}
	}
	return S2SLink{}, false
}

func dialbackPair(t *testing.T) (a, b *fedServer) {
	fs := startFederation(t, map[string]fedOptions{"a.test": {}, "b.test": {}})
	return fs["a.test"], fs["b.test"]
}

// RFC 6120 §13 with XEP-0220: chat both ways between users of two servers
// whose certificates verify for no one, each link authenticated by
// dialback against the other's database secret.
func TestS2SDialbackChatBothWays(t *testing.T) {
	a, b := dialbackPair(t)
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "phone")
	bob := b.online(t, "bob", "secret", "desk")

	start := time.Now()
	alice.send(`<message to='bob@b.test' type='chat' id='m1'><body>hello b</body></message>`)
	m := bob.expect("message over a new link", isMessageWithBody("hello b"))
	t.Logf("time to first delivery over a new link (TCP, TLS, dialback, verification connection): %v", time.Since(start))
	if m.AttrValue("from") != "alice@a.test/phone" || m.AttrValue("to") != "bob@b.test" {
		t.Errorf("delivered as %s", m)
	}
	bob.send(`<message to='alice@a.test/phone' type='chat'><body>hello a</body></message>`)
	alice.expect("reply", isMessageWithBody("hello a"))

	for _, c := range []struct {
		fs            *fedServer
		dir, loc, rem string
	}{{a, "out", "a.test", "b.test"}, {a, "in", "a.test", "b.test"}, {b, "out", "b.test", "a.test"}, {b, "in", "b.test", "a.test"}} {
		if l, ok := c.fs.authLink(c.dir, c.loc, c.rem); !ok || l.Auth != "dialback" {
			t.Errorf("%s link %s→%s: %+v (found %v); want authenticated by dialback", c.dir, c.loc, c.rem, l, ok)
		}
	}

	// An IQ to the remote user's resource, and its answer, take the
	// same links; the remote server answers for itself too.
	alice.send(`<iq type='get' id='v1' to='b.test'><query xmlns='jabber:iq:version'/></iq>`)
	v := alice.expect("version", func(e *Element) bool { return e.AttrValue("id") == "v1" })
	if v.AttrValue("type") != "result" || v.AttrValue("from") != "b.test" {
		t.Errorf("version of b.test: %s", v)
	}
	// A message for a user b.test does not have comes back as b.test
	// answers it (RFC 6121 §8.5.1).
	alice.send(`<message to='nobody@b.test' type='chat' id='m2'><body>anyone?</body></message>`)
	e := alice.expect("error", func(e *Element) bool { return e.AttrValue("id") == "m2" })
	if e.AttrValue("type") != "error" || !strings.Contains(e.String(), "service-unavailable") {
		t.Errorf("message to an unknown remote user: %s", e)
	}
	// One outbound link per pair of domains, reused.
	n := 0
	for _, l := range a.srv.S2SLinks() {
		if l.Direction == "out" && l.Remote == "b.test" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a.test has %d outbound links to b.test, want 1", n)
	}
}

// XEP-0178 and XEP-0344: with a CA both trust, each authenticates the other
// by its certificate, with SASL EXTERNAL on the links it opens; and
// --s2s-secure-auth is satisfied.
func TestS2SCertificateAuth(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {ca: ca, trust: ca, secureAuth: true},
		"b.test": {ca: ca, trust: ca, secureAuth: true},
	})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>signed</body></message>`)
	bob.expect("message", isMessageWithBody("signed"))
	bob.send(`<message to='alice@a.test' type='chat'><body>signed too</body></message>`)
	alice.expect("message", isMessageWithBody("signed too"))
	for _, fs := range []*fedServer{a, b} {
		for _, l := range fs.srv.S2SLinks() {
			if l.State != "authenticated" || l.Auth != "certificate" {
				t.Errorf("%s: link %+v; want authenticated by certificate (no verification connection either)", fs.domain, l)
			}
		}
	}
}

// --s2s-secure-auth refuses a peer whose certificate does not verify,
// both ways: its dialback is not answered valid, and we do not send to it.
// The senders get their messages back.
func TestS2SSecureAuthRefusesUntrustedCertificate(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {ca: ca, trust: ca, secureAuth: true},
		"b.test": {}, // self-signed
	})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")

	alice.send(`<message to='bob@b.test' type='chat' id='out'><body>to an untrusted server</body></message>`)
	e := alice.expect("bounce", func(e *Element) bool { return e.AttrValue("id") == "out" })
	if e.AttrValue("type") != "error" || !strings.Contains(e.String(), "remote-server-not-found") {
		t.Errorf("message to a server whose certificate does not verify: %s", e)
	}
	bob.send(`<message to='alice@a.test' type='chat' id='in'><body>from an untrusted server</body></message>`)
	e = bob.expect("bounce", func(e *Element) bool { return e.AttrValue("id") == "in" })
	if e.AttrValue("type") != "error" {
		t.Errorf("message to a secure-auth server by dialback: %s", e)
	}
	for _, e := range alice.roundTrip() {
		if isMessageWithBody("from an untrusted server")(e) {
			t.Error("a secure-auth server delivered a message from a dialback-only peer")
		}
	}
}

// --s2s-deny: a denied domain cannot connect (its stream ends with
// policy-violation and its user's message comes back), and nothing is sent
// to it.
func TestS2SDenyDomain(t *testing.T) {
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {configure: func(c *S2SConfig) { c.Deny = []string{"b.test"} }},
		"b.test": {},
	})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")

	alice.send(`<message to='bob@b.test' type='chat' id='out'><body>to a denied domain</body></message>`)
	e := alice.expect("bounce", func(e *Element) bool { return e.AttrValue("id") == "out" })
	if !strings.Contains(e.String(), "not-allowed") {
		t.Errorf("message to a denied domain: %s", e)
	}
	bob.send(`<message to='alice@a.test' type='chat' id='in'><body>from a denied domain</body></message>`)
	e = bob.expect("bounce", func(e *Element) bool { return e.AttrValue("id") == "in" })
	if e.AttrValue("type") != "error" {
		t.Errorf("message from a denied domain: %s", e)
	}
	waitFor(t, "no links with a denied domain", func() bool { return len(a.srv.S2SLinks()) == 0 })

	// A raw peer claiming the denied domain in its header is cut at once.
	p := dialRaw(t, a.s2sAddr)
	p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>`)
	p.readStreamHeader()
	if cond := p.expectStreamError(); cond != "policy-violation" {
		t.Errorf("stream from a denied domain ended with %s, want policy-violation", cond)
	}
}

// A peer that cannot be reached: the sender gets remote-server-not-found
// (nothing listens) or remote-server-timeout (something listens and says
// nothing), after S2SConfig.ConnectTimeout.
func TestS2SUnreachableBounces(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	silent := silentListener(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {configure: func(c *S2SConfig) {
		c.Routes["closed.test"] = closedAddr
		c.Routes["silent.test"] = silent
		c.ConnectTimeout = 500 * time.Millisecond
		// No DNS server in this test: every lookup fails at once, as
		// for a domain that does not exist.
		c.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			return nil, errors.New("no DNS server in this test")
		}}
	}}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	for _, c := range []struct{ to, want string }{
		{"x@closed.test", "remote-server-not-found"},
		{"x@silent.test", "remote-server-timeout"},
		{"x@no-such-domain.invalid", "remote-server-not-found"},
	} {
		alice.send(`<message to='%s' type='chat' id='%s'><body>anyone?</body></message>`, c.to, c.to)
		e := alice.expect("bounce from "+c.to, func(e *Element) bool { return e.AttrValue("id") == c.to })
		if e.AttrValue("type") != "error" || !strings.Contains(e.String(), c.want) || e.AttrValue("from") != c.to {
			t.Errorf("message to %s came back as %s; want %s from the recipient", c.to, e, c.want)
		}
		alice.send(`<iq type='get' id='iq-%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, c.to, c.to)
		e = alice.expect("IQ bounce", func(e *Element) bool { return e.AttrValue("id") == "iq-"+c.to })
		if e.AttrValue("type") != "error" || !strings.Contains(e.String(), c.want) {
			t.Errorf("IQ to %s came back as %s; want %s", c.to, e, c.want)
		}
	}
}

// silentListener is the address of a server that accepts connections and
// never says anything.
func silentListener(t *testing.T) string {
	t.Helper()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return silent.Addr().String()
}

// rawPeer is a test's own "server" on a's s2s port, authenticated with a
// CA certificate by SASL EXTERNAL: it sends exactly what a test writes.
func rawPeer(t testing.TB, addr, from, to string, cert tls.Certificate) *testClient {
	t.Helper()
	p := dialRaw(t, addr)
	p.s2s = true
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='` + from + `' to='` + to + `' version='1.0'>`
	p.send("%s", header)
	p.readStreamHeader()
	if f := p.next(); f.Child(nsTLS, "starttls") == nil {
		t.Fatalf("s2s features before TLS: %s", f)
	}
	p.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := p.next(); el.Name.Local != "proceed" {
		t.Fatalf("expected proceed, got %s", el)
	}
	tc := tls.Client(p.conn, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	p.conn, p.dec = tc, xml.NewDecoder(tc)
	p.send("%s", header)
	p.readStreamHeader()
	return p
}

// RFC 6120 §4.9.3.10: a stanza whose 'from' is outside the domain the
// link authenticated ends the stream with <invalid-from/>, and local users
// are unaffected.
func TestS2SSpoofedFromClosesLink(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")

	p := externalPeer(t, a, ca, "evil.test")
	// From its own domain: delivered.
	p.send(`<message from='eve@evil.test/x' to='alice@a.test' type='chat'><body>legit</body></message>`)
	alice.expect("message from an authenticated domain", isMessageWithBody("legit"))
	// From a domain the link never proved: the link is closed.
	p.send(`<message from='boss@a.test/r' to='alice@a.test' type='chat'><body>spoofed</body></message>`)
	if cond := p.expectStreamError(); cond != "invalid-from" {
		t.Errorf("spoofed from ended the stream with %s, want invalid-from", cond)
	}
	for _, e := range alice.roundTrip() {
		if isMessageWithBody("spoofed")(e) {
			t.Error("the spoofed message was delivered")
		}
	}
}

// XEP-0220 §2.3.2: a verification request for a stream we never opened is
// answered invalid, whatever the key; a key for another domain's stream
// too. A peer that sends stanzas before authenticating is cut off.
func TestS2SDialbackVerifyUnknownStream(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca}})
	a := fs["a.test"]
	p := rawPeer(t, a.s2sAddr, "evil.test", "a.test", issueCert(t, ca, "other.example"))
	if f := p.next(); f.Child(nsSASL, "mechanisms") != nil || f.Child(nsDialbackFeat, "dialback") == nil {
		t.Fatalf("features for a certificate of another domain: %s; want dialback only", f)
	}
	key := dialbackKey(a.srv.fed.secretHash, "evil.test", "a.test", "never-opened")
	p.send(`<db:verify from='evil.test' to='a.test' id='never-opened'>%s</db:verify>`, key)
	v := p.expect("verify answer", func(e *Element) bool { return e.Name.Local == "verify" })
	if v.AttrValue("type") != "invalid" || v.AttrValue("id") != "never-opened" {
		t.Errorf("verification of a stream a.test never opened: %s; want invalid", v)
	}
	p.send(`<message from='eve@evil.test' to='nobody@a.test'><body>before auth</body></message>`)
	if cond := p.expectStreamError(); cond != "not-authorized" {
		t.Errorf("stanza before authentication ended the stream with %s, want not-authorized", cond)
	}
}

// A peer's links hold one of its address's slots for unauthenticated
// streams (Config.MaxUnauthPerIP) until they authenticate: one more is
// closed with policy-violation at once, and a slot freed is free again.
func TestS2SUnauthenticatedLinksPerAddress(t *testing.T) {
	fs := startFederation(t, map[string]fedOptions{"a.test": {server: func(c *Config) { c.MaxUnauthPerIP = 2 }}})
	a := fs["a.test"]
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='idle.test' to='a.test' version='1.0'>`
	var held []*testClient
	for range 2 {
		p := dialRaw(t, a.s2sAddr)
		p.send("%s", header)
		p.readStreamHeader()
		if f := p.next(); f.Child(nsTLS, "starttls") == nil {
			t.Fatalf("features: %s", f)
		}
		held = append(held, p)
	}
	extra := dialRaw(t, a.s2sAddr)
	extra.send("%s", header)
	extra.readStreamHeader()
	if cond := extra.expectStreamError(); cond != "policy-violation" {
		t.Errorf("a third unauthenticated link from the address ended with %s, want policy-violation", cond)
	}
	held[0].conn.Close()
	waitFor(t, "the closed link's slot", func() bool { return a.srv.limits.unauthCount("127.0.0.1") < 2 })
	again := dialRaw(t, a.s2sAddr)
	again.send("%s", header)
	again.readStreamHeader()
	if f := again.next(); f.Child(nsTLS, "starttls") == nil {
		t.Errorf("after a slot was freed: %s", f)
	}
}

// HTTP File Upload slots are for this server's users: a user of another
// server uploads to its own (XEP-0363 leaves it to the service).
func TestS2SNoUploadSlotForRemoteUsers(t *testing.T) {
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {server: func(c *Config) {
			files, err := muc.NewFiles(c.Rooms.(*muc.Engine), muc.FilesConfig{Store: c.Store, MaxFileSize: 1 << 20, Quota: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			c.Files, c.UploadURL = files, "http://127.0.0.1:1"
		}},
		"b.test": {},
	})
	b := fs["b.test"]
	b.addUser(t, "bob", "secret")
	bob := b.online(t, "bob", "secret", "r")
	bob.send(`<iq type='get' id='slot' to='upload.a.test'><request xmlns='urn:xmpp:http:upload:0' filename='a.txt' size='10' content-type='text/plain'/></iq>`)
	if e := bob.expect("slot answer", func(e *Element) bool { return e.AttrValue("id") == "slot" }); !strings.Contains(e.String(), "service-unavailable") {
		t.Errorf("a remote user's upload slot request: %s; want service-unavailable", e)
	}
}

// Presence subscriptions across servers (RFC 6121 §3 with the contact on
// another server): request, approval, then presence flows and the rosters
// on both sides agree; a later login gets the contact's presence by probe.
func TestS2SPresenceSubscription(t *testing.T) {
	a, b := dialbackPair(t)
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")

	alice.send(`<presence to='bob@b.test' type='subscribe'/>`)
	req := bob.expect("subscription request", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "subscribe"
	})
	if req.AttrValue("from") != "alice@a.test" {
		t.Errorf("request from %q, want the bare JID", req.AttrValue("from"))
	}
	bob.send(`<presence to='alice@a.test' type='subscribed'/>`)
	alice.expect("approval", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "subscribed" && e.AttrValue("from") == "bob@b.test"
	})
	alice.expect("bob's presence", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "" && e.AttrValue("from") == "bob@b.test/r"
	})
	ctx := context.Background()
	waitFor(t, "both rosters", func() bool {
		ai, err1 := a.store.RosterItem(ctx, "alice", "bob@b.test")
		bi, err2 := b.store.RosterItem(ctx, "bob", "alice@a.test")
		return err1 == nil && err2 == nil && ai.Subscription == storage.SubscriptionTo && bi.Subscription == storage.SubscriptionFrom
	})

	// A new resource of alice's probes b.test and gets bob's presence.
	alice2 := a.login(t, "alice", "secret", "second")
	alice2.send(`<presence/>`)
	alice2.expect("bob's presence by probe", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "" && e.AttrValue("from") == "bob@b.test/r"
	})
	// bob going away reaches alice's resources.
	bob.send(`<presence type='unavailable'/>`)
	alice.expect("bob unavailable", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "unavailable" && e.AttrValue("from") == "bob@b.test/r"
	})
}

// A user of another server in one of our rooms (XEP-0045 over s2s): joins
// an open room, sees and is seen by local occupants, posts, gets posts,
// reads the archive (XEP-0313); a category that is not federated refuses
// the join with forbidden; a banned remote user stays out; compliance
// records the remote user as the actor.
func TestS2SRemoteOccupant(t *testing.T) {
	a, b := dialbackPair(t)
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	a.createRoom(t, "lobby", muc.Open, muc.Normal, []string{"alice@a.test"}, nil, nil)
	join(t, alice, "lobby@conference.a.test", "Alice", "")

	got := join(t, bob, "lobby@conference.a.test", "Bob", "")
	var sawAlice, self bool
	for _, e := range got {
		sawAlice = sawAlice || e.AttrValue("from") == "lobby@conference.a.test/Alice"
		self = self || (e.AttrValue("from") == "lobby@conference.a.test/Bob" && hasStatus(e, "110"))
	}
	if !sawAlice || !self {
		t.Errorf("remote join snapshot lacks alice (%v) or bob's own presence (%v)", sawAlice, self)
	}
	p := alice.expect("bob's join", isPresenceFrom("lobby@conference.a.test/Bob"))
	if item := p.Child(nsMUCUser, "x").Child(nsMUCUser, "item"); item.AttrValue("jid") != "bob@b.test/r" {
		t.Errorf("a manager sees the remote occupant as %s, want the real full JID", item)
	}

	bob.send(`<message to='lobby@conference.a.test' type='groupchat' id='p1'><body>hello from b</body></message>`)
	alice.expect("remote post", isMessageWithBody("hello from b"))
	echo := bob.expect("reflection", isMessageWithBody("hello from b"))
	if echo.Child(nsStanzaID, "stanza-id") == nil {
		t.Errorf("reflection without stanza-id: %s", echo)
	}
	alice.send(`<message to='lobby@conference.a.test' type='groupchat'><body>hello from a</body></message>`)
	bob.expect("local post", isMessageWithBody("hello from a"))

	bob.send(`<iq type='set' id='mam1' to='lobby@conference.a.test'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>`)
	var results []string
	bob.expect("MAM fin", func(e *Element) bool {
		if r := e.Child(nsMAM, "result"); r != nil {
			fwd := r.Child(nsForward, "forwarded")
			results = append(results, fwd.Child(nsClient, "message").Child(nsClient, "body").Text())
		}
		return e.AttrValue("id") == "mam1"
	})
	if strings.Join(results, "|") != "hello from b|hello from a" {
		t.Errorf("remote MAM query got %q", results)
	}

	// Compliance: the remote user is the actor of its join and post.
	evs, err := a.store.ReadOutbox(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, ev := range evs {
		if ev.Room == "lobby" && (ev.Type == "join" || ev.Type == "post") {
			actors = append(actors, ev.Type+":"+ev.Actor)
		}
	}
	if !strings.Contains(strings.Join(actors, " "), "post:bob@b.test") || !strings.Contains(strings.Join(actors, " "), "join:bob@b.test") {
		t.Errorf("compliance events of the room: %v; want bob@b.test as actor of a join and a post", actors)
	}

	// Topic-feed commands are for this server's users (their alerts
	// go to local sessions).
	bob.send(`<iq type='set' id='cmd' to='conference.a.test'><command xmlns='http://jabber.org/protocol/commands' node='follow' action='execute'/></iq>`)
	if e := bob.expect("command refused", func(e *Element) bool { return e.AttrValue("id") == "cmd" }); !strings.Contains(e.String(), "service-unavailable") {
		t.Errorf("a remote user's ad-hoc command: %s; want service-unavailable", e)
	}

	// Leaving reaches the room; the remote sink is forgotten.
	bob.send(`<presence to='lobby@conference.a.test/Bob' type='unavailable'/>`)
	alice.expect("bob leaves", func(e *Element) bool {
		return e.AttrValue("from") == "lobby@conference.a.test/Bob" && e.AttrValue("type") == "unavailable"
	})
	waitFor(t, "remote sink forgotten", func() bool { return a.srv.muc.remoteSinkOf("bob@b.test/r") == nil })

	// Banned: stays out.
	alice.send(`<iq type='set' id='ban' to='lobby@conference.a.test'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='bob@b.test'/></query></iq>`)
	alice.expect("ban result", func(e *Element) bool { return e.AttrValue("id") == "ban" && e.AttrValue("type") == "result" })
	bob.send(`<presence to='lobby@conference.a.test/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	e := bob.expect("refused join", func(e *Element) bool { return e.Name.Local == "presence" && e.AttrValue("type") == "error" })
	if !strings.Contains(e.String(), "forbidden") {
		t.Errorf("banned remote user's join: %s", e)
	}

	// A category that is not federated: forbidden.
	ctx := context.Background()
	if err := a.srv.cfg.Rooms.PutCategory(ctx, muc.ActorAdmin, storage.Category{Name: "internal", LocalOnly: true, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.cfg.Rooms.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "staff", Category: "internal"}, Privacy: muc.Open, Creator: muc.ActorAdmin}); err != nil {
		t.Fatal(err)
	}
	bob.send(`<presence to='staff@conference.a.test/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	e = bob.expect("refused join", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("type") == "error" && strings.HasPrefix(e.AttrValue("from"), "staff@")
	})
	if !strings.Contains(e.String(), "forbidden") {
		t.Errorf("join to a non-federated category: %s", e)
	}
	join(t, alice, "staff@conference.a.test", "Alice", "")
}

// A local user in a room on another server: the join, the room's presence
// and posts, both ways, go over the links like any directed presence and
// message; leaving on disconnect reaches the remote room.
func TestS2SLocalUserInRemoteRoom(t *testing.T) {
	a, b := dialbackPair(t)
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	b.createRoom(t, "plaza", muc.Open, muc.Normal, nil, nil, nil)
	bob := b.online(t, "bob", "secret", "r")
	join(t, bob, "plaza@conference.b.test", "Bob", "")
	alice := a.online(t, "alice", "secret", "r")
	join(t, alice, "plaza@conference.b.test", "Alice", "")
	bob.expect("alice joins", isPresenceFrom("plaza@conference.b.test/Alice"))
	alice.send(`<message to='plaza@conference.b.test' type='groupchat'><body>visiting</body></message>`)
	bob.expect("alice's post", isMessageWithBody("visiting"))
	bob.send(`<message to='plaza@conference.b.test' type='groupchat'><body>welcome</body></message>`)
	alice.expect("bob's post", isMessageWithBody("welcome"))
	alice.conn.Close()
	bob.expect("alice gone", func(e *Element) bool {
		return e.AttrValue("from") == "plaza@conference.b.test/Alice" && e.AttrValue("type") == "unavailable"
	})
}

// Idle links close after S2SConfig.IdleTimeout, either way; the next
// stanza opens a new link and is delivered.
func TestS2SIdleLinksCloseAndReopen(t *testing.T) {
	idle := func(c *S2SConfig) { c.IdleTimeout = 300 * time.Millisecond }
	fs := startFederation(t, map[string]fedOptions{"a.test": {configure: idle}, "b.test": {configure: idle}})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>one</body></message>`)
	bob.expect("first", isMessageWithBody("one"))
	waitFor(t, "links closed when idle", func() bool { return len(a.srv.S2SLinks())+len(b.srv.S2SLinks()) == 0 })
	alice.send(`<message to='bob@b.test' type='chat'><body>two</body></message>`)
	bob.expect("second, over a new link", isMessageWithBody("two"))
}

// XEP-0220's elements are written with the db: prefix the stream header
// declares, their children in the stream's default namespace: ejabberd 23
// knows <db:result/> by that name and ignored <result
// xmlns='jabber:server:dialback'/> (dialback never completed with it).
func TestDialbackElementsUseThePrefix(t *testing.T) {
	res := NewElement(nsDialback, "result", "from", "a.test", "to", "b.test", "type", "error").
		Append(NewElement(nsClient, "error", "type", "cancel").Append(NewElement(nsStanzas, "item-not-found")))
	want := `<db:result from="a.test" to="b.test" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></db:result>`
	if got := res.String(); got != want {
		t.Errorf("db:result written as\n %s\nwant\n %s", got, want)
	}
	v := NewElement(nsDialback, "verify", "from", "a.test", "to", "b.test", "id", "s1").AppendText("key")
	if got, want := v.String(), `<db:verify from="a.test" to="b.test" id="s1">key</db:verify>`; got != want {
		t.Errorf("db:verify written as %s, want %s", got, want)
	}
}
