package xmpp

import (
	"testing"
)

func presenceOfType(from, typ string) func(*Element) bool {
	return func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("from") == from && e.AttrValue("type") == typ
	}
}

// XEP-0191 as its examples go: the blocklist (§3.2), a block pushed to the
// user's other interested resource with unavailable presence to the
// blocked contact (§3.3), messages, IQs and presence stopped both ways
// with the XEP's errors (§3.3, §3.6), and unblocking (§3.4, §3.5).
func TestBlocking(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "juliet", "secret")
	ts.addUser(t, "romeo", "secret")
	ts.befriend(t, "juliet", "romeo")
	juliet := ts.online(t, "juliet", "secret", "chamber")
	other := ts.online(t, "juliet", "secret", "balcony")
	romeo := ts.login(t, "romeo", "secret", "orchard")
	romeo.send(`<presence/>`)
	romeo.expect("juliet's presence", presenceOfType("juliet@localhost/chamber", ""))

	// §3.1: the server says it supports blocking.
	juliet.send(`<iq type='get' to='localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if info := juliet.expect("disco", isIQ("d1")); !hasFeature(info, nsBlocking) {
		t.Errorf("server disco#info lacks %s", nsBlocking)
	}
	for _, c := range []*testClient{juliet, other} {
		c.send(`<iq type='get' id='bl1'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
		res := c.expect("blocklist", isIQ("bl1"))
		if bl := res.Child(nsBlocking, "blocklist"); res.AttrValue("type") != "result" || bl == nil || len(bl.Elements()) != 0 {
			t.Fatalf("empty blocklist: %s", res)
		}
	}
	juliet.send(`<iq type='set' id='b0'><block xmlns='urn:xmpp:blocking'/></iq>`)
	if c := stanzaCondition(juliet.expect("empty block", isIQ("b0"))); c != "modify/bad-request" {
		t.Errorf("a block without items: %s, want bad-request", c)
	}

	juliet.send(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@localhost'/></block></iq>`)
	juliet.expect("block result", func(e *Element) bool { return isIQ("b1")(e) && e.AttrValue("type") == "result" })
	push := other.expect("block push", func(e *Element) bool { return e.Name.Local == "iq" && e.Child(nsBlocking, "block") != nil })
	if it := push.Child(nsBlocking, "block").Child(nsBlocking, "item"); it == nil || it.AttrValue("jid") != "romeo@localhost" || push.AttrValue("type") != "set" {
		t.Errorf("push: %s", push)
	}
	romeo.expect("unavailable from juliet", presenceOfType("juliet@localhost/chamber", "unavailable"))

	// §3.3: from the blocked contact, a message and an IQ bounce with
	// service-unavailable; presence is dropped.
	romeo.send(`<message to='juliet@localhost' type='chat' id='m1'><body>let me in</body></message>`)
	if c := stanzaCondition(romeo.expect("bounce", func(e *Element) bool { return e.AttrValue("id") == "m1" })); c != "cancel/service-unavailable" {
		t.Errorf("message from a blocked contact: %s", c)
	}
	romeo.send(`<iq type='get' to='juliet@localhost/chamber' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if c := stanzaCondition(romeo.expect("iq bounce", isIQ("i1"))); c != "cancel/service-unavailable" {
		t.Errorf("IQ from a blocked contact: %s", c)
	}
	romeo.send(`<presence><show>dnd</show></presence>`)
	// §3.6: to the blocked contact, not-acceptable with <blocked/>.
	juliet.send(`<message to='romeo@localhost/orchard' type='chat' id='m2'><body>go away</body></message>`)
	bounce := juliet.expect("outbound bounce", func(e *Element) bool { return e.AttrValue("id") == "m2" })
	if c := stanzaCondition(bounce); c != "modify/not-acceptable" || bounce.Child(nsClient, "error").Child(nsBlockingErrors, "blocked") == nil {
		t.Errorf("message to a blocked contact: %s", bounce)
	}
	juliet.send(`<presence><show>away</show></presence>`)
	for _, e := range append(juliet.roundTrip(), other.roundTrip()...) {
		if isMessageWithBody("let me in")(e) || e.Name.Local == "presence" && e.AttrValue("from") == "romeo@localhost/orchard" {
			t.Errorf("juliet got from the blocked contact: %s", e)
		}
	}
	for _, e := range romeo.roundTrip() {
		if isMessageWithBody("go away")(e) || e.Name.Local == "presence" && e.AttrValue("from") == "juliet@localhost/chamber" {
			t.Errorf("the blocked contact got from juliet: %s", e)
		}
	}
	juliet.send(`<iq type='get' id='bl2'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	res := juliet.expect("blocklist", isIQ("bl2"))
	if items := res.Child(nsBlocking, "blocklist").Elements(); len(items) != 1 || items[0].AttrValue("jid") != "romeo@localhost" {
		t.Errorf("blocklist: %s", res)
	}

	// §3.5: unblock all; messages and presence flow again.
	juliet.send(`<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
	juliet.expect("unblock result", func(e *Element) bool { return isIQ("u1")(e) && e.AttrValue("type") == "result" })
	other.expect("unblock push", func(e *Element) bool { return e.Name.Local == "iq" && e.Child(nsBlocking, "unblock") != nil })
	romeo.expect("juliet's presence again", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("from") == "juliet@localhost/chamber" && e.AttrValue("type") == ""
	})
	romeo.send(`<message to='juliet@localhost/chamber' type='chat'><body>again</body></message>`)
	juliet.expect("message after unblock", isMessageWithBody("again"))
}
