package xmpp

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Limits per remote domain and bad input from a peer (issue 11, item 4):
// a raw TCP "server" authenticated by certificate (SASL EXTERNAL) sends
// exactly what each test writes.

// externalPeer is a rawPeer for domain that authenticated with SASL
// EXTERNAL and restarted the stream: it may send stanzas from domain.
func externalPeer(t testing.TB, a *fedServer, ca *testCA, domain string) *testClient {
	t.Helper()
	p := rawPeer(t, a.s2sAddr, domain, "a.test", issueCert(t, ca, domain))
	f := p.next()
	if mechs := f.Child(nsSASL, "mechanisms"); mechs == nil || !strings.Contains(mechs.String(), "EXTERNAL") {
		t.Fatalf("features for a peer whose certificate verifies: %s; want EXTERNAL", f)
	}
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>`, base64.StdEncoding.EncodeToString([]byte(domain)))
	if el := p.next(); el.Name.Local != "success" {
		t.Fatalf("EXTERNAL for %s: %s", domain, el)
	}
	p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='a.test' version='1.0'>`, domain)
	p.readStreamHeader()
	p.next() // features
	return p
}

// stillDelivers checks that an authenticated peer's message reaches alice.
func stillDelivers(t *testing.T, p *testClient, domain string, alice *testClient, body string) {
	t.Helper()
	p.send(`<message from='eve@%s/x' to='alice@a.test' type='chat'><body>%s</body></message>`, domain, body)
	alice.expect("a message over a link that did nothing wrong", isMessageWithBody(body))
}

// A peer that sends garbage, an oversize stanza or a spoofed 'from' is
// disconnected with the stream error RFC 6120 §4.9.3 names for it
// (not-well-formed, policy-violation, invalid-from); another link and
// the local user are unaffected, each time.
func TestS2SBadInputEndsOnlyThatLink(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca, server: func(c *Config) { c.MaxStanzaSize = 8 << 10 }}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	good := externalPeer(t, a, ca, "good.test")
	stillDelivers(t, good, "good.test", alice, "before")

	for _, c := range []struct {
		name, send, want string
	}{
		{"garbage", "\x00\x01 <<not xml at all>>", "not-well-formed"},
		{"unclosed tags", `<message from='eve@bad.test/x' to='alice@a.test'><body>x</bod></message>`, "not-well-formed"},
		{"oversize", `<message from='eve@bad.test/x' to='alice@a.test'><body>` + strings.Repeat("A", 9<<10) + `</body></message>`, "policy-violation"},
		{"spoofed from", `<message from='boss@a.test/r' to='alice@a.test'><body>spoofed</body></message>`, "invalid-from"},
		{"undeclared prefix", `<foo:message from='eve@bad.test/x' to='alice@a.test'/>`, "not-well-formed"},
	} {
		bad := externalPeer(t, a, ca, "bad.test")
		bad.send("%s", c.send)
		if got := bad.expectStreamError(); got != c.want {
			t.Errorf("%s ended the stream with %s, want %s", c.name, got, c.want)
		}
		stillDelivers(t, good, "good.test", alice, "after "+c.name)
	}
	// Garbage before any stream header, on a fresh connection.
	raw := dialRaw(t, a.s2sAddr)
	raw.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	raw.s2s = true
	raw.readStreamHeader()
	if got := raw.expectStreamError(); got != "not-well-formed" {
		t.Errorf("an HTTP request on the s2s port ended with %s, want not-well-formed", got)
	}
	stillDelivers(t, good, "good.test", alice, "after HTTP")
	for _, e := range alice.roundTrip() {
		if isMessageWithBody("spoofed")(e) {
			t.Error("the spoofed message was delivered")
		}
	}
}

