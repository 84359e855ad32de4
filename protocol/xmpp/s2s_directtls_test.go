package xmpp

import (
	"crypto/tls"
	"net"
	"strconv"
	"testing"

	"github.com/parleychat/parley/internal/dnstest"
)

// XEP-0368 between servers: b.test listens for direct TLS too and
// publishes it as _xmpps-server._tcp next to its _xmpp-server._tcp record
// of lower priority, in a DNS server of the test's own; a.test finds it
// there and opens its link with TLS from the first byte and ALPN
// "xmpp-server", then authenticates by dialback as on any link.
func TestS2SDirectTLSFromSRV(t *testing.T) {
	fs := startFederation(t, map[string]fedOptions{"a.test": {}, "b.test": {}})
	a, b := fs["a.test"], fs["b.test"]
	direct, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.srv.ServeS2STLS(direct)
	dns := dnstest.Start(t)
	port := func(addr string) uint16 {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return uint16(n)
	}
	dns.A("xmpp.b.test", "127.0.0.1")
	dns.SRV("_xmpps-server._tcp.b.test", dnstest.SRV{Priority: 5, Weight: 1, Port: port(direct.Addr().String()), Target: "xmpp.b.test"})
	dns.SRV("_xmpp-server._tcp.b.test", dnstest.SRV{Priority: 10, Weight: 1, Port: port(b.s2sAddr), Target: "xmpp.b.test"})
	a.srv.fed.cfg.Resolver = dns.Resolver()
	delete(a.srv.fed.cfg.Routes, "b.test")

	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>over direct TLS</body></message>`)
	bob.expect("message over a direct TLS link", isMessageWithBody("over direct TLS"))
	if l, ok := a.authLink("out", "a.test", "b.test"); !ok || !l.DirectTLS || l.Auth != "dialback" {
		t.Errorf("a.test's link to b.test: %+v (found %v); want direct TLS, dialback", l, ok)
	}
	if l, ok := b.authLink("in", "b.test", "a.test"); !ok || !l.DirectTLS {
		t.Errorf("b.test's inbound link from a.test: %+v (found %v); want direct TLS", l, ok)
	}
	if n := dns.Queries("SRV", "_xmpps-server._tcp.b.test"); n == 0 {
		t.Error("a.test never asked for _xmpps-server._tcp.b.test")
	}

	// ALPN: a client that asks only for xmpp-client is refused at the
	// handshake; one that asks for xmpp-server gets it.
	c, err := tls.Dial("tcp", direct.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}})
	if err == nil {
		c.Close()
		t.Error("the s2s direct TLS listener accepted ALPN xmpp-client")
	}
	c, err = tls.Dial("tcp", direct.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"xmpp-server"}})
	if err != nil {
		t.Fatalf("ALPN xmpp-server: %v", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "xmpp-server" {
		t.Errorf("negotiated %q, want xmpp-server", p)
	}
	c.Close()
}
