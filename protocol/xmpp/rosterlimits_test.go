package xmpp

import (
	"fmt"
	"testing"
)

// Roster and subscription limits (issue 18, Low: subscribing to 2,000
// unknown contacts left a 2,000-item roster, and 1,000 repeated requests
// to one user were all delivered). A roster holds MaxRosterItems
// contacts: a subscription or roster set adding one more is refused with
// policy-violation. A repeated request is delivered once (RFC 6121
// Appendix A.3.1), and a user keeps MaxPendingRequests unanswered ones:
// a request from one more contact is dropped.
func TestRosterAndRequestLimits(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxRosterItems, c.MaxPendingRequests = 5, 3 })
	for _, u := range []string{"alice", "bob", "carol", "mallory", "m1", "m2", "m3", "m4"} {
		ts.addUser(t, u, "secret")
	}
	alice := ts.online(t, "alice", "secret", "a")
	for i := range 5 {
		alice.send(`<presence type='subscribe' to='nobody%d@localhost'/>`, i)
	}
	alice.roundTrip()
	alice.send(`<presence type='subscribe' id='sixth' to='nobody5@localhost'/>`)
	if typ, cond, _ := errorOf(t, alice.expect("refusal", isIQOrStanza("sixth"))); cond != "policy-violation" || typ != "modify" {
		t.Errorf("sixth contact: %s %s, want modify policy-violation", typ, cond)
	}
	alice.send(`<iq type='set' id='set6'><query xmlns='jabber:iq:roster'><item jid='nobody6@localhost'/></query></iq>`)
	if _, cond, _ := errorOf(t, alice.expect("roster set refusal", isIQ("set6"))); cond != "policy-violation" {
		t.Errorf("roster set of a sixth contact: %s", cond)
	}
	alice.send(`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`)
	if n := len(alice.expect("roster", isIQ("r")).Child(nsRoster, "query").Elements()); n != 5 {
		t.Errorf("roster holds %d items, want 5", n)
	}
	// A contact already there may still be changed.
	alice.send(`<iq type='set' id='rename'><query xmlns='jabber:iq:roster'><item jid='nobody0@localhost' name='Zero'/></query></iq>`)
	if r := alice.expect("rename", isIQ("rename")); r.AttrValue("type") != "result" {
		t.Errorf("renaming a contact on a full roster: %s", r)
	}

	// Ten identical requests reach bob once.
	bob := ts.online(t, "bob", "secret", "b")
	mallory := ts.online(t, "mallory", "secret", "m")
	for range 10 {
		mallory.send(`<presence type='subscribe' to='bob@localhost'/>`)
	}
	mallory.roundTrip()
	if n := countSubscribes(bob.roundTrip()); n != 1 {
		t.Errorf("bob got %d requests from mallory, want 1", n)
	}

	// carol keeps three unanswered requests; the fourth contact's is
	// dropped, and once she answers one there is room again.
	carol := ts.online(t, "carol", "secret", "c")
	for i := 1; i <= 4; i++ {
		m := ts.online(t, fmt.Sprintf("m%d", i), "secret", "m")
		m.send(`<presence type='subscribe' to='carol@localhost'/>`)
		m.roundTrip()
	}
	if n := countSubscribes(carol.roundTrip()); n != 3 {
		t.Errorf("carol got %d requests, want 3", n)
	}
	carol.send(`<presence type='unsubscribed' to='m1@localhost'/>`)
	carol.roundTrip()
	m4 := ts.online(t, "m4", "secret", "again")
	m4.send(`<presence type='subscribe' to='carol@localhost'/>`)
	m4.roundTrip()
	if n := countSubscribes(carol.roundTrip()); n != 1 {
		t.Errorf("after carol answered one, the next request arrived %d times, want 1", n)
	}
}

func countSubscribes(els []*Element) int {
	n := 0
	for _, e := range els {
		if e.Name.Local == "presence" && e.AttrValue("type") == "subscribe" {
			n++
		}
	}
	return n
}
