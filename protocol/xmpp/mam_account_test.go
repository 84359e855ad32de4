package xmpp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// mamPage runs a query on c's own archive and returns the forwarded
// messages' bodies, the <result/> ids and the <fin/>.
func mamPage(t *testing.T, c *testClient, id, inner string) (bodies, ids []string, fin *Element) {
	t.Helper()
	c.send(`<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'>%s</query></iq>`, id, id, inner)
	c.expect("fin "+id, func(e *Element) bool {
		if res := e.Child(nsMAM, "result"); res != nil && res.AttrValue("queryid") == id {
			msg := res.Child(nsForward, "forwarded").Child(nsClient, "message")
			bodies = append(bodies, msg.Child(nsClient, "body").Text())
			ids = append(ids, res.AttrValue("id"))
			return false
		}
		if isIQ(id)(e) {
			if e.AttrValue("type") != "result" {
				t.Fatalf("query %s: %s", id, e)
			}
			fin = e.Child(nsMAM, "fin")
			return true
		}
		return false
	})
	return bodies, ids, fin
}

func mamSubmit(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, fields[i], fields[i+1])
	}
	return b.String() + `</x>`
}

// XEP-0313 on the account, as its examples go: sent and received 1:1
// messages in the user's archive with the stanza-id the account assigned
// on the delivered message (XEP-0359), paging both ways (XEP-0059),
// with, full-text search (XEP-0431), #extended ids and metadata,
// preferences (§6.1), and the compliance event of each message.
func TestAccountArchive(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "juliet", "secret")
	ts.addUser(t, "romeo", "secret")
	juliet := ts.online(t, "juliet", "secret", "balcony")
	romeo := ts.online(t, "romeo", "secret", "orchard")

	juliet.send(`<iq type='get' to='juliet@localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	info := juliet.expect("disco", isIQ("d1"))
	for _, f := range []string{nsMAM, nsMAMExtended, nsFullText} {
		if !hasFeature(info, f) {
			t.Errorf("the account does not advertise %s", f)
		}
	}

	for i, m := range []struct {
		from, to *testClient
		toJID    string
		body     string
	}{
		{romeo, juliet, "juliet@localhost", "But soft, what light"},
		{juliet, romeo, "romeo@localhost", "Wherefore art thou"},
		{romeo, juliet, "juliet@localhost/balcony", "Deny thy father"},
		{juliet, romeo, "romeo@localhost", "refuse thy name"},
	} {
		// A forged stanza-id by the recipient's archive is removed.
		m.from.send(`<message to='%s' type='chat' id='c%d'><body>%s</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='%s'/></message>`,
			m.toJID, i, m.body, strings.SplitN(m.toJID, "/", 2)[0])
		got := m.to.expect("delivered", isMessageWithBody(m.body))
		var sids []*Element
		for _, c := range got.Elements() {
			if c.Name.Space == nsStanzaID && c.Name.Local == "stanza-id" {
				sids = append(sids, c)
			}
		}
		if len(sids) != 1 || sids[0].AttrValue("id") == "forged" || sids[0].AttrValue("by") != strings.SplitN(m.toJID, "/", 2)[0] {
			t.Errorf("delivered message %d has stanza-ids %v, want the recipient archive's only", i, sids)
		}
	}
	juliet.send(`<message to='romeo@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	juliet.roundTrip()
	romeo.roundTrip()

	bodies, ids, fin := mamPage(t, juliet, "q1", "")
	want := []string{"But soft, what light", "Wherefore art thou", "Deny thy father", "refuse thy name"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") || fin.AttrValue("complete") != "true" {
		t.Fatalf("juliet's archive = %q (complete %q), want %q", bodies, fin.AttrValue("complete"), want)
	}
	if b, _, _ := mamPage(t, romeo, "q1r", ""); len(b) != 4 {
		t.Errorf("romeo's archive has %d messages, want the same 4", len(b))
	}
	// RSM forward and backward.
	bodies, _, fin = mamPage(t, juliet, "q2", `<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>`)
	if len(bodies) != 2 || fin.AttrValue("complete") == "true" {
		t.Errorf("first page of 2: %q complete %q", bodies, fin.AttrValue("complete"))
	}
	last := fin.Child(nsRSM, "set").Child(nsRSM, "last").Text()
	bodies, _, fin = mamPage(t, juliet, "q3", `<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>`+last+`</after></set>`)
	if strings.Join(bodies, "|") != "Deny thy father|refuse thy name" || fin.AttrValue("complete") != "true" {
		t.Errorf("page after %s: %q complete %q", last, bodies, fin.AttrValue("complete"))
	}
	bodies, _, _ = mamPage(t, juliet, "q4", `<set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set>`)
	if strings.Join(bodies, "|") != "refuse thy name" {
		t.Errorf("last page: %q", bodies)
	}
	bodies, _, _ = mamPage(t, juliet, "q5", `<set xmlns='http://jabber.org/protocol/rsm'><max>5</max><before>`+ids[2]+`</before></set>`)
	if strings.Join(bodies, "|") != "But soft, what light|Wherefore art thou" {
		t.Errorf("before the third: %q", bodies)
	}
	// with, full text, #extended ids and flip-page.
	if bodies, _, _ = mamPage(t, juliet, "q6", mamSubmit("with", "romeo@localhost", fieldFullText, "FATHER")); strings.Join(bodies, "|") != "Deny thy father" {
		t.Errorf("full-text search: %q", bodies)
	}
	if bodies, _, _ = mamPage(t, juliet, "q7", mamSubmit("with", "nobody@localhost")); len(bodies) != 0 {
		t.Errorf("with someone else: %q", bodies)
	}
	bodies, _, _ = mamPage(t, juliet, "q8", mamSubmit("ids", ids[3])+`<flip-page/>`)
	if strings.Join(bodies, "|") != "refuse thy name" {
		t.Errorf("by ids: %q", bodies)
	}
	if _, _, fin = mamPage(t, juliet, "q9", `<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>`); fin.Child(nsRSM, "set").Child(nsRSM, "count").Text() != "4" {
		t.Errorf("count: %s", fin)
	}
	juliet.send(`<iq type='get' id='md'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	md := juliet.expect("metadata", isIQ("md")).Child(nsMAM, "metadata")
	if md == nil || md.Child(nsMAM, "start").AttrValue("id") != ids[0] || md.Child(nsMAM, "end").AttrValue("id") != ids[3] {
		t.Errorf("metadata: %s", md)
	}
	// Someone else's archive is not theirs to read.
	romeo.send(`<iq type='set' id='x1' to='juliet@localhost'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if c := stanzaCondition(romeo.expect("refusal", isIQ("x1"))); c != "auth/forbidden" {
		t.Errorf("reading another's archive: %s", c)
	}

	// §6.1 preferences: never romeo.
	juliet.send(`<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never><jid>romeo@localhost</jid></never></prefs></iq>`)
	res := juliet.expect("prefs", isIQ("p1"))
	if p := res.Child(nsMAM, "prefs"); p == nil || p.Child(nsMAM, "never").Child(nsMAM, "jid").Text() != "romeo@localhost" {
		t.Fatalf("prefs result: %s", res)
	}
	romeo.send(`<message to='juliet@localhost' type='chat'><body>unarchived</body></message>`)
	juliet.expect("delivered", isMessageWithBody("unarchived"))
	if bodies, _, _ = mamPage(t, juliet, "q10", ""); len(bodies) != 4 {
		t.Errorf("a 'never' contact's message was archived: %q", bodies)
	}
	if bodies, _, _ = mamPage(t, romeo, "q11", ""); len(bodies) != 5 {
		t.Errorf("the sender's archive has %d messages, want 5", len(bodies))
	}

	// Compliance: one "direct" event per message said, none for the chat
	// state.
	evs, err := ts.store.ReadOutbox(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type != EventDirect {
			continue
		}
		n++
		var p map[string]string
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p["body"] == "" || p["to"] == "" || ev.Actor == "" {
			t.Errorf("event %+v payload %v", ev, err)
		}
	}
	if n != 5 {
		t.Errorf("%d direct events, want 5", n)
	}
}

// A 1:1 message another front door (SIP) takes from a user of the domain
// is recorded as an XMPP user's is (interop.Recorder): in both accounts'
// archives, with its compliance event; the recipient reads it with MAM.
func TestRecordFromOtherFrontDoor(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	from, _ := jid.Parse("alice@localhost")
	to, _ := jid.Parse("bob@localhost")
	if err := ts.srv.Record(t.Context(), interop.Message{From: from, To: to, Type: "chat", ID: "sip1", Body: "from a desk phone"}); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"alice", "bob"} {
		if n, err := ts.store.CountArchived(t.Context(), storage.ArchiveQuery{Owner: owner}); n != 1 || err != nil {
			t.Errorf("%s's archive holds %d messages (%v), want 1", owner, n, err)
		}
	}
	bob := ts.online(t, "bob", "secret", "b")
	if bodies, _, _ := mamPage(t, bob, "r1", ""); len(bodies) != 1 || bodies[0] != "from a desk phone" {
		t.Errorf("bob's archive: %q", bodies)
	}
	evs, err := ts.store.ReadOutbox(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == EventDirect && ev.Actor == "alice@localhost" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d direct events from alice, want 1", n)
	}
}

