package xmpp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// presencesUntil reads c's stanzas until a groupchat message with body
// arrives and returns the from of every presence before it ("from" or
// "from unavailable"): what c was sent between two points of the room's
// order, with no waiting on time.
func presencesUntil(t *testing.T, c *testClient, body string) []string {
	t.Helper()
	var out []string
	c.expect("message "+body, func(e *Element) bool {
		if e.Name.Local == "iq" && e.AttrValue("type") == "error" {
			t.Fatalf("refused: %s", e)
		}
		if e.Name.Local == "presence" {
			s := e.AttrValue("from")
			if e.AttrValue("type") == "unavailable" {
				s += " unavailable"
			}
			out = append(out, s)
		}
		return isMessageWithBody(body)(e)
	})
	return out
}

// joinPresences joins c and returns the from of the presences of the
// join (XEP-0045 §7.2.3), each with its status codes.
func joinPresences(t *testing.T, c *testClient, roomJID, nick string) []string {
	t.Helper()
	var out []string
	for _, e := range join(t, c, roomJID, nick, "<history maxstanzas='0'/>") {
		if e.Name.Local == "presence" {
			out = append(out, strings.TrimSpace(e.AttrValue("from")+" "+strings.Join(statusCodes(e), " ")))
		}
	}
	return out
}

// muc#roomconfig_presencebroadcast (XEP-0045 §15.5.3): the owner's form
// offers and takes it; with moderators only, a participant joining is
// shown the moderators and itself (110) and nobody is shown it; a role
// change across the line is a join or an unavailable for the others; a
// kicked participant still gets its own 307.
func TestMUCPresenceBroadcast(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"crone", "alice", "bob"} {
		ts.addUser(t, u, "secret")
	}
	crone := ts.online(t, "crone", "secret", "desktop")
	roomJID := "big@conference.localhost"
	join(t, crone, roomJID, "crone", "")

	form := func(id string) map[string][]string {
		crone.send(`<iq type='get' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`, id, roomJID)
		f := crone.expect("config form", func(e *Element) bool { return e.AttrValue("id") == id })
		x := f.Child(nsMUCOwner, "query").Child(nsDataForms, "x")
		for _, fl := range x.Elements() {
			if fl.AttrValue("var") == "muc#roomconfig_presencebroadcast" {
				var opts []string
				for _, o := range fl.Elements() {
					if o.Name.Local == "option" {
						opts = append(opts, o.Child(nsDataForms, "value").Text())
					}
				}
				if fl.AttrValue("type") != "list-multi" || !slices.Equal(opts, []string{"moderator", "participant", "visitor"}) {
					t.Errorf("presencebroadcast field %s", fl)
				}
			}
		}
		return formValues(x)
	}
	submit := func(id string, values ...string) *Element {
		var b strings.Builder
		for _, v := range values {
			fmt.Fprintf(&b, "<value>%s</value>", v)
		}
		crone.send(`<iq type='set' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`+
			`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`+
			`<field var='muc#roomconfig_membersonly'><value>0</value></field>`+
			`<field var='muc#roomconfig_presencebroadcast'>%s</field></x></query></iq>`, id, roomJID, b.String())
		return crone.expect("reply to "+id, func(e *Element) bool { return e.AttrValue("id") == id && e.Name.Local == "iq" })
	}
	if got := form("f0")["muc#roomconfig_presencebroadcast"]; !slices.Equal(got, []string{"moderator", "participant", "visitor"}) {
		t.Errorf("a new room broadcasts %q, want every role", got)
	}
	if r := submit("s0", "visitor", "moderator"); r.AttrValue("type") != "result" {
		t.Fatalf("two roles refused: %s", r)
	}
	if got := form("f1")["muc#roomconfig_presencebroadcast"]; !slices.Equal(got, []string{"moderator", "visitor"}) {
		t.Errorf("after submitting visitor and moderator: %q", got)
	}
	if r := submit("s1", "moderator", "owner"); r.AttrValue("type") != "error" || r.Child(nsClient, "error").Child(nsStanzas, "bad-request") == nil {
		t.Errorf("an unknown role: %s, want bad-request", r)
	}
	if r := submit("s2", "moderator"); r.AttrValue("type") != "result" {
		t.Fatalf("moderator refused: %s", r)
	}
	if got := form("f2")["muc#roomconfig_presencebroadcast"]; !slices.Equal(got, []string{"moderator"}) {
		t.Errorf("after submitting moderator: %q", got)
	}

	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.online(t, "bob", "secret", "b")
	if got, want := joinPresences(t, alice, roomJID, "alice"), []string{roomJID + "/crone", roomJID + "/alice 170 110"}; !slices.Equal(got, want) {
		t.Errorf("alice's join: %q, want %q", got, want)
	}
	if got, want := joinPresences(t, bob, roomJID, "bob"), []string{roomJID + "/crone", roomJID + "/bob 170 110"}; !slices.Equal(got, want) {
		t.Errorf("bob's join: %q, want %q", got, want)
	}
	// A participant whose presence is not broadcast still posts.
	bob.send(`<message to='%s' type='groupchat'><body>one</body></message>`, roomJID)
	for name, c := range map[string]*testClient{"crone": crone, "alice": alice, "bob": bob} {
		if got := presencesUntil(t, c, "one"); len(got) != 0 {
			t.Errorf("%s was sent %q while the participants joined", name, got)
		}
	}

	// admin sends a muc#admin item and then a post with body: crone's
	// presences are read up to that post.
	admin := func(id, item, body string) {
		crone.send(`<iq type='set' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>`, id, roomJID, item)
		crone.send(`<message to='%s' type='groupchat'><body>%s</body></message>`, roomJID, body)
	}
	admin("r1", `<item nick='alice' role='moderator'/>`, "two")
	for name, c := range map[string]*testClient{"crone": crone, "alice": alice, "bob": bob} {
		if got := presencesUntil(t, c, "two"); !slices.Equal(got, []string{roomJID + "/alice"}) {
			t.Errorf("%s was sent %q when alice became a moderator, want her presence", name, got)
		}
	}
	admin("r2", `<item nick='alice' role='participant'/>`, "three")
	for name, c := range map[string]*testClient{"crone": crone, "bob": bob} {
		if got := presencesUntil(t, c, "three"); !slices.Equal(got, []string{roomJID + "/alice unavailable"}) {
			t.Errorf("%s was sent %q when alice stopped being a moderator, want her unavailable", name, got)
		}
	}
	if got := presencesUntil(t, alice, "three"); !slices.Equal(got, []string{roomJID + "/alice"}) {
		t.Errorf("alice was sent %q when she stopped being a moderator, want her own presence", got)
	}

	admin("k1", `<item nick='bob' role='none'><reason>bye</reason></item>`, "four")
	kicked := bob.expect("bob's removal", isPresenceFrom(roomJID+"/bob"))
	if kicked.AttrValue("type") != "unavailable" || !hasStatus(kicked, "307") || !hasStatus(kicked, "110") {
		t.Errorf("bob's removal: %s, want unavailable with 307 and 110", kicked)
	}
	for name, c := range map[string]*testClient{"crone": crone, "alice": alice} {
		if got := presencesUntil(t, c, "four"); len(got) != 0 {
			t.Errorf("%s was sent %q when bob was kicked", name, got)
		}
	}
}
