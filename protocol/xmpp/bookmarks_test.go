package xmpp

import (
	"strings"
	"testing"
)

// XEP-0402 §5.3 and XEP-0411: bookmarks stored by an old client in private
// XML (XEP-0049/XEP-0048) appear as native PEP bookmarks, notified to the
// resources that ask for them, and native ones published or retracted by a
// new client appear in private storage and in XEP-0048's PEP node.
func TestBookmarksKeptInStep(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	newer := ts.login(t, "alice", "secret", "new")
	newer.presenceWithCaps(capsInfo("urn:xmpp:bookmarks:1"))
	newer.roundTrip()
	older := ts.online(t, "alice", "secret", "old")

	older.send(`<iq type='set' id='s1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='one@conference.localhost' name='One' autojoin='true'><nick>al</nick></conference><url name='site' url='https://example.com/'/></storage></query></iq>`)
	if r := iqReply(older, "s1"); r.AttrValue("type") != "result" {
		t.Fatalf("private set: %s", r)
	}
	ev := newer.expect("native bookmark event", isEvent("urn:xmpp:bookmarks:1"))
	if s := ev.String(); !strings.Contains(s, `id="one@conference.localhost"`) || !strings.Contains(s, `autojoin="true"`) || !strings.Contains(s, "<nick>al</nick>") {
		t.Fatalf("event %s", ev)
	}

	newer.send(`<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='two@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='Two'><nick>al2</nick></conference></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`)
	if r := iqReply(newer, "p1"); r.AttrValue("type") != "result" {
		t.Fatalf("native publish: %s", r)
	}
	getPrivate := func(id string) string {
		older.send(`<iq type='get' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`, id)
		return iqReply(older, id).String()
	}
	if s := getPrivate("g1"); !strings.Contains(s, `jid="one@conference.localhost"`) || !strings.Contains(s, `jid="two@conference.localhost"`) ||
		!strings.Contains(s, "<nick>al2</nick>") || !strings.Contains(s, `url="https://example.com/"`) {
		t.Fatalf("private bookmarks after a native publish: %s", s)
	}

	newer.send(`<iq type='set' id='r1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:xmpp:bookmarks:1' notify='true'><item id='one@conference.localhost'/></retract></pubsub></iq>`)
	if r := iqReply(newer, "r1"); r.AttrValue("type") != "result" {
		t.Fatalf("native retract: %s", r)
	}
	if s := getPrivate("g2"); strings.Contains(s, "one@conference") || !strings.Contains(s, "two@conference") {
		t.Fatalf("private bookmarks after a retract: %s", s)
	}
	older.send(`<iq type='get' id='g3'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='storage:bookmarks'/></pubsub></iq>`)
	if s := iqReply(older, "g3").String(); strings.Contains(s, "one@conference") || !strings.Contains(s, `jid="two@conference.localhost"`) {
		t.Fatalf("XEP-0048 PEP bookmarks: %s", s)
	}

	older.send(`<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if s := iqReply(older, "d").String(); !strings.Contains(s, "urn:xmpp:bookmarks:1#compat") || !strings.Contains(s, "urn:xmpp:bookmarks-conversion:0") || !strings.Contains(s, "jabber:iq:private") {
		t.Fatalf("account disco#info: %s", s)
	}
	// Private storage is the account's own.
	ts.addUser(t, "eve", "secret")
	eve := ts.online(t, "eve", "secret", "e")
	eve.send(`<iq type='get' id='e1' to='alice@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
	if r := iqReply(eve, "e1"); r.AttrValue("type") != "error" {
		t.Fatalf("another account's private storage: %s", r)
	}
}
