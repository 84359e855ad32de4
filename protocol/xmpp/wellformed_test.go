package xmpp

import (
	"context"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Stanzas that are not namespace-well-formed end the sender's stream with
// not-well-formed (RFC 6120 §4.9.3.13, §11.2), as Prosody and ejabberd
// (expat) do; nothing of them reaches another stream or the archive.

// The raw test client writes the bytes exactly as given, so it can send
// what no XMPP library would: an attribute given twice.

// sendSettled sends stanza and a ping after it, and reads until the ping's
// answer or a stream error: by then the server has dealt with stanza. It
// returns the stream error's condition, "" if the stream stayed open.
func (c *testClient) sendSettled(stanza string) string {
	c.t.Helper()
	c.send("%s<iq type='get' id='settle' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", stanza)
	el := c.expect("stream error or pong", func(e *Element) bool {
		return e.AttrValue("id") == "settle" || (e.Name.Space == nsStreams && e.Name.Local == "error")
	})
	for _, ch := range el.Elements() {
		if el.Name.Local == "error" && ch.Name.Space == nsStreamE && ch.Name.Local != "text" {
			return ch.Name.Local
		}
	}
	return ""
}

// A 1:1 message with 'from' twice: the server checked the first and
// stamped it, and relayed the second to the recipient, whose stream it
// broke.
func TestDuplicateFromIsNotWellFormed(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.online(t, "bob", "secret", "b")

	cond := alice.sendSettled(`<message to='bob@localhost/b' type='chat' id='dup1' from='alice@localhost/a' from='mallory@localhost/x'><body>forged</body></message>`)
	for _, e := range bob.roundTrip() {
		if strings.Contains(e.String(), "forged") {
			t.Errorf("bob received %s", e)
		}
	}
	bob.assertWellFormed()
	if cond != "not-well-formed" {
		t.Errorf("alice's stream error %q, want not-well-formed", cond)
	}
}

const lobby = "lobby@conference.localhost"

// aliceAndBobInLobby starts a server with users alice, bob and carol and an
// open room lobby, in which alice and bob are.
func aliceAndBobInLobby(t *testing.T) (ts *testServer, alice, bob *testClient) {
	t.Helper()
	ts = startServer(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		ts.addUser(t, u, "secret")
	}
	ts.createRoom(t, "lobby", muc.Open, muc.Normal, nil, nil, nil)
	alice = ts.online(t, "alice", "secret", "a")
	bob = ts.online(t, "bob", "secret", "b")
	join(t, alice, lobby, "alice", "")
	join(t, bob, lobby, "bob", "")
	return ts, alice, bob
}

// A room post whose <body> has xml:lang twice was reflected to every
// occupant and archived, so every later join with history and every MAM
// query broke the client again.
func TestDuplicateLangInRoomIsNotWellFormed(t *testing.T) {
	ts, alice, bob := aliceAndBobInLobby(t)

	cond := alice.sendSettled(`<message to='` + lobby + `' type='groupchat' id='dup2'><body xml:lang='en' xml:lang='de'>forged</body></message>`)
	if cond != "not-well-formed" {
		t.Errorf("alice's stream error %q, want not-well-formed", cond)
	}
	for _, e := range bob.roundTrip() {
		if strings.Contains(e.String(), "forged") {
			t.Errorf("bob received %s", e)
		}
	}
	bob.assertWellFormed()

	carol := ts.online(t, "carol", "secret", "c")
	for _, e := range join(t, carol, lobby, "carol", "") {
		if strings.Contains(e.String(), "forged") {
			t.Errorf("carol's history holds %s", e)
		}
	}
	if msgs, _, err := ts.store.QueryHistory(context.Background(), storage.HistoryQuery{Room: "lobby", Limit: 10}); err != nil || len(msgs) != 0 {
		t.Errorf("archive: %d messages (%v), want none", len(msgs), err)
	}
	carol.assertWellFormed()
}

// Every other way a stanza can fail to be namespace-well-formed, at any
// depth, ends the stream the same way.
func TestNotNamespaceWellFormedStanzas(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	for _, stanza := range []string{
		`<message to='bob@localhost'><x xmlns='urn:a'><y><z k='1' k='2'/></y></x></message>`,
		`<message to='bob@localhost'><x xmlns='urn:a' xmlns:p='urn:b' xmlns:q='urn:b' p:k='1' q:k='2'/></message>`,
		`<message to='bob@localhost'><x xmlns='urn:a' xmlns='urn:b'/></message>`,
		`<message to='bob@localhost'><p:x/></message>`,
		`<message to='bob@localhost'><x xmlns='urn:a' p:k='1'/></message>`,
		`<message to='bob@localhost'><x xmlns:p=''/></message>`,
		`<message to='bob@localhost'><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>`,
		`<message to='bob@localhost'><x xmlns:xml='urn:a'/></message>`,
		`<message to='bob@localhost'><a:/></message>`,
		`<iq type='get' id='1' type='set'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<presence><status xml:lang='en' xml:lang='fr'>away</status></presence>`,
	} {
		c := ts.login(t, "alice", "secret", "a")
		c.send("%s", stanza)
		if cond := c.expectStreamError(); cond != "not-well-formed" {
			t.Errorf("%s: stream error %q, want not-well-formed", stanza, cond)
		}
	}
	// The stream header itself.
	c := dialRaw(t, ts.addr)
	c.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' to='example.org' version='1.0'>`)
	c.readStreamHeader()
	if cond := c.expectStreamError(); cond != "not-well-formed" {
		t.Errorf("header with 'to' twice: stream error %q, want not-well-formed", cond)
	}
}

// Not a regression test but its guard: a prefix the client declared on its
// stream header is in force in its stanzas (Namespaces in XML §6.1), so
// the undeclared-prefix check must not refuse them, and the stanza is
// relayed with the prefix's namespace declared where the recipient needs
// it.
func TestStreamHeaderPrefixes(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	bob := ts.online(t, "bob", "secret", "b")
	c := ts.loginWithHeader(t, "alice", "secret", "a", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:e='urn:example' to='localhost' version='1.0'>`)
	c.send(`<message to='bob@localhost/b' type='chat'><body>hi</body><e:note e:level='2'>n</e:note></message>`)
	got := bob.expect("message", isMessageWithBody("hi"))
	if n := got.Child("urn:example", "note"); n == nil || n.Text() != "n" {
		t.Errorf("relayed %s", got)
	}
	bob.assertWellFormed()
}

// loginWithHeader logs user in and binds resource, with header as the
// stream header after authentication.
func (ts *testServer) loginWithHeader(t testing.TB, user, password, resource, header string) *testClient {
	t.Helper()
	c := dialRaw(t, ts.addr)
	c.openStream()
	c.startTLS()
	if !c.scramAuth("SCRAM-SHA-256", user, password) {
		t.Fatal("login failed")
	}
	c.send(`<?xml version='1.0'?>%s`, header)
	c.readStreamHeader()
	c.next() // features
	c.bind(resource)
	return c
}

// replayArchive archives rows as they were written before the server
// checked what it archives (stanza as given), then has carol join the
// lobby and query its archive, and returns the messages with a body she
// got in the join's history and the MAM results.
func replayArchive(t *testing.T, ts *testServer, rows ...storage.HistoryMessage) (history, mam []*Element) {
	t.Helper()
	for i, h := range rows {
		_, err := ts.store.AppendHistory(context.Background(), []storage.PostWrite{{
			History: &h,
			Event:   storage.OutboxEvent{EventID: "old-ev-" + h.StanzaID, Type: "post", Room: h.Room, Actor: h.RealJID},
		}})
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	carol := ts.online(t, "carol", "secret", "c")
	for _, e := range join(t, carol, lobby, "carol", "") {
		if e.Name.Local == "message" && e.Child(nsClient, "body") != nil {
			history = append(history, e)
		}
	}
	carol.send(`<iq type='set' id='mam1' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>`, lobby)
	carol.expect("MAM fin", func(e *Element) bool {
		if r := e.Child(nsMAM, "result"); r != nil {
			mam = append(mam, r)
		}
		return e.AttrValue("id") == "mam1"
	})
	carol.assertWellFormed()
	return history, mam
}

// oldPost is an archived post by mallory as it was stored before these
// checks existed.
func oldPost(stanzaID, body, stanza string) storage.HistoryMessage {
	return storage.HistoryMessage{Room: "lobby", StanzaID: stanzaID, Nick: "mallory", RealJID: "mallory@localhost",
		FrontDoor: "xmpp", Kind: storage.KindPost, Body: body, Stanza: []byte(stanza)}
}

// A row archived before the server checked stanzas (xml:lang twice) is
// never sent as it is: history on join and MAM fall back to its body until
// the migration repairs it (storage/internal/stanzarepair).
func TestOldArchiveRowNotWellFormed(t *testing.T) {
	ts, _, _ := aliceAndBobInLobby(t)
	history, mam := replayArchive(t, ts,
		oldPost("old-1", "twice", `<message type="groupchat" id="b"><body xml:lang="en" xml:lang="de">twice</body></message>`))
	if len(history) != 1 || len(mam) != 1 || history[0].Child(nsClient, "body").Text() != "twice" {
		t.Errorf("history %v, MAM %v: want the body once in each", history, mam)
	}
}
