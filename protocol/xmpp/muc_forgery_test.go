package xmpp

import (
	"context"
	"strings"
	"testing"

	"github.com/parleychat/parley/storage"
)

// XEP-0045 §7.2.3: only the room says who an occupant really is. A
// client's own <x xmlns='http://jabber.org/protocol/muc#user'> in a room
// post (here claiming to be the owner, with a real JID) is dropped before
// the post is reflected or archived, as its stanza-id, occupant-id and
// delay are.
func TestForgedMUCUserItemIsStripped(t *testing.T) {
	ts, alice, bob := aliceAndBobInLobby(t)

	forged := `<x xmlns='http://jabber.org/protocol/muc#user'><item jid='boss@localhost/desk' affiliation='owner' role='moderator'/><status code='110'/></x>`
	alice.send(`<message to='%s' type='groupchat' id='f1'><body>trust me</body>%s</message>`, lobby, forged)
	noForgery := func(who string, e *Element) {
		t.Helper()
		if x := e.Child(nsMUCUser, "x"); x != nil || strings.Contains(e.String(), "boss@localhost") {
			t.Errorf("%s received the forged item: %s", who, e)
		}
	}
	noForgery("bob", bob.expect("post", isMessageWithBody("trust me")))
	noForgery("alice (reflection)", alice.expect("reflection", isMessageWithBody("trust me")))

	// Private messages carry the room's own muc#user <x/>, not the
	// sender's.
	alice.send(`<message to='%s/bob' type='chat' id='f2'><body>psst</body>%s</message>`, lobby, forged)
	pm := bob.expect("private message", isMessageWithBody("psst"))
	if strings.Contains(pm.String(), "boss@localhost") || strings.Count(pm.String(), "muc#user") != 1 {
		t.Errorf("private message %s", pm)
	}

	carol := ts.online(t, "carol", "secret", "c")
	for _, e := range join(t, carol, lobby, "carol", "") {
		if e.Name.Local == "message" && e.Child(nsClient, "body") != nil {
			noForgery("carol (history)", e)
		}
	}
	msgs, _, err := ts.store.QueryHistory(context.Background(), storage.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil || len(msgs) != 1 || strings.Contains(string(msgs[0].Stanza), "muc#user") {
		t.Errorf("archive %+v (%v): want the post without muc#user", msgs, err)
	}
}

// A forged item archived before it was stripped is not replayed: history
// on join and MAM leave it out.
func TestOldArchivedForgeryIsNotReplayed(t *testing.T) {
	ts, _, _ := aliceAndBobInLobby(t)
	history, mam := replayArchive(t, ts, oldPost("old-1", "forged item",
		`<message type="groupchat" id="a"><body>forged item</body><x xmlns="http://jabber.org/protocol/muc#user"><item jid="boss@localhost/desk" affiliation="owner"/></x></message>`))
	for _, e := range append(history, mam...) {
		if strings.Contains(e.String(), "muc#user") || strings.Contains(e.String(), "boss@") {
			t.Errorf("replays the forged item: %s", e)
		}
	}
	if len(history) != 1 || len(mam) != 1 {
		t.Errorf("%d history messages and %d MAM results, want 1 each", len(history), len(mam))
	}
}