// S2SConfig.MaxLinksPerDomain: a domain holding as many inbound links as
// allowed gets policy-violation for one more, when it authenticates; its
// first link keeps working, and another domain may still connect.
func TestS2SLinksPerDomain(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca, configure: func(c *S2SConfig) { c.MaxLinksPerDomain = 1 }}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	first := externalPeer(t, a, ca, "many.test")

	second := rawPeer(t, a.s2sAddr, "many.test", "a.test", issueCert(t, ca, "many.test"))
	second.next() // features
	second.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>`, base64.StdEncoding.EncodeToString([]byte("many.test")))
	if got := second.expectStreamError(); got != "policy-violation" {
		t.Errorf("a second link for many.test ended with %s, want policy-violation", got)
	}
	if n := testutil.ToFloat64(a.srv.fed.m.limited.WithLabelValues("links")); n != 1 {
		t.Errorf("parley_xmpp_s2s_limited_total{limit=links} = %v, want 1", n)
	}
	stillDelivers(t, first, "many.test", alice, "first link")
	other := externalPeer(t, a, ca, "other.test")
	stillDelivers(t, other, "other.test", alice, "another domain")
}

// S2SConfig.StanzaRate and StanzaBurst: past its burst, a domain's link is
// read more slowly, not cut off: every stanza arrives, in order, and the
// limit is counted.
func TestS2SStanzaRatePerDomain(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca, configure: func(c *S2SConfig) {
		c.StanzaRate, c.StanzaBurst = 20, 5
	}}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	p := externalPeer(t, a, ca, "chatty.test")
	const n = 20
	for i := range n {
		p.send(`<message from='eve@chatty.test/x' to='alice@a.test' type='chat'><body>m%d</body></message>`, i)
	}
	for i := range n {
		alice.expect(fmt.Sprintf("message %d, in order", i), isMessageWithBody(fmt.Sprintf("m%d", i)))
	}
	if got := testutil.ToFloat64(a.srv.fed.m.limited.WithLabelValues("rate")); got == 0 {
		t.Errorf("parley_xmpp_s2s_limited_total{limit=rate} = 0 after %d stanzas sent at once with a burst of 5", n)
	}
	var in int64
	for _, l := range a.srv.S2SLinks() {
		if l.Direction == "in" && l.Remote == "chatty.test" {
			in = l.In
		}
	}
	if in != n {
		t.Errorf("the link table counts %d stanzas in from chatty.test, want %d", in, n)
	}
}

// S2SConfig.QueueLength bounds what waits for one remote domain, over all
// our links to it: while the link to a silent server is being set up, the
// stanzas past the bound bounce with resource-constraint; another domain's
// queue is its own.
func TestS2SQueuePerDomain(t *testing.T) {
	silent := silentListener(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {configure: func(c *S2SConfig) {
		c.Routes["slow.test"] = silent
		c.Routes["conference.slow.test"] = silent
		c.Routes["other.test"] = silent
		c.QueueLength = 3
		c.ConnectTimeout = time.Minute
	}}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")
	// Two links to slow.test's domain: from a.test, and from a.test's
	// room service (a room inviting someone there); both count.
	for i, to := range []string{"x@slow.test", "y@slow.test", "x@slow.test"} {
		alice.send(`<message to='%s' type='chat' id='q%d'><body>wait</body></message>`, to, i)
	}
	alice.send(`<message to='z@slow.test' type='chat' id='over'><body>one too many</body></message>`)
	e := alice.expect("the bounce past the queue", func(e *Element) bool { return e.AttrValue("id") == "over" })
	if e.AttrValue("type") != "error" || !strings.Contains(e.String(), "resource-constraint") {
		t.Errorf("the fourth stanza for slow.test came back as %s; want resource-constraint", e)
	}
	alice.send(`<message to='x@other.test' type='chat' id='other'><body>elsewhere</body></message>`)
	for _, e := range alice.roundTrip() {
		if e.AttrValue("type") == "error" && e.AttrValue("id") != "over" {
			t.Errorf("bounced although its domain's queue has room: %s", e)
		}
	}
	var queued int
	for _, l := range a.srv.S2SLinks() {
		if l.Remote == "slow.test" {
			queued += l.Queued
		}
	}
	if queued != 3 {
		t.Errorf("%d stanzas queued for slow.test, want 3", queued)
	}
	if n := testutil.ToFloat64(a.srv.fed.m.limited.WithLabelValues("queue")); n != 1 {
		t.Errorf("parley_xmpp_s2s_limited_total{limit=queue} = %v, want 1", n)
	}
}
