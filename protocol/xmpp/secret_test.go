package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// A secret room does not exist for those outside it (issue 18, Medium: a
// non-member got "join room before posting" where a missing room gets
// item-not-found, and a walled user's refusal named the category). Every
// request an outsider can make about a room gets, word for word, the
// answer the same request about a room that does not exist gets.

// outsiderProbes are the requests an outsider can make about a room, each
// sent as a stanza with id and to the room's bare JID (%[1]s) or an
// occupant JID under it, and answered with an error stanza of that id.
var outsiderProbes = []struct{ name, stanza string }{
	{"join", `<presence id='%[2]s' to='%[1]s/peeker'><x xmlns='http://jabber.org/protocol/muc'/></presence>`},
	{"post", `<message id='%[2]s' to='%[1]s' type='groupchat'><body>hello?</body></message>`},
	{"mam", `<iq id='%[2]s' type='set' to='%[1]s'><query xmlns='urn:xmpp:mam:2'/></iq>`},
	{"search", `<iq id='%[2]s' type='set' to='%[1]s'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>` +
		`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` +
		`<field var='{urn:xmpp:fulltext:0}fulltext'><value>plans</value></field></x></query></iq>`},
	{"disco#info", `<iq id='%[2]s' type='get' to='%[1]s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`},
	{"disco#items", `<iq id='%[2]s' type='get' to='%[1]s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`},
	{"config", `<iq id='%[2]s' type='get' to='%[1]s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`},
	{"destroy", `<iq id='%[2]s' type='set' to='%[1]s'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`},
	{"member list", `<iq id='%[2]s' type='get' to='%[1]s'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`},
	{"ban", `<iq id='%[2]s' type='set' to='%[1]s'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='boss@localhost'/></query></iq>`},
	{"subject", `<message id='%[2]s' to='%[1]s' type='groupchat'><subject>mine now</subject></message>`},
	{"private message", `<message id='%[2]s' to='%[1]s/boss' type='chat'><body>psst</body></message>`},
	{"invite", `<message id='%[2]s' to='%[1]s'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='walled@localhost'/></x></message>`},
	{"occupant ping", `<iq id='%[2]s' type='get' to='%[1]s/boss'><ping xmlns='urn:xmpp:ping'/></iq>`},
	{"moderate", `<iq id='%[2]s' type='set' to='%[1]s'><moderate xmlns='urn:xmpp:message-moderate:1' id='x'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`},
	{"follow", `<iq id='%[2]s' type='set' to='conference.localhost'><command xmlns='http://jabber.org/protocol/commands' node='follow'>` +
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>%[1]s</value></field></x></command></iq>`},
}

// answerTo sends one probe about roomJID and returns the answer with the
// room's name replaced by ROOM and ids dropped, so that two answers
// compare equal exactly when they say the same.
func answerTo(t *testing.T, c *testClient, stanza, roomJID, id string) string {
	t.Helper()
	c.send(stanza, roomJID, id)
	reply := c.expect("answer "+id, func(e *Element) bool { return e.AttrValue("id") == id })
	local := strings.TrimSuffix(roomJID, "@conference.localhost")
	s := reply.String()
	s = strings.ReplaceAll(s, "id=\""+id+"\"", "")
	s = strings.ReplaceAll(s, roomJID, "ROOM")
	return strings.ReplaceAll(s, local, "ROOM")
}

func TestSecretRoomLooksMissing(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	for _, u := range []string{"boss", "member", "outsider", "walled", "banned"} {
		ts.addUser(t, u, "secret")
	}
	// Only the boss may create rooms, so that a join of a missing room is
	// refused rather than creating it.
	engine := ts.srv.cfg.Rooms
	def, err := engine.Category(ctx, muc.DefaultCategory)
	if err != nil {
		t.Fatal(err)
	}
	def.Creators = []string{"boss@localhost"}
	if err := engine.PutCategory(ctx, muc.ActorAdmin, def); err != nil {
		t.Fatal(err)
	}
	if err := engine.PutCategory(ctx, muc.ActorAdmin, storage.Category{Name: "legal", ChatHistory: true, Invitations: true,
		Creators: []string{"boss@localhost"}, DeniedMembers: []string{"walled@localhost"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "merger", Category: "legal"}, Creator: muc.ActorAdmin,
		Privacy: muc.Secret, Managers: []string{"boss@localhost"}, Members: []string{"member@localhost"}}); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetAffiliation(ctx, "merger", muc.ActorAdmin, "banned@localhost", muc.AffOutcast, ""); err != nil {
		t.Fatal(err)
	}
	// The same category's open room: a walled user is refused it without
	// being told which category or wall.
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "press", Category: "legal"}, Creator: muc.ActorAdmin,
		Privacy: muc.Open}); err != nil {
		t.Fatal(err)
	}
	boss := ts.online(t, "boss", "secret", "b")
	join(t, boss, "merger@conference.localhost", "boss", "")
	boss.send(`<message to='merger@conference.localhost' type='groupchat'><body>the plans</body></message>`)
	boss.expect("reflection", isMessageWithBody("the plans"))

	for _, who := range []string{"outsider", "walled", "banned"} {
		c := ts.online(t, who, "secret", "x")
		for i, p := range outsiderProbes {
			secret := answerTo(t, c, p.stanza, "merger@conference.localhost", fmt.Sprintf("s%d", i))
			missing := answerTo(t, c, p.stanza, "nosuch@conference.localhost", fmt.Sprintf("m%d", i))
			if secret != missing {
				t.Errorf("%s, %s: the secret room answers\n\t%s\nwhere a missing room answers\n\t%s", who, p.name, secret, missing)
			}
			if strings.Contains(secret, "legal") {
				t.Errorf("%s, %s: the answer names the category: %s", who, p.name, secret)
			}
		}
		c.send(`<iq type='get' id='items' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		if items := c.expect("items", isIQ("items")).String(); strings.Contains(items, "merger") {
			t.Errorf("%s sees the secret room listed: %s", who, items)
		}
	}

	// The member gets the room's real answers (the probes can tell).
	m := ts.online(t, "member", "secret", "m")
	if a := answerTo(t, m, outsiderProbes[4].stanza, "merger@conference.localhost", "mi"); !strings.Contains(a, "muc_hidden") {
		t.Errorf("a member's disco#info of the secret room: %s", a)
	}

	// A walled user's refusal from a room they may know of names no
	// category.
	w := ts.online(t, "walled", "secret", "w")
	w.send(`<presence id='wj' to='press@conference.localhost/w'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	refusal := w.expect("refusal", isIQOrStanza("wj"))
	if typ, cond, text := errorOf(t, refusal); cond != "forbidden" || typ != "auth" || strings.Contains(text, "legal") || strings.Contains(text, "wall") {
		t.Errorf("walled user's refusal of an open room: %s %s %q", typ, cond, text)
	}
}

func isIQOrStanza(id string) func(*Element) bool {
	return func(e *Element) bool { return e.AttrValue("id") == id }
}
