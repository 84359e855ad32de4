package xmpp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/storage"
)

// befriend makes a and b subscribed to each other's presence (both).
func (ts *testServer) befriend(t *testing.T, a, b string) {
	t.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		_, err := ts.store.UpdateRoster(context.Background(), p[0], p[1]+"@"+ts.domain, func(st *storage.RosterState) error {
			st.OnRoster = true
			st.Item.Subscription = storage.SubscriptionBoth
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// capsInfo is a client's disco#info answer wanting notifications of nodes.
func capsInfo(nodes ...string) *Element {
	q := NewElement(nsDiscoInfo, "query")
	q.Append(NewElement(nsDiscoInfo, "identity", "category", "client", "type", "pc", "name", "test"))
	q.Append(NewElement(nsDiscoInfo, "feature", "var", nsDiscoInfo))
	for _, n := range nodes {
		q.Append(NewElement(nsDiscoInfo, "feature", "var", n+"+notify"))
	}
	return q
}

// presenceWithCaps sends initial presence naming info's capabilities and,
// if the server asks (XEP-0115 §6.3), answers its disco#info query. It
// returns whether the server asked, and the other stanzas read meanwhile.
func (c *testClient) presenceWithCaps(info *Element) (bool, []*Element) {
	c.t.Helper()
	ver := capsVer(info)
	c.send(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://parley.test' ver='%s'/></presence>`, ver)
	asked := false
	var other []*Element
	for _, e := range c.roundTrip() {
		if e.Name.Local == "iq" && e.AttrValue("type") == "get" {
			q := e.Child(nsDiscoInfo, "query")
			if q == nil || q.AttrValue("node") != "https://parley.test#"+ver {
				c.t.Fatalf("caps query %s", e)
			}
			asked = true
			ans := info.Copy()
			ans.SetAttr("node", q.AttrValue("node"))
			res := NewElement(nsClient, "iq", "type", "result", "id", e.AttrValue("id"), "to", e.AttrValue("from")).Append(ans)
			c.send("%s", res.String())
		} else {
			other = append(other, e)
		}
	}
	return asked, other
}

func isEvent(node string) func(*Element) bool {
	return func(e *Element) bool {
		ev := e.Child("http://jabber.org/protocol/pubsub#event", "event")
		return e.Name.Local == "message" && ev != nil && strings.Contains(ev.String(), `node="`+node+`"`)
	}
}

func noEvent(t *testing.T, c *testClient, what string) {
	t.Helper()
	for _, e := range c.roundTrip() {
		if e.Child("http://jabber.org/protocol/pubsub#event", "event") != nil {
			t.Fatalf("%s got an event: %s", what, e)
		}
	}
}

const nickNode = "http://jabber.org/protocol/nick"

// XEP-0163 §4.3: a publish is notified to the owner's and its presence
// subscribers' resources whose capabilities (XEP-0115) ask for the node,
// and to no one else; a resource that comes online later with those
// capabilities gets the last item (§4.3.4), from the cache without a
// second query.
func TestPEPNotifyFilteredByCaps(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		ts.addUser(t, u, "secret")
	}
	ts.befriend(t, "alice", "bob")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.login(t, "bob", "secret", "b")
	if asked, _ := bob.presenceWithCaps(capsInfo(nickNode)); !asked {
		t.Fatal("the server did not ask bob's client for its capabilities")
	}
	bob.roundTrip()
	carol := ts.login(t, "carol", "secret", "c")
	carol.presenceWithCaps(capsInfo(nickNode))
	carol.roundTrip()
	bobNoNotify := ts.login(t, "bob", "secret", "quiet")
	bobNoNotify.presenceWithCaps(capsInfo("urn:xmpp:other"))
	bobNoNotify.roundTrip()

	alice.send(`<iq type='set' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item id='current'><nick xmlns='%s'>Alice</nick></item></publish></pubsub></iq>`, nickNode, nickNode)
	res := alice.expect("publish result", func(e *Element) bool { return e.AttrValue("id") == "pub1" })
	if res.AttrValue("type") != "result" || !strings.Contains(res.String(), `id="current"`) {
		t.Fatalf("publish: %s", res)
	}
	ev := bob.expect("nick event", isEvent(nickNode))
	if ev.AttrValue("from") != "alice@localhost" || !strings.Contains(ev.String(), ">Alice</nick>") {
		t.Fatalf("event %s", ev)
	}
	noEvent(t, carol, "carol (no subscription)")
	noEvent(t, bobNoNotify, "bob's resource without +notify")
	noEvent(t, alice, "alice's resource without caps")

	late := ts.login(t, "bob", "secret", "late")
	asked, seen := late.presenceWithCaps(capsInfo(nickNode))
	if asked {
		t.Error("a known verification string was asked again")
	}
	if !slices.ContainsFunc(seen, isEvent(nickNode)) {
		t.Fatalf("no last item on presence; got %v", seen)
	}

	// carol subscribes to alice: her resource asking for nicks gets the
	// last one at once (send_last_published_item on_sub).
	carol.send(`<presence to='alice@localhost' type='subscribe'/>`)
	alice.expect("carol's request", func(e *Element) bool { return e.AttrValue("type") == "subscribe" })
	alice.send(`<presence to='carol@localhost' type='subscribed'/>`)
	carol.expect("the last nick on subscription", isEvent(nickNode))

	// Retraction is notified too (XEP-0060 §7.2.2.1).
	alice.send(`<iq type='set' id='r1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='%s' notify='true'><item id='current'/></retract></pubsub></iq>`, nickNode)
	alice.expect("retract result", func(e *Element) bool { return e.AttrValue("id") == "r1" && e.AttrValue("type") == "result" })
	ev = bob.expect("retract event", isEvent(nickNode))
	if !strings.Contains(ev.String(), `<retract id="current"`) {
		t.Fatalf("retract event %s", ev)
	}
}

func iqReply(c *testClient, id string) *Element {
	c.t.Helper()
	return c.expect("reply "+id, func(e *Element) bool { return e.AttrValue("id") == id && e.Name.Local == "iq" })
}

// XEP-0060 §6.5 and §7.1.5 on a PEP service: items by access model,
// publish-options as preconditions, max_items and item ids, the owner's
// configuration, deletion.
func TestPEPAccessAndOptions(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"alice", "bob", "stranger"} {
		ts.addUser(t, u, "secret")
	}
	ts.befriend(t, "alice", "bob")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.online(t, "bob", "secret", "b")
	stranger := ts.online(t, "stranger", "secret", "s")
	const devices = "eu.siacs.conversations.axolotl.devicelist"
	publish := func(id, node, item, options string) *Element {
		alice.send(`<iq type='set' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item id='current'>%s</item></publish>%s</pubsub></iq>`, id, node, item, options)
		return iqReply(alice, id)
	}
	openOpt := `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x></publish-options>`
	if r := publish("p1", devices, `<list xmlns='eu.siacs.conversations.axolotl'><device id='42'/></list>`, openOpt); r.AttrValue("type") != "result" {
		t.Fatalf("publish with access_model=open: %s", r)
	}
	get := func(c *testClient, id, node, extra string) *Element {
		c.send(`<iq type='get' id='%s' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'%s</pubsub></iq>`, id, node, extra)
		return iqReply(c, id)
	}
	if r := get(stranger, "g1", devices, "/>"); r.AttrValue("type") != "result" || !strings.Contains(r.String(), `<device id="42"`) {
		t.Fatalf("a stranger reading an open node: %s", r)
	}

	// The default access model is presence.
	publish("p2", nickNode, `<nick xmlns='http://jabber.org/protocol/nick'>A</nick>`, "")
	if r := get(stranger, "g2", nickNode, "/>"); !strings.Contains(r.String(), "not-authorized") || !strings.Contains(r.String(), "presence-subscription-required") {
		t.Fatalf("a stranger reading a presence node: %s", r)
	}
	if r := get(bob, "g3", nickNode, "/>"); r.AttrValue("type") != "result" || !strings.Contains(r.String(), ">A</nick>") {
		t.Fatalf("a subscriber reading a presence node: %s", r)
	}

	// publish-options that do not match the node: precondition-not-met.
	if r := publish("p3", nickNode, `<nick xmlns='http://jabber.org/protocol/nick'>B</nick>`, openOpt); !strings.Contains(r.String(), "precondition-not-met") || !strings.Contains(r.String(), "conflict") {
		t.Fatalf("mismatching publish-options: %s", r)
	}
	// The owner reconfigures, then the same publish goes through.
	alice.send(`<iq type='set' id='c1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#max_items'><value>max</value></field></x></configure></pubsub></iq>`, nickNode)
	if r := iqReply(alice, "c1"); r.AttrValue("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	alice.send(`<iq type='get' id='c2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='%s'/></pubsub></iq>`, nickNode)
	if r := iqReply(alice, "c2"); !strings.Contains(r.String(), "<value>whitelist</value>") || !strings.Contains(r.String(), "<value>1000</value>") {
		t.Fatalf("configuration form: %s", r)
	}
	if r := get(bob, "g4", nickNode, "/>"); !strings.Contains(r.String(), "not-allowed") || !strings.Contains(r.String(), "closed-node") {
		t.Fatalf("a contact reading a whitelisted node: %s", r)
	}
	for i, n := range []string{"one", "two", "three"} {
		alice.send(`<iq type='set' id='m%d'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='%s@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='%s'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`, i, n, n)
		if r := iqReply(alice, "m"+string(rune('0'+i))); r.AttrValue("type") != "result" {
			t.Fatalf("bookmark publish %d: %s", i, r)
		}
	}
	alice.send(`<iq type='get' id='i1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1' max_items='2'/></pubsub></iq>`)
	if r := iqReply(alice, "i1"); strings.Count(r.String(), "<item ") != 2 || !strings.Contains(r.String(), "three@") || strings.Contains(r.String(), "one@") {
		t.Fatalf("max_items=2: %s", r)
	}
	alice.send(`<iq type='get' id='i2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'><item id='one@conference.localhost'/></items></pubsub></iq>`)
	if r := iqReply(alice, "i2"); strings.Count(r.String(), "<item ") != 1 || !strings.Contains(r.String(), "one@") {
		t.Fatalf("item by id: %s", r)
	}

	// Only the owner publishes; a missing node is item-not-found.
	bob.send(`<iq type='set' id='x1' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item><nick xmlns='%s'>evil</nick></item></publish></pubsub></iq>`, nickNode, nickNode)
	if r := iqReply(bob, "x1"); !strings.Contains(r.String(), "forbidden") {
		t.Fatalf("publishing on another's node: %s", r)
	}
	if r := get(bob, "x2", "nothing-here", "/>"); !strings.Contains(r.String(), "item-not-found") {
		t.Fatalf("a missing node: %s", r)
	}
	alice.send(`<iq type='set' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='%s'/></pubsub></iq>`, devices)
	if r := iqReply(alice, "d1"); r.AttrValue("type") != "result" {
		t.Fatalf("delete: %s", r)
	}
	if r := get(stranger, "g5", devices, "/>"); !strings.Contains(r.String(), "item-not-found") {
		t.Fatalf("a deleted node: %s", r)
	}

	// disco#items lists the nodes the asker may read (XEP-0060 §5.2).
	bob.send(`<iq type='get' id='items' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if r := iqReply(bob, "items").String(); strings.Contains(r, "urn:xmpp:bookmarks:1") || strings.Contains(r, nickNode) || !strings.Contains(r, "type=\"result\"") {
		t.Fatalf("a contact's disco#items shows whitelisted nodes: %s", r)
	}
	alice.send(`<iq type='get' id='items2'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if r := iqReply(alice, "items2").String(); !strings.Contains(r, `node="urn:xmpp:bookmarks:1"`) || !strings.Contains(r, `node="`+nickNode+`"`) {
		t.Fatalf("the owner's disco#items: %s", r)
	}

	// The account advertises the PEP identity and publish-options.
	alice.send(`<iq type='get' id='di'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if r := iqReply(alice, "di"); !strings.Contains(r.String(), `category="pubsub" type="pep"`) || !strings.Contains(r.String(), "pubsub#publish-options") {
		t.Fatalf("account disco#info: %s", r)
	}
}

// XEP-0163 across servers: a contact on another server reads an open node
// (an OMEMO device list) over the server-to-server link and is sent the
// events of the nodes it may read, to its bare JID.
func TestPEPFederated(t *testing.T) {
	a, b := dialbackPair(t)
	a.addUser(t, "alice", "secret")
	b.addUser(t, "bob", "secret")
	alice := a.online(t, "alice", "secret", "r")
	bob := b.online(t, "bob", "secret", "r")
	bob.send(`<presence to='alice@a.test' type='subscribe'/>`)
	alice.expect("subscription request", func(e *Element) bool { return e.AttrValue("type") == "subscribe" })
	alice.send(`<presence to='bob@b.test' type='subscribed'/>`)
	bob.expect("approval", func(e *Element) bool { return e.AttrValue("type") == "subscribed" })
	waitFor(t, "alice's roster: bob subscribed", func() bool {
		it, err := a.store.RosterItem(context.Background(), "alice", "bob@b.test")
		return err == nil && it.Subscription == storage.SubscriptionFrom
	})

	const devices = "eu.siacs.conversations.axolotl.devicelist"
	alice.send(`<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='7'/></list></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x></publish-options></pubsub></iq>`, devices)
	if r := iqReply(alice, "p"); r.AttrValue("type") != "result" {
		t.Fatalf("publish: %s", r)
	}
	ev := bob.expect("the event over s2s", isEvent(devices))
	if ev.AttrValue("from") != "alice@a.test" {
		t.Fatalf("event %s", ev)
	}
	bob.send(`<iq type='get' id='g' to='alice@a.test'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'/></pubsub></iq>`, devices)
	if r := iqReply(bob, "g"); r.AttrValue("type") != "result" || !strings.Contains(r.String(), `<device id="7"`) {
		t.Fatalf("items over s2s: %s", r)
	}
	bob.send(`<iq type='set' id='x' to='alice@a.test'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item><list xmlns='eu.siacs.conversations.axolotl'/></item></publish></pubsub></iq>`, devices)
	if r := iqReply(bob, "x"); !strings.Contains(r.String(), "forbidden") {
		t.Fatalf("a remote user publishing on alice's node: %s", r)
	}
}

// XEP-0115 §5.4: an answer that does not hash to the verification string
// is believed for the session that gave it, but not cached: the next
// session naming the string is asked again.
func TestCapsUnverifiedNotCached(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ask := func(res string) bool {
		c := ts.login(t, "alice", "secret", res)
		c.send(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://parley.test' ver='not-the-hash'/></presence>`)
		asked := false
		for _, e := range c.roundTrip() {
			if e.Name.Local == "iq" && e.AttrValue("type") == "get" {
				asked = true
				ans := capsInfo(nickNode)
				ans.SetAttr("node", "https://parley.test#not-the-hash")
				c.send("%s", NewElement(nsClient, "iq", "type", "result", "id", e.AttrValue("id"), "to", e.AttrValue("from")).Append(ans).String())
			}
		}
		c.roundTrip()
		return asked
	}
	if !ask("one") {
		t.Fatal("the first session was not asked")
	}
	if !ask("two") {
		t.Fatal("an unverified answer was cached: the second session was not asked")
	}
}
