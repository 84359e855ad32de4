package xmpp

import (
	"strings"
	"testing"
	"time"
)

func isMessageWithBody(body string) func(*Element) bool {
	return func(e *Element) bool {
		b := e.Child(nsClient, "body")
		return e.Name.Local == "message" && b != nil && b.Text() == body
	}
}

// RFC 6121 §8.5.2.1.1 and §8.5.3.1: to a bare JID the message goes to the
// available resource(s) with the highest priority; to a full JID, to that
// resource. The server stamps 'from' (RFC 6120 §8.1.2.1).
func TestMessageRouting(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	bobHigh := ts.login(t, "bob", "secret", "high")
	bobHigh.send(`<presence><priority>5</priority></presence>`)
	bobHigh.roundTrip()
	bobLow := ts.login(t, "bob", "secret", "low")
	bobLow.send(`<presence><priority>1</priority></presence>`)
	bobLow.roundTrip()

	alice.send(`<message to='bob@localhost' type='chat'><body>to bare</body></message>`)
	m := bobHigh.expect("bare message", isMessageWithBody("to bare"))
	if m.AttrValue("from") != "alice@localhost/a" {
		t.Errorf("from = %q, want the sender's full JID", m.AttrValue("from"))
	}
	alice.send(`<message to='bob@localhost/low' type='chat'><body>to full</body></message>`)
	bobLow.expect("full message", isMessageWithBody("to full"))
	for _, e := range bobLow.roundTrip() {
		if isMessageWithBody("to bare")(e) {
			t.Error("the lower-priority resource got the bare-JID message")
		}
	}

	alice.send(`<message to='nobody@localhost' type='chat' id='x1'><body>hello?</body></message>`)
	errEl := alice.expect("error", func(e *Element) bool { return e.AttrValue("id") == "x1" })
	if errEl.AttrValue("type") != "error" || !strings.Contains(errEl.String(), "service-unavailable") {
		t.Errorf("message to unknown user: %s", errEl)
	}
	alice.send(`<message to='someone@elsewhere.example' id='x2'><body>remote</body></message>`)
	errEl = alice.expect("error", func(e *Element) bool { return e.AttrValue("id") == "x2" })
	if !strings.Contains(errEl.String(), "remote-server-not-found") {
		t.Errorf("message to another domain: %s", errEl)
	}
}

