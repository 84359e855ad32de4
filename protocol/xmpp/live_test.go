package xmpp

import (
	"crypto/tls"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xdg-go/scram"
)

// TestLiveLimits: limits changed while the server runs apply to what
// starts after the change — a new stream's stanza size, a new resource —
// and cut off nothing already running.
func TestLiveLimits(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	old := ts.online(t, "alice", "secret", "desk")

	if err := ts.srv.SetLiveLimits(LiveLimits{MaxStanzaSize: 1000}); err == nil {
		t.Error("SetLiveLimits took a stanza size below 4096 bytes")
	}
	if err := ts.srv.SetLiveLimits(LiveLimits{MaxStanzaSize: 4096, MaxResourcesPerUser: 2}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 6000)

	// The stream opened before keeps its limit: its 6000-byte message
	// (to itself) arrives.
	old.send(`<message to='alice@localhost/desk' type='chat' id='m1'><body>%s</body></message>`, big)
	old.expect("the large message on the old stream", func(e *Element) bool {
		return e.Name.Local == "message" && e.AttrValue("id") == "m1"
	})

	// A new stream has the new limit.
	fresh := ts.online(t, "alice", "secret", "phone")
	fresh.send(`<message to='alice@localhost/desk' type='chat' id='m2'><body>%s</body></message>`, big)
	if cond := fresh.expectStreamError(); cond != "policy-violation" {
		t.Errorf("6000-byte stanza on a new stream with a 4096-byte limit: stream error %q, want policy-violation", cond)
	}
	old.roundTrip() // still connected

	// Two resources at most now: desk and laptop, not a third.
	ts.online(t, "alice", "secret", "laptop")
	third := ts.authenticate(t, "alice", "secret")
	third.send(`<iq type='set' id='bind3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tablet</resource></bind></iq>`)
	if r := third.next(); stanzaCondition(r) != "wait/resource-constraint" {
		t.Errorf("third resource with MaxResourcesPerUser 2: %s, want resource-constraint", r)
	}
}

// TestChannelBindingFollowsServedCertificate: with the certificate chosen
// per handshake (GetCertificate, replaced on parleyd's SIGHUP),
// tls-server-end-point binds to the certificate each connection was
// served (RFC 5929 §4.1), before and after a replacement.
func TestChannelBindingFollowsServedCertificate(t *testing.T) {
	var current atomic.Pointer[tls.Certificate]
	first := selfSignedCert(t)
	current.Store(&first)
	ts := startServer(t, func(c *Config) {
		c.ChannelBinding = true
		c.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }}
	})
	ts.addUser(t, "alice", "secret")
	for i := range 2 {
		c := dialRaw(t, ts.addr)
		c.openStream()
		c.startTLS()
		served := c.conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
		if string(served) != string(current.Load().Certificate[0]) {
			t.Fatalf("connection %d was not served the current certificate", i)
		}
		if !c.scramAuthBound("SCRAM-SHA-256-PLUS", "alice", "secret", scram.NewTLSServerEndpointBinding) {
			t.Errorf("connection %d: SCRAM-SHA-256-PLUS with tls-server-end-point failed", i)
		}
		next := selfSignedCert(t)
		current.Store(&next)
	}
}