// A SIP user's message to an account that blocks them is refused
// (service-unavailable, XEP-0191 §3.3), and not archived.
func TestRecordRefusesBlocked(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	if err := ts.store.Block(t.Context(), "bob", []string{"alice@localhost"}); err != nil {
		t.Fatal(err)
	}
	from, _ := jid.Parse("alice@localhost")
	to, _ := jid.Parse("bob@localhost")
	err := ts.srv.Record(t.Context(), interop.Message{From: from, To: to, Type: "chat", Body: "let me in"})
	var ie *interop.Error
	if !errors.As(err, &ie) || ie.Condition != interop.ServiceUnavailable {
		t.Errorf("Record to a user who blocks the sender: %v, want service-unavailable", err)
	}
	if n, _ := ts.store.CountArchived(t.Context(), storage.ArchiveQuery{Owner: "bob"}); n != 0 {
		t.Errorf("a blocked message was archived")
	}
}

// A private message between two occupants of a room (XEP-0045 §7.5) is in
// both users' own archives (XEP-0313 §5.1.2), with the other side's
// occupant JID as 'with': the sender's copy outgoing to the recipient's
// occupant JID, the recipient's from the sender's occupant JID.
func TestAccountArchiveKeepsRoomPrivateMessages(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "crone", "secret")
	ts.addUser(t, "hag", "secret")
	ts.createRoom(t, "coven", muc.Open, muc.Normal, nil, nil, nil)
	crone := ts.online(t, "crone", "secret", "desktop")
	hag := ts.online(t, "hag", "secret", "laptop")
	join(t, crone, room, "firstwitch", "")
	join(t, hag, room, "secondwitch", "")

	crone.send(`<message to='%s/secondwitch' type='chat' id='pm1'><body>Where hast thou been, sister?</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, room)
	got := hag.expect("the private message", func(e *Element) bool {
		return e.Name.Local == "message" && e.Child(nsClient, "body") != nil && e.Child(nsClient, "body").Text() == "Where hast thou been, sister?"
	})
	if got.AttrValue("from") != room+"/firstwitch" {
		t.Fatalf("delivered from %s", got.AttrValue("from"))
	}

	for _, c := range []struct {
		client     *testClient
		with, from string
	}{
		{crone, room + "/secondwitch", "crone@localhost/desktop"},
		{hag, room + "/firstwitch", room + "/firstwitch"},
	} {
		var forwarded *Element
		c.client.send(`<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='q1'>%s</query></iq>`, mamSubmit("with", c.with))
		c.client.expect("fin", func(e *Element) bool {
			if res := e.Child(nsMAM, "result"); res != nil {
				forwarded = res.Child(nsForward, "forwarded").Child(nsClient, "message")
				return false
			}
			return isIQ("q1")(e)
		})
		if forwarded == nil {
			t.Fatalf("%s's archive has no message with %s", c.client.jid, c.with)
		}
		if b := forwarded.Child(nsClient, "body"); b == nil || b.Text() != "Where hast thou been, sister?" || forwarded.AttrValue("from") != c.from {
			t.Errorf("%s's archive holds %s, want the private message from %s", c.client.jid, forwarded, c.from)
		}
	}
}
