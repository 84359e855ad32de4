package xmpp

import (
	"testing"
)

// XEP-0045 §7.14: an occupant who leaves with a status is seen leaving
// with it (slixmpp's itest test_muc.test_leave); one whose connection
// ends, or who is kicked, carries no stale status from an earlier
// presence.
func TestMUCLeaveWithStatus(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "crone", "secret")
	ts.addUser(t, "wiccarocks", "secret")
	crone := ts.online(t, "crone", "secret", "desktop")
	join(t, crone, room, "firstwitch", "")
	submitConfig(t, crone, room, "open", [][2]string{{"muc#roomconfig_membersonly", "0"}})

	statusOf := func(p *Element) string {
		if s := p.Child(nsClient, "status"); s != nil {
			return s.Text()
		}
		return ""
	}
	gone := func(nick string) func(*Element) bool {
		return func(e *Element) bool {
			return e.Name.Local == "presence" && e.AttrValue("from") == room+"/"+nick && e.AttrValue("type") == "unavailable"
		}
	}

	witch := ts.online(t, "wiccarocks", "secret", "laptop")
	witch.send(`<presence to='%s/secondwitch'><x xmlns='http://jabber.org/protocol/muc'/><status>brewing</status></presence>`, room)
	crone.expect("newcomer", isPresenceFrom(room+"/secondwitch"))
	witch.send(`<presence to='%s/secondwitch' type='unavailable'><status>boooring</status></presence>`, room)
	if p := crone.expect("leave", gone("secondwitch")); statusOf(p) != "boooring" {
		t.Errorf("leave with status: %s, want <status>boooring</status>", p)
	}

	// Kicked: the earlier status ("brewing") is not repeated.
	join(t, witch, room, "thirdwitch", "")
	crone.expect("rejoin", isPresenceFrom(room+"/thirdwitch"))
	crone.send(`<iq type='set' id='k1' to='%s'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='thirdwitch' role='none'/></query></iq>`, room)
	if p := crone.expect("kick", gone("thirdwitch")); statusOf(p) != "" || !hasStatus(p, "307") {
		t.Errorf("kick: %s, want 307 and no status text", p)
	}

	// The connection ends: no status either.
	other := ts.online(t, "wiccarocks", "secret", "phone")
	other.send(`<presence to='%s/fourthwitch'><x xmlns='http://jabber.org/protocol/muc'/><status>flying</status></presence>`, room)
	crone.expect("fourth", isPresenceFrom(room+"/fourthwitch"))
	other.conn.Close()
	if p := crone.expect("disconnect", gone("fourthwitch")); statusOf(p) != "" {
		t.Errorf("disconnect: %s, want no status text", p)
	}
}
