package xmpp

import (
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// carbonOf returns the message a carbon of kind forwards, or nil.
func carbonOf(kind string, e *Element) *Element {
	c := e.Child(nsCarbons, kind)
	if e.Name.Local != "message" || c == nil {
		return nil
	}
	if fwd := c.Child(nsForward, "forwarded"); fwd != nil {
		return fwd.Child(nsClient, "message")
	}
	return nil
}

func isCarbon(kind, body string) func(*Element) bool {
	return func(e *Element) bool {
		inner := carbonOf(kind, e)
		return inner != nil && isMessageWithBody(body)(inner)
	}
}

// XEP-0280 §4-§7, as its examples show: a resource that enabled carbons
// gets <sent/> copies of what its account's other resources send and
// <received/> copies of what they receive; one that did not, nothing;
// <private/> and groupchat are not copied; disabling stops them.
func TestCarbons(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	home := ts.online(t, "romeo", "secret", "home")
	work := ts.online(t, "romeo", "secret", "work")
	quiet := ts.online(t, "romeo", "secret", "quiet")
	juliet := ts.online(t, "juliet", "secret", "balcony")
	for _, c := range []*testClient{home, work} {
		c.send(`<iq type='set' id='enable1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
		c.expect("enable result", func(e *Element) bool { return e.AttrValue("id") == "enable1" && e.AttrValue("type") == "result" })
	}
	// §6: a message to one resource is copied to the carbon-enabled others.
	juliet.send(`<message to='romeo@localhost/home' type='chat' id='j1'><body>Wherefore art thou?</body></message>`)
	home.expect("the message itself", isMessageWithBody("Wherefore art thou?"))
	c := work.expect("received carbon", isCarbon("received", "Wherefore art thou?"))
	if c.AttrValue("from") != "romeo@localhost" || c.AttrValue("to") != "romeo@localhost/work" {
		t.Errorf("carbon addressed from %q to %q, want the bare JID to the full JID", c.AttrValue("from"), c.AttrValue("to"))
	}
	if inner := carbonOf("received", c); inner.AttrValue("from") != "juliet@localhost/balcony" {
		t.Errorf("forwarded message from %q", inner.AttrValue("from"))
	}
	// §7: what one resource sends is copied to the others, not to itself.
	work.send(`<message to='juliet@localhost' type='chat' id='r1'><body>Here I am</body></message>`)
	juliet.expect("romeo's answer", isMessageWithBody("Here I am"))
	home.expect("sent carbon", isCarbon("sent", "Here I am"))
	for _, e := range work.roundTrip() {
		if carbonOf("sent", e) != nil {
			t.Errorf("the sender got its own carbon: %s", e)
		}
	}
	// §8: <private/> is not copied and is removed before delivery.
	home.send(`<message to='juliet@localhost' type='chat' id='p1'><body>secret</body><private xmlns='urn:xmpp:carbons:2'/></message>`)
	got := juliet.expect("private message", isMessageWithBody("secret"))
	if got.Child(nsCarbons, "private") != nil {
		t.Errorf("<private/> reached the recipient: %s", got)
	}
	// A chat state is IM payload (§6): copied.
	juliet.send(`<message to='romeo@localhost/home' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	work.expect("chat state carbon", func(e *Element) bool {
		inner := carbonOf("received", e)
		return inner != nil && inner.Child(nsChatStates, "composing") != nil
	})
	for _, e := range append(work.roundTrip(), quiet.roundTrip()...) {
		if carbonOf("sent", e) != nil && isMessageWithBody("secret")(carbonOf("sent", e)) {
			t.Errorf("a <private/> message was copied: %s", e)
		}
	}
	for _, e := range quiet.roundTrip() {
		if e.Child(nsCarbons, "") != nil {
			t.Errorf("a resource without carbons got one: %s", e)
		}
	}
	// §5: disabled, no more copies.
	work.send(`<iq type='set' id='dis1'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	work.expect("disable result", func(e *Element) bool { return e.AttrValue("id") == "dis1" && e.AttrValue("type") == "result" })
	home.send(`<message to='juliet@localhost' type='chat'><body>after disable</body></message>`)
	juliet.expect("delivered", isMessageWithBody("after disable"))
	for _, e := range work.roundTrip() {
		if e.Child(nsCarbons, "") != nil {
			t.Errorf("carbon after disable: %s", e)
		}
	}
	// §3: the server advertises it.
	home.send(`<iq type='get' to='localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	info := home.expect("disco", func(e *Element) bool { return e.AttrValue("id") == "d1" })
	if !hasFeature(info, nsCarbons) {
		t.Errorf("server disco#info lacks %s: %s", nsCarbons, info)
	}
}

func hasFeature(iq *Element, feature string) bool {
	q := iq.Child(nsDiscoInfo, "query")
	if q == nil {
		return false
	}
	for _, f := range q.Elements() {
		if f.Name.Local == "feature" && f.AttrValue("var") == feature {
			return true
		}
	}
	return false
}

// A message from another front door (a SIP user, through the interop
// Router) is copied to the carbon-enabled resources that do not get it
// (XEP-0280 §6), as one from an XMPP user is.
func TestCarbonsOfMessageFromOtherFrontDoor(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "bob", "secret")
	high := ts.login(t, "bob", "secret", "high")
	high.send(`<presence><priority>5</priority></presence>`)
	high.roundTrip()
	low := ts.login(t, "bob", "secret", "low")
	low.send(`<presence><priority>1</priority></presence>`)
	low.send(`<iq type='set' id='e1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	low.expect("enable", isIQ("e1"))
	from, _ := jid.Parse("alice@localhost")
	to, _ := jid.Parse("bob@localhost")
	if ok, err := ts.srv.Deliver(t.Context(), interop.Message{From: from, To: to, Type: "chat", ID: "s1", Body: "from a desk phone"}); !ok || err != nil {
		t.Fatalf("Deliver = %v, %v", ok, err)
	}
	high.expect("the message", isMessageWithBody("from a desk phone"))
	low.expect("its received carbon", isCarbon("received", "from a desk phone"))
}