// RFC 6121 §8.5.2.2.1 and XEP-0160: stored while offline, delivered with a
// delay stamp at the next available presence, and only once.
func TestOfflineMessages(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	alice.send(`<message to='bob@localhost' type='chat' id='o1'><body>while you were out</body></message>`)
	alice.send(`<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	alice.send(`<message to='bob@localhost' type='chat' id='o2'><body>second</body></message>`)
	alice.roundTrip()

	bob := ts.login(t, "bob", "secret", "b")
	bob.send(`<presence/>`)
	first := bob.expect("first offline message", isMessageWithBody("while you were out"))
	if d := first.Child(nsDelay, "delay"); d == nil || d.AttrValue("stamp") == "" || d.AttrValue("from") != "localhost" {
		t.Errorf("offline message without XEP-0203 delay: %s", first)
	}
	bob.expect("second offline message", isMessageWithBody("second"))
	for _, e := range bob.roundTrip() {
		if e.Child(nsChatStates, "") != nil {
			t.Error("a chat-state-only message was stored")
		}
	}
	// Delivered means deleted: a new session gets nothing.
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := ts.store.OfflineMessages(t.Context(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d offline messages still stored after delivery", len(msgs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	bob2 := ts.login(t, "bob", "secret", "b2")
	bob2.send(`<presence/>`)
	for _, e := range bob2.roundTrip() {
		if e.Name.Local == "message" {
			t.Errorf("redelivered: %s", e)
		}
	}
}

func TestOfflineQuota(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxOfflineMessages = 2 })
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	for i := range 3 {
		alice.send(`<message to='bob@localhost' id='q%d'><body>%d</body></message>`, i, i)
	}
	errEl := alice.expect("quota error", func(e *Element) bool { return e.AttrValue("type") == "error" })
	if errEl.AttrValue("id") != "q2" || !strings.Contains(errEl.String(), "service-unavailable") {
		t.Errorf("got %s, want service-unavailable for q2", errEl)
	}
}

func rosterItems(q *Element) map[string]*Element {
	out := map[string]*Element{}
	for _, it := range q.Elements() {
		out[it.AttrValue("jid")] = it
	}
	return out
}

// RFC 6121 §2 and §3: roster set/get/push, and a subscription handshake
// that ends with subscription both ways and presence flowing.
func TestRosterAndSubscriptions(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.login(t, "alice", "secret", "a")
	alice.send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	res := alice.expect("roster", func(e *Element) bool { return e.AttrValue("id") == "r1" })
	if q := res.Child(nsRoster, "query"); q == nil || q.AttrValue("ver") != "0" || len(q.Elements()) != 0 {
		t.Fatalf("empty roster: %s", res)
	}
	alice.send(`<presence/>`)

	alice.send(`<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>`)
	push := alice.expect("roster push", func(e *Element) bool { return e.AttrValue("type") == "set" })
	it := rosterItems(push.Child(nsRoster, "query"))["bob@localhost"]
	if it == nil || it.AttrValue("subscription") != "none" || it.AttrValue("name") != "Bob" {
		t.Fatalf("push: %s", push)
	}
	alice.expect("set result", func(e *Element) bool { return e.AttrValue("id") == "r2" && e.AttrValue("type") == "result" })

	// Bob is offline when alice asks: the request waits for him.
	alice.send(`<presence to='bob@localhost' type='subscribe'/>`)
	push = alice.expect("ask push", func(e *Element) bool { return e.AttrValue("type") == "set" })
	if it := rosterItems(push.Child(nsRoster, "query"))["bob@localhost"]; it.AttrValue("ask") != "subscribe" {
		t.Fatalf("ask push: %s", push)
	}

	bob := ts.login(t, "bob", "secret", "b")
	bob.send(`<iq type='get' id='r3'><query xmlns='jabber:iq:roster'/></iq>`)
	bob.expect("roster", func(e *Element) bool { return e.AttrValue("id") == "r3" })
	bob.send(`<presence/>`)
	req := bob.expect("subscription request", func(e *Element) bool { return e.AttrValue("type") == "subscribe" })
	if req.AttrValue("from") != "alice@localhost" {
		t.Errorf("request from %q", req.AttrValue("from"))
	}
	bob.send(`<presence to='alice@localhost' type='subscribed'/>`)
	push = bob.expect("bob's push", func(e *Element) bool { return e.AttrValue("type") == "set" })
	if it := rosterItems(push.Child(nsRoster, "query"))["alice@localhost"]; it == nil || it.AttrValue("subscription") != "from" {
		t.Fatalf("bob's push: %s", push)
	}
	alice.expect("subscribed", func(e *Element) bool { return e.AttrValue("type") == "subscribed" })
	alice.expect("bob's presence", func(e *Element) bool {
		return e.Name.Local == "presence" && e.AttrValue("from") == "bob@localhost/b" && e.AttrValue("type") == ""
	})
	items, _, err := ts.store.Roster(t.Context(), "alice")
	if err != nil || len(items) != 1 || items[0].Subscription != "to" || items[0].Ask {
		t.Fatalf("alice's stored roster: %+v %v", items, err)
	}

	// Bob's presence changes reach alice; alice's do not reach bob (he
	// is not subscribed to her).
	bob.send(`<presence><show>away</show></presence>`)
	alice.expect("away", func(e *Element) bool { return e.Child(nsClient, "show") != nil })

	// Roster versioning: the same version gives an empty result.
	alice.send(`<iq type='get' id='r4'><query xmlns='jabber:iq:roster'/></iq>`)
	res = alice.expect("roster", func(e *Element) bool { return e.AttrValue("id") == "r4" })
	ver := res.Child(nsRoster, "query").AttrValue("ver")
	alice.send(`<iq type='get' id='r5'><query xmlns='jabber:iq:roster' ver='%s'/></iq>`, ver)
	res = alice.expect("roster", func(e *Element) bool { return e.AttrValue("id") == "r5" })
	if res.Child(nsRoster, "query") != nil {
		t.Errorf("same version should give an empty result: %s", res)
	}

	// Removing the item unsubscribes: bob's roster drops to none and he
	// sees alice's request go.
	alice.send(`<iq type='set' id='r6'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>`)
	alice.expect("remove result", func(e *Element) bool { return e.AttrValue("id") == "r6" && e.AttrValue("type") == "result" })
	bob.expect("unsubscribe", func(e *Element) bool { return e.AttrValue("type") == "unsubscribe" })
	deadline := time.Now().Add(5 * time.Second)
	for {
		it, err := ts.store.RosterItem(t.Context(), "bob", "alice@localhost")
		if err == nil && it.Subscription == "none" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's item after removal: %+v %v", it, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRosterSetErrors(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	alice := ts.login(t, "alice", "secret", "a")
	cases := map[string]string{
		`<item jid='bob@localhost'><group>x</group><group>x</group></item>`:    "bad-request",
		`<item jid='not a jid@@'/>`:                                            "bad-request",
		`<item jid='bob@localhost'/><item jid='carol@localhost'/>`:             "bad-request",
		`<item jid='nobody@localhost' subscription='remove'/>`:                 "item-not-found",
		`<item jid='bob@localhost'><group></group></item>`:                     "not-acceptable",
		`<item jid='bob@localhost' name='` + strings.Repeat("n", 2000) + `'/>`: "not-acceptable",
	}
	i := 0
	for items, want := range cases {
		i++
		alice.send(`<iq type='set' id='e%d'><query xmlns='jabber:iq:roster'>%s</query></iq>`, i, items)
		id := "e" + string(rune('0'+i))
		res := alice.expect("error", func(e *Element) bool { return e.AttrValue("id") == id })
		if res.AttrValue("type") != "error" || !strings.Contains(res.String(), want) {
			t.Errorf("%s: got %s, want %s", items, res, want)
		}
	}
}

// XEP-0030, XEP-0199, XEP-0092 on the server, and the RFC 6120 §8.4 rule
// for payloads nobody handles.
func TestServerIQs(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	ask := func(id, xml string) *Element {
		t.Helper()
		alice.send("%s", xml)
		return alice.expect(id, func(e *Element) bool { return e.AttrValue("id") == id })
	}
	info := ask("d1", `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	q := info.Child(nsDiscoInfo, "query")
	if q == nil || q.Child(nsDiscoInfo, "identity").AttrValue("category") != "server" {
		t.Fatalf("disco#info: %s", info)
	}
	var vars []string
	for _, f := range q.Elements() {
		if f.Name.Local == "feature" {
			vars = append(vars, f.AttrValue("var"))
		}
	}
	for _, want := range []string{nsDiscoInfo, nsDiscoItems, nsPing, nsVersion, "msgoffline"} {
		if !strings.Contains(strings.Join(vars, " "), want) {
			t.Errorf("feature %s not advertised: %v", want, vars)
		}
	}
	items := ask("d2", `<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if items.AttrValue("type") != "result" {
		t.Errorf("disco#items: %s", items)
	}
	own := ask("d3", `<iq type='get' id='d3' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(own.String(), `category="account"`) {
		t.Errorf("own account disco: %s", own)
	}
	other := ask("d4", `<iq type='get' id='d4' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(other.String(), "service-unavailable") {
		t.Errorf("unsubscribed account disco should be refused: %s", other)
	}
	pong := ask("p1", `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if pong.AttrValue("type") != "result" || pong.AttrValue("from") != "localhost" {
		t.Errorf("ping: %s", pong)
	}
	ver := ask("v1", `<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>`)
	if !strings.Contains(ver.String(), "<name>Parley</name>") {
		t.Errorf("version: %s", ver)
	}
	unknown := ask("u1", `<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing'/></iq>`)
	if !strings.Contains(unknown.String(), "service-unavailable") {
		t.Errorf("unknown payload: %s", unknown)
	}
	noResource := ask("u2", `<iq type='get' id='u2' to='bob@localhost/gone'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if !strings.Contains(noResource.String(), "service-unavailable") {
		t.Errorf("iq to absent resource: %s", noResource)
	}
	// An IQ to a full JID is routed to that client.
	bob := ts.online(t, "bob", "secret", "b")
	alice.send(`<iq type='get' id='c1' to='bob@localhost/b'><ping xmlns='urn:xmpp:ping'/></iq>`)
	got := bob.expect("routed ping", func(e *Element) bool { return e.AttrValue("id") == "c1" })
	if got.AttrValue("from") != "alice@localhost/a" {
		t.Errorf("routed iq: %s", got)
	}
	bob.send(`<iq type='result' id='c1' to='alice@localhost/a'/>`)
	alice.expect("ping result", func(e *Element) bool { return e.AttrValue("id") == "c1" && e.AttrValue("type") == "result" })
}

// RFC 6121 §4.5.2: a session that drops without unavailable presence is
// announced as unavailable to its contacts.
func TestPresenceOnDisconnect(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.login(t, "bob", "secret", "b")
	bob.send(`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`)
	bob.send(`<presence/>`)
	alice.send(`<presence to='bob@localhost' type='subscribe'/>`)
	bob.expect("request", func(e *Element) bool { return e.AttrValue("type") == "subscribe" })
	bob.send(`<presence to='alice@localhost' type='subscribed'/>`)
	alice.expect("bob online", func(e *Element) bool { return e.AttrValue("from") == "bob@localhost/b" && e.AttrValue("type") == "" })
	bob.conn.Close()
	alice.expect("bob offline", func(e *Element) bool {
		return e.AttrValue("from") == "bob@localhost/b" && e.AttrValue("type") == "unavailable"
	})
}
