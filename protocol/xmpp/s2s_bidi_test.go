package xmpp

import (
	"encoding/base64"
	"strings"
	"testing"
)

// XEP-0288 §2, the receiving side: a peer whose link is secure is offered
// bidi before it authenticates; once it asked for it and authenticated
// (SASL EXTERNAL here), a local user's message to the peer's domain goes
// back over the peer's own link, although the route to the peer's server
// leads to one that never answers, and the link table shows the outbound
// side as "bidi". After authentication bidi is no longer offered.
func TestS2SBidiReceivingSide(t *testing.T) {
	ca := newTestCA(t)
	silent := silentListener(t)
	fs := startFederation(t, map[string]fedOptions{"a.test": {trust: ca, configure: func(c *S2SConfig) {
		c.Routes["peer.test"] = silent
	}}})
	a := fs["a.test"]
	a.addUser(t, "alice", "secret")
	alice := a.online(t, "alice", "secret", "r")

	p := rawPeer(t, a.s2sAddr, "peer.test", "a.test", issueCert(t, ca, "peer.test"))
	if f := p.next(); f.Child(nsBidiFeature, "bidi") == nil {
		t.Fatalf("features of a secure, unauthenticated link: %s; want bidi (XEP-0288)", f)
	}
	p.send(`<bidi xmlns='urn:xmpp:bidi'/>`)
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>`, base64.StdEncoding.EncodeToString([]byte("peer.test")))
	if el := p.next(); el.Name.Local != "success" {
		t.Fatalf("EXTERNAL for peer.test: %s", el)
	}
	p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='peer.test' to='a.test' version='1.0'>`)
	p.readStreamHeader()
	if f := p.next(); f.Child(nsBidiFeature, "bidi") != nil {
		t.Errorf("features after authentication offer bidi again: %s", f)
	}

	p.send(`<message from='eve@peer.test/x' to='alice@a.test' type='chat'><body>hello alice</body></message>`)
	alice.expect("eve's message", isMessageWithBody("hello alice"))
	alice.send(`<message to='eve@peer.test/x' type='chat' id='back'><body>hello eve, over your link</body></message>`)
	got := p.expect("alice's reply over the peer's link", func(e *Element) bool {
		b := e.Child(nsServer, "body")
		return e.Name.Local == "message" && b != nil && b.Text() == "hello eve, over your link"
	})
	if got.AttrValue("from") != "alice@a.test/r" || got.AttrValue("to") != "eve@peer.test/x" {
		t.Errorf("the reply over the bidirectional link: %s", got)
	}
	if l, ok := a.authLink("out", "a.test", "peer.test"); !ok || l.Auth != authBidi {
		t.Errorf("the outbound side to peer.test: %+v (found %v); want Auth %q", l, ok, authBidi)
	}
	for _, e := range alice.roundTrip() {
		if strings.Contains(e.String(), "error") {
			t.Errorf("alice got an error: %s", e)
		}
	}
}

// XEP-0288 between two Parley servers: a.test asks for bidi (S2SConfig.Bidi)
// on the link it opens to b.test, whose certificate verifies; b.test's
// answers come back over that link, so there is one link between them:
// a.test's outbound link (which counts what it carried back), used by
// b.test as its outbound side ("bidi"), and no link of b.test's own. An IQ
// round trip (a version query to bob's client) crosses it too.
func TestS2SBidiBothParley(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {ca: ca, trust: ca, configure: func(c *S2SConfig) { c.Bidi = true }},
		"b.test": {ca: ca, trust: ca},
	})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>one link</body></message>`)
	bob.expect("alice's message", isMessageWithBody("one link"))
	bob.send(`<message to='alice@a.test/r' type='chat'><body>back over it</body></message>`)
	alice.expect("bob's reply", isMessageWithBody("back over it"))
	alice.send(`<iq type='get' to='bob@b.test/r' id='v1'><query xmlns='jabber:iq:version'/></iq>`)
	q := bob.expect("alice's version query", func(e *Element) bool { return e.Name.Local == "iq" && e.AttrValue("id") == "v1" })
	bob.send(`<iq type='result' to='%s' id='v1'><query xmlns='jabber:iq:version'><name>bob's client</name></query></iq>`, q.AttrValue("from"))
	alice.expect("bob's client's version", func(e *Element) bool {
		return e.Name.Local == "iq" && e.AttrValue("id") == "v1" && e.AttrValue("type") == "result" && strings.Contains(e.String(), "bob's client")
	})

	out, ok := a.authLink("out", "a.test", "b.test")
	if !ok || out.Auth != "certificate" || out.In < 2 {
		t.Errorf("a.test's link to b.test: %+v (found %v); want it to have carried bob's two stanzas back", out, ok)
	}
	if l, ok := b.authLink("out", "b.test", "a.test"); !ok || l.Auth != authBidi {
		t.Errorf("b.test's outbound side to a.test: %+v (found %v); want Auth %q", l, ok, authBidi)
	}
	if l, ok := a.authLink("in", "a.test", "b.test"); ok {
		t.Errorf("a.test has an inbound link from b.test too: %+v", l)
	}
}

// Bidi is asked only of a peer whose certificate verifies for its domain:
// b.test's is self-signed (dialback), so a.test does not ask, and b.test
// answers over a link of its own.
func TestS2SBidiNotWithoutCertificate(t *testing.T) {
	ca := newTestCA(t)
	fs := startFederation(t, map[string]fedOptions{
		"a.test": {ca: ca, trust: ca, configure: func(c *S2SConfig) { c.Bidi = true }},
		"b.test": {},
	})
	a, b := fs["a.test"], fs["b.test"]
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>dialback</body></message>`)
	bob.expect("alice's message", isMessageWithBody("dialback"))
	bob.send(`<message to='alice@a.test/r' type='chat'><body>over my own link</body></message>`)
	alice.expect("bob's reply", isMessageWithBody("over my own link"))
	if l, ok := b.authLink("out", "b.test", "a.test"); !ok || l.Auth == authBidi {
		t.Errorf("b.test's link to a.test: %+v (found %v); want one of its own", l, ok)
	}
}
