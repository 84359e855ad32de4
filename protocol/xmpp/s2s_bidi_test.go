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
