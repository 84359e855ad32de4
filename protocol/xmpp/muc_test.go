package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// XEP-0045, XEP-0313 and friends over a real socket, written like the
// XEPs' examples.

const room = "coven@conference.localhost"

func isPresenceFrom(from string) func(*Element) bool {
	return func(e *Element) bool { return e.Name.Local == "presence" && e.AttrValue("from") == from }
}

func statusCodes(p *Element) []string {
	var out []string
	if x := p.Child(nsMUCUser, "x"); x != nil {
		for _, s := range x.Elements() {
			if s.Name.Local == "status" {
				out = append(out, s.AttrValue("code"))
			}
		}
	}
	return out
}

func hasStatus(p *Element, code string) bool {
	for _, c := range statusCodes(p) {
		if c == code {
			return true
		}
	}
	return false
}

// join sends the join presence and waits for the subject, which ends the
// join (XEP-0045 §7.2.15); it returns everything received up to it.
func join(t *testing.T, c *testClient, roomJID, nick string, extra string) []*Element {
	t.Helper()
	c.send(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'>%s</x></presence>`, roomJID, nick, extra)
	var got []*Element
	c.expect("subject", func(e *Element) bool {
		got = append(got, e)
		if e.AttrValue("type") == "error" {
			t.Fatalf("join %s as %s: %s", roomJID, nick, e)
		}
		return e.Name.Local == "message" && e.Child(nsClient, "subject") != nil
	})
	return got
}

func (ts *testServer) createRoom(t *testing.T, name string, privacy muc.Privacy, typ muc.RoomType, managers, members, presenters []string) {
	t.Helper()
	r := storage.Room{Name: name}
	r.Moderated = typ == muc.Auditorium
	if _, err := ts.srv.cfg.Rooms.CreateRoom(context.Background(), muc.CreateRoomRequest{Room: r, Creator: muc.ActorAdmin, Privacy: privacy,
		Managers: managers, Members: members, Presenters: presenters}); err != nil {
		t.Fatal(err)
	}
}

// §10.1.2 instant room, §7.2 join order, §7.4 reflection with XEP-0359 and
// XEP-0421, history on join with XEP-0203 delay.
func TestMUCCreateJoinPost(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "crone", "secret")
	ts.addUser(t, "wiccarocks", "secret")
	crone := ts.online(t, "crone", "secret", "desktop")
	got := join(t, crone, room, "firstwitch", "")
	self := got[0]
	if !hasStatus(self, "201") || !hasStatus(self, "110") {
		t.Fatalf("creator's presence %s, want 201 and 110", self)
	}
	if item := self.Child(nsMUCUser, "x").Child(nsMUCUser, "item"); item.AttrValue("affiliation") != "owner" || item.AttrValue("role") != "moderator" {
		t.Errorf("creator item %s", item)
	}
	// Configure the reserved room (§10.1.3): new rooms are closed
	// (members only); open this one.
	crone.send(`<iq type='get' id='cfg0' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`, room)
	form := crone.expect("config form", func(e *Element) bool { return e.AttrValue("id") == "cfg0" })
	if !strings.Contains(form.String(), "muc#roomconfig_membersonly") {
		t.Fatalf("config form: %s", form)
	}
	crone.send(`<iq type='set' id='create1' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`+
		`<field var='muc#roomconfig_membersonly'><value>0</value></field><field var='muc#roomconfig_publicroom'><value>1</value></field></x></query></iq>`, room)
	crone.expect("instant room accepted", func(e *Element) bool { return e.AttrValue("id") == "create1" && e.AttrValue("type") == "result" })

	crone.send(`<message to='%s' type='groupchat' id='m1'><body>Thrice the brinded cat hath mew'd.</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>`, room)
	refl := crone.expect("reflection", isMessageWithBody("Thrice the brinded cat hath mew'd."))
	sid := refl.Child(nsStanzaID, "stanza-id")
	if refl.AttrValue("from") != room+"/firstwitch" || refl.AttrValue("id") != "m1" || sid == nil || sid.AttrValue("by") != room ||
		refl.Child(nsOccupantID, "occupant-id") == nil || refl.Child(nsOriginID, "origin-id") == nil {
		t.Errorf("reflection %s", refl)
	}

	witch := ts.online(t, "wiccarocks", "secret", "laptop")
	got = join(t, witch, room, "secondwitch", "")
	var order []string
	for _, e := range got {
		switch {
		case e.Name.Local == "presence":
			order = append(order, "presence:"+e.AttrValue("from"))
		case e.Child(nsClient, "subject") != nil:
			order = append(order, "subject")
		case e.Child(nsClient, "body") != nil:
			if e.Child(nsDelay, "delay") == nil || e.Child(nsStanzaID, "stanza-id") == nil {
				t.Errorf("history message without delay or stanza-id: %s", e)
			}
			order = append(order, "history")
		}
	}
	want := []string{"presence:" + room + "/firstwitch", "presence:" + room + "/secondwitch", "history", "subject"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("join order %v, want %v", order, want)
	}
	crone.expect("newcomer's presence", isPresenceFrom(room+"/secondwitch"))

	witch.send(`<message to='%s' type='groupchat'><body>Thrice and once the hedge-pig whined.</body></message>`, room)
	crone.expect("post from the second witch", isMessageWithBody("Thrice and once the hedge-pig whined."))

	// A nick in use is a conflict (§7.2.9).
	ts.addUser(t, "hag", "secret")
	hag := ts.online(t, "hag", "secret", "h")
	hag.send(`<presence to='%s/firstwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room)
	e := hag.expect("conflict", func(e *Element) bool { return e.AttrValue("type") == "error" })
	if !strings.Contains(e.String(), "conflict") {
		t.Errorf("nick conflict: %s", e)
	}

	// Leave (§7.14): the leaver gets unavailable with 110.
	witch.send(`<presence to='%s/secondwitch' type='unavailable'/>`, room)
	bye := witch.expect("own unavailable", isPresenceFrom(room+"/secondwitch"))
	if bye.AttrValue("type") != "unavailable" || !hasStatus(bye, "110") {
		t.Errorf("leave: %s", bye)
	}
}

func TestMUCAccessRules(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"boss", "member", "outsider", "speaker"} {
		ts.addUser(t, u, "secret")
	}
	ts.createRoom(t, "team", muc.Closed, muc.Normal, []string{"boss@localhost"}, []string{"member@localhost"}, nil)
	ts.createRoom(t, "plans", muc.Secret, muc.Normal, nil, []string{"member@localhost"}, nil)
	ts.createRoom(t, "townhall", muc.Open, muc.Auditorium, []string{"boss@localhost"}, nil, []string{"speaker@localhost"})
	out := ts.online(t, "outsider", "secret", "o")

	out.send(`<presence to='team@conference.localhost/o'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	e := out.expect("refusal", func(e *Element) bool { return e.AttrValue("type") == "error" })
	if !strings.Contains(e.String(), "registration-required") {
		t.Errorf("non-member joining a closed room: %s", e)
	}
	out.send(`<iq type='get' id='items' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	items := out.expect("items", func(e *Element) bool { return e.AttrValue("id") == "items" }).String()
	if !strings.Contains(items, "team@conference.localhost") || strings.Contains(items, "plans@") {
		t.Errorf("outsider's room list: %s", items)
	}
	member := ts.online(t, "member", "secret", "m")
	member.send(`<iq type='get' id='items' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if items := member.expect("items", func(e *Element) bool { return e.AttrValue("id") == "items" }).String(); !strings.Contains(items, "plans@") {
		t.Errorf("member's room list lacks the secret room: %s", items)
	}
	out.send(`<iq type='get' id='info' to='plans@conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if info := out.expect("info", func(e *Element) bool { return e.AttrValue("id") == "info" }).String(); !strings.Contains(info, "item-not-found") {
		t.Errorf("outsider sees the secret room's info: %s", info)
	}

	// Auditorium: a member without voice is refused, a presenter posts.
	join(t, out, "townhall@conference.localhost", "audience", "")
	out.send(`<message to='townhall@conference.localhost' type='groupchat' id='q'><body>question</body></message>`)
	e = out.expect("forbidden", func(e *Element) bool { return e.AttrValue("id") == "q" })
	if !strings.Contains(e.String(), "forbidden") {
		t.Errorf("visitor posting in an auditorium: %s", e)
	}
	speaker := ts.online(t, "speaker", "secret", "s")
	join(t, speaker, "townhall@conference.localhost", "speaker", "")
	speaker.send(`<message to='townhall@conference.localhost' type='groupchat'><body>welcome all</body></message>`)
	out.expect("presenter's post", isMessageWithBody("welcome all"))
}

// XEP-0313 with XEP-0059 paging both ways and XEP-0431 full-text search.
func TestMAMOnRoom(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.createRoom(t, "archive", muc.Open, muc.Normal, nil, nil, nil)
	a := ts.online(t, "alice", "secret", "a")
	join(t, a, "archive@conference.localhost", "alice", "<history maxstanzas='0'/>")
	for i := range 25 {
		word := "ordinary"
		if i == 3 {
			word = "xylophone"
		}
		a.send(`<message to='archive@conference.localhost' type='groupchat'><body>post %d %s</body></message>`, i, word)
	}
	a.roundTrip()
	query := func(id, form, rsm string) ([]*Element, *Element) {
		t.Helper()
		a.send(`<iq type='set' id='%s' to='archive@conference.localhost'><query xmlns='urn:xmpp:mam:2' queryid='%s'>%s%s</query></iq>`, id, id, form, rsm)
		var results []*Element
		fin := a.expect("fin", func(e *Element) bool {
			if r := e.Child(nsMAM, "result"); r != nil && r.AttrValue("queryid") == id {
				results = append(results, e)
			}
			return e.AttrValue("id") == id && e.Name.Local == "iq"
		})
		if fin.AttrValue("type") != "result" {
			t.Fatalf("MAM %s: %s", id, fin)
		}
		return results, fin.Child(nsMAM, "fin")
	}
	body := func(r *Element) string {
		return r.Child(nsMAM, "result").Child(nsForward, "forwarded").Child(nsClient, "message").Child(nsClient, "body").Text()
	}
	// The last page, then the one before it.
	res, fin := query("q1", "", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set>`)
	if len(res) != 10 || body(res[0]) != "post 15 ordinary" || body(res[9]) != "post 24 ordinary" || fin.AttrValue("complete") == "true" {
		t.Fatalf("last page: %d results, first %q, fin %s", len(res), body(res[0]), fin)
	}
	firstID := fin.Child(nsRSM, "set").Child(nsRSM, "first").Text()
	res, fin = query("q2", "", fmt.Sprintf(`<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before>%s</before></set>`, firstID))
	if len(res) != 10 || body(res[0]) != "post 5 ordinary" {
		t.Fatalf("page before: %d, first %q", len(res), body(res[0]))
	}
	res, fin = query("q3", "", fmt.Sprintf(`<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before>%s</before></set>`,
		fin.Child(nsRSM, "set").Child(nsRSM, "first").Text()))
	if len(res) != 5 || fin.AttrValue("complete") != "true" {
		t.Fatalf("first page: %d, fin %s", len(res), fin)
	}
	// Forward from the start with after.
	res, fin = query("q4", "", `<set xmlns='http://jabber.org/protocol/rsm'><max>20</max></set>`)
	last := fin.Child(nsRSM, "set").Child(nsRSM, "last").Text()
	res, fin = query("q5", "", fmt.Sprintf(`<set xmlns='http://jabber.org/protocol/rsm'><max>20</max><after>%s</after></set>`, last))
	if len(res) != 5 || body(res[0]) != "post 20 ordinary" || fin.AttrValue("complete") != "true" {
		t.Fatalf("after: %d, fin %s", len(res), fin)
	}
	// max=0 asks for the count only (XEP-0059 §2.6).
	res, fin = query("q0", "", `<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>`)
	if len(res) != 0 || fin.Child(nsRSM, "set").Child(nsRSM, "count").Text() != "25" {
		t.Fatalf("count: %d results, fin %s", len(res), fin)
	}
	// Full-text search.
	res, _ = query("q6", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='{urn:xmpp:fulltext:0}fulltext'><value>xylophone</value></field></x>`, "")
	if len(res) != 1 || body(res[0]) != "post 3 xylophone" {
		t.Fatalf("search: %d results", len(res))
	}
}

func TestMUCKickBanModerate(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "mod", "secret")
	ts.addUser(t, "troll", "secret")
	ts.createRoom(t, "lobby", muc.Open, muc.Normal, []string{"mod@localhost"}, nil, nil)
	mod := ts.online(t, "mod", "secret", "m")
	troll := ts.online(t, "troll", "secret", "t")
	join(t, mod, "lobby@conference.localhost", "mod", "")
	join(t, troll, "lobby@conference.localhost", "troll", "")
	troll.send(`<message to='lobby@conference.localhost' type='groupchat'><body>spam spam</body></message>`)
	spam := mod.expect("spam", isMessageWithBody("spam spam"))
	sid := spam.Child(nsStanzaID, "stanza-id").AttrValue("id")

	// XEP-0425 moderation: the room announces a retraction by a moderator.
	mod.send(`<iq type='set' id='mod1' to='lobby@conference.localhost'><moderate id='%s' xmlns='urn:xmpp:message-moderate:1'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>`, sid)
	ann := troll.expect("retraction", func(e *Element) bool { return e.Child(nsRetract, "retract") != nil })
	if ann.Child(nsRetract, "retract").AttrValue("id") != sid || ann.Child(nsRetract, "retract").Child(nsModerate, "moderated") == nil {
		t.Errorf("moderation announcement %s", ann)
	}
	// The XEP-0425 v0.2 form that slixmpp 1.8 sends works too.
	troll.send(`<message to='lobby@conference.localhost' type='groupchat'><body>more spam</body></message>`)
	spam = mod.expect("spam", isMessageWithBody("more spam"))
	sid = spam.Child(nsStanzaID, "stanza-id").AttrValue("id")
	mod.send(`<iq type='set' id='mod0' to='lobby@conference.localhost'><apply-to id='%s' xmlns='urn:xmpp:fasten:0'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to></iq>`, sid)
	if r := mod.expect("moderation result", func(e *Element) bool { return e.AttrValue("id") == "mod0" }); r.AttrValue("type") != "result" {
		t.Fatalf("v0.2 moderation: %s", r)
	}
	ann = troll.expect("second retraction", func(e *Element) bool {
		r := e.Child(nsRetract, "retract")
		return r != nil && r.AttrValue("id") == sid
	})
	// The announcement says it in v0.2 too (what slixmpp 1.8's
	// moderated_message event and older clients read).
	if a := ann.Child(nsFasten, "apply-to"); a == nil || a.AttrValue("id") != sid ||
		a.Child(nsModerate0, "moderated") == nil || a.Child(nsModerate0, "moderated").Child(nsRetract0, "retract") == nil {
		t.Errorf("moderation announcement without the v0.2 form: %s", ann)
	}
	// Kick (§8.2): status 307 to the kicked occupant.
	mod.send(`<iq type='set' id='kick1' to='lobby@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='troll' role='none'><reason>behave</reason></item></query></iq>`)
	kicked := troll.expect("kick", isPresenceFrom("lobby@conference.localhost/troll"))
	if kicked.AttrValue("type") != "unavailable" || !hasStatus(kicked, "307") || !hasStatus(kicked, "110") {
		t.Errorf("kick: %s", kicked)
	}
	// Ban (§9.1): 301, and no coming back.
	join(t, troll, "lobby@conference.localhost", "troll", "")
	mod.send(`<iq type='set' id='ban1' to='lobby@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='troll@localhost'/></query></iq>`)
	banned := troll.expect("ban", isPresenceFrom("lobby@conference.localhost/troll"))
	if !hasStatus(banned, "301") {
		t.Errorf("ban: %s", banned)
	}
	troll.send(`<presence to='lobby@conference.localhost/troll2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if e := troll.expect("refusal", func(e *Element) bool { return e.AttrValue("type") == "error" }); !strings.Contains(e.String(), "forbidden") {
		t.Errorf("banned user rejoining: %s", e)
	}
	// Self-ping (XEP-0410): joined answers result, not joined an error.
	mod.send(`<iq type='get' id='sp1' to='lobby@conference.localhost/mod'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r := mod.expect("self-ping", func(e *Element) bool { return e.AttrValue("id") == "sp1" }); r.AttrValue("type") != "result" {
		t.Errorf("self-ping while joined: %s", r)
	}
	troll.send(`<iq type='get' id='sp2' to='lobby@conference.localhost/troll'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r := troll.expect("self-ping", func(e *Element) bool { return e.AttrValue("id") == "sp2" }); !strings.Contains(r.String(), "not-acceptable") {
		t.Errorf("self-ping while out: %s", r)
	}
}

// §7.8.2 mediated invitations and declines, and §10.9 destroy with reason
// and alternate venue.
func TestMUCInvitationAndDestroy(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"owner", "guest"} {
		ts.addUser(t, u, "secret")
	}
	ts.createRoom(t, "team", muc.Closed, muc.Normal, []string{"owner@localhost"}, nil, nil)
	owner := ts.online(t, "owner", "secret", "o")
	guest := ts.online(t, "guest", "secret", "g")
	join(t, owner, "team@conference.localhost", "owner", "")

	owner.send(`<message to='team@conference.localhost'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='guest@localhost'><reason>Join us</reason></invite></x></message>`)
	inv := guest.expect("invitation", func(e *Element) bool {
		x := e.Child(nsMUCUser, "x")
		return e.Name.Local == "message" && x != nil && x.Child(nsMUCUser, "invite") != nil
	})
	if inv.AttrValue("from") != "team@conference.localhost" || inv.Child(nsMUCUser, "x").Child(nsMUCUser, "invite").AttrValue("from") != "owner@localhost" {
		t.Errorf("invitation %s", inv)
	}
	// A manager's invitation to a members-only room makes the guest a
	// member, so the guest can join.
	join(t, guest, "team@conference.localhost", "guest", "")
	guest.send(`<message to='team@conference.localhost'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='owner@localhost'><reason>Busy</reason></decline></x></message>`)
	owner.expect("decline", func(e *Element) bool {
		x := e.Child(nsMUCUser, "x")
		return x != nil && x.Child(nsMUCUser, "decline") != nil
	})

	guest.send(`<iq type='set' id='d0' to='team@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`)
	if r := guest.expect("refusal", func(e *Element) bool { return e.AttrValue("id") == "d0" }); !strings.Contains(r.String(), "forbidden") {
		t.Errorf("a member destroyed the room: %s", r)
	}
	owner.send(`<iq type='set' id='d1' to='team@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='lobby@conference.localhost'><reason>Moved</reason></destroy></query></iq>`)
	gone := guest.expect("destroy presence", func(e *Element) bool {
		x := e.Child(nsMUCUser, "x")
		return e.AttrValue("type") == "unavailable" && x != nil && x.Child(nsMUCUser, "destroy") != nil
	})
	if d := gone.Child(nsMUCUser, "x").Child(nsMUCUser, "destroy"); d.AttrValue("jid") != "lobby@conference.localhost" || d.Child(nsMUCUser, "reason").Text() != "Moved" {
		t.Errorf("destroy presence %s", gone)
	}
	owner.expect("destroy result", func(e *Element) bool { return e.AttrValue("id") == "d1" && e.AttrValue("type") == "result" })
	if _, err := ts.srv.cfg.Rooms.Room(context.Background(), "team", muc.ActorAdmin); muc.CodeOf(err) != muc.CodeNotFound {
		t.Errorf("room still there: %v", err)
	}
}

// A room larger than a session's queue limit can still be joined: the join
// snapshot is a server-made burst, not a slow reader.
func TestMUCJoinSnapshotLargerThanQueue(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.SendQueueLength = 8 })
	ts.createRoom(t, "big", muc.Open, muc.Normal, nil, nil, nil)
	for i := range 12 {
		u := fmt.Sprintf("user%d", i)
		ts.addUser(t, u, "secret")
		c := ts.online(t, u, "secret", "r")
		join(t, c, "big@conference.localhost", u, "")
	}
	ts.addUser(t, "late", "secret")
	late := ts.online(t, "late", "secret", "r")
	got := join(t, late, "big@conference.localhost", "late", "")
	presences := 0
	for _, e := range got {
		if e.Name.Local == "presence" {
			presences++
		}
	}
	if presences != 13 {
		t.Errorf("late joiner got %d presences, want 13", presences)
	}
	late.roundTrip()
}

// A client that drops its connection leaves its rooms: the others see its
// unavailable presence.
func TestMUCDisconnectLeavesRooms(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "stay", "secret")
	ts.addUser(t, "drop", "secret")
	ts.createRoom(t, "one", muc.Open, muc.Normal, nil, nil, nil)
	ts.createRoom(t, "two", muc.Open, muc.Normal, nil, nil, nil)
	stay := ts.online(t, "stay", "secret", "s")
	drop := ts.online(t, "drop", "secret", "d")
	for _, r := range []string{"one", "two"} {
		join(t, stay, r+"@conference.localhost", "stay", "")
		join(t, drop, r+"@conference.localhost", "drop", "")
	}
	drop.conn.Close()
	// The rooms are left in no particular order (the sink's set).
	left := map[string]bool{}
	for len(left) < 2 {
		p := stay.expect("unavailable from one and two", func(e *Element) bool {
			return (isPresenceFrom("one@conference.localhost/drop")(e) || isPresenceFrom("two@conference.localhost/drop")(e)) &&
				e.AttrValue("type") == "unavailable"
		})
		left[p.AttrValue("from")] = true
	}
	if n := len(ts.srv.cfg.Rooms.Occupants("one")); n != 1 {
		t.Errorf("room one has %d occupants, want 1", n)
	}
}

// One nick policy (RFC 8266, muc.NormalizeNick): a nick is kept in its
// enforced form, the joiner told with status 210 (XEP-0045 §7.2.3); a
// nick a reader could take for an occupant's (case, width, UTS #39
// confusables) is a conflict (§7.2.9).
func TestMUCNickPolicy(t *testing.T) {
	ts := startServer(t)
	ts.createRoom(t, "coven", muc.Open, muc.Normal, nil, nil, nil)
	ts.addUser(t, "crone", "secret")
	ts.addUser(t, "hag", "secret")
	crone := ts.online(t, "crone", "secret", "desktop")
	got := join(t, crone, room, "Ｆirstwitch", "") // a fullwidth F
	self := got[0]
	if self.AttrValue("from") != room+"/Firstwitch" || !hasStatus(self, "110") || !hasStatus(self, "210") {
		t.Fatalf("self-presence %s, want from %s/Firstwitch with 110 and 210", self, room)
	}
	hag := ts.online(t, "hag", "secret", "h")
	for _, nick := range []string{"Firstwitch", "FIRSTWITCH", "Ｆirstwitch", "F\u0456rstwitch" /* Cyrillic і */} {
		hag.send(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room, nick)
		e := hag.expect("an error", func(e *Element) bool { return e.AttrValue("type") == "error" })
		errEl := e.Child(nsClient, "error")
		if errEl == nil || errEl.AttrValue("type") != "cancel" || errEl.Child(nsStanzas, "conflict") == nil {
			t.Errorf("hag joining as %q: %s, want a conflict", nick, e)
		}
	}
	join(t, hag, room, "hag", "")
	crone.expect("hag's presence", isPresenceFrom(room+"/hag"))
	// Presence to the nick asked for updates the assigned one: no new join.
	crone.send(`<presence to='%s/Ｆirstwitch'><show>away</show></presence>`, room)
	p := hag.expect("crone's presence update", isPresenceFrom(room+"/Firstwitch"))
	if p.Child(nsClient, "show") == nil || p.Child(nsClient, "show").Text() != "away" {
		t.Errorf("presence update %s, want show away", p)
	}
	for _, e := range crone.roundTrip() {
		if e.Child(nsClient, "subject") != nil {
			t.Errorf("the presence update was taken as a new join: %s", e)
		}
	}
}

// RFC 6121 §5.2.3: a message may carry its body in several languages;
// XEP-0431 search finds a word of any of them (issue 18, Low: the second
// body was delivered but not searchable).
func TestSearchFindsEveryBody(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.createRoom(t, "polyglot", muc.Open, muc.Normal, nil, nil, nil)
	a := ts.online(t, "alice", "secret", "a")
	join(t, a, "polyglot@conference.localhost", "alice", "")
	a.send(`<message to='polyglot@conference.localhost' type='groupchat' xml:lang='en'><body>the meeting moved</body>` +
		`<body xml:lang='fr'>la réunion est déplacée</body></message>`)
	a.expect("reflection", isMessageWithBody("the meeting moved"))
	for _, word := range []string{"meeting", "réunion"} {
		a.send(`<iq type='set' id='%s' to='polyglot@conference.localhost'><query xmlns='urn:xmpp:mam:2' queryid='%s'><x xmlns='jabber:x:data' type='submit'>`+
			`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='{urn:xmpp:fulltext:0}fulltext'><value>%s</value></field></x></query></iq>`, word, word, word)
		found := 0
		a.expect("fin "+word, func(e *Element) bool {
			if e.Child(nsMAM, "result") != nil {
				found++
			}
			return e.Name.Local == "iq" && e.AttrValue("id") == word
		})
		if found != 1 {
			t.Errorf("search %q found %d messages, want 1", word, found)
		}
	}
}
