package xmpp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// XEP-0352: the feature is offered after authentication (§4); while the
// client is inactive (§5.1) presence and chat states are held back, the
// latest per sender only, and a message with a body goes through at once;
// <active/> (§5.2) writes what was held.
func TestCSIHoldsPresenceUntilActive(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	c := dialRaw(t, ts.addr)
	c.domain = ts.domain
	c.openStream()
	c.startTLS()
	if !c.scramAuth("SCRAM-SHA-256", "romeo", "secret") {
		t.Fatal("login failed")
	}
	if f := c.openStream(); f.Child(nsCSI, "csi") == nil {
		t.Fatalf("no <csi xmlns='%s'/> in the features after authentication: %s", nsCSI, f)
	}
	c.bind("phone")
	c.send(`<presence/>`)
	c.roundTrip()
	romeo := c
	juliet := ts.online(t, "juliet", "secret", "balcony")

	romeo.send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	romeo.roundTrip()
	for i := 1; i <= 5; i++ {
		juliet.send(`<presence to='romeo@localhost/phone'><status>mood %d</status></presence>`, i)
	}
	juliet.send(`<message to='romeo@localhost/phone' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	juliet.send(`<message to='romeo@localhost/phone' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	juliet.send(`<message to='romeo@localhost/phone' type='chat' id='m1'><body>Wake up</body></message>`)
	juliet.roundTrip()
	got := romeo.roundTrip()
	var bodies int
	for _, e := range got {
		switch {
		case isMessageWithBody("Wake up")(e):
			bodies++
		case e.Name.Local == "presence" && e.AttrValue("from") == "juliet@localhost/balcony":
			t.Errorf("presence written to an inactive client: %s", e)
		case e.Child(nsChatStates, "") != nil:
			t.Errorf("chat state written to an inactive client: %s", e)
		}
	}
	if bodies != 1 {
		t.Fatalf("the message with a body reached the inactive client %d times, want once at once; got %v", bodies, got)
	}

	romeo.send(`<active xmlns='urn:xmpp:csi:0'/>`)
	var presences, states []*Element
	for _, e := range romeo.roundTrip() {
		switch {
		case e.Name.Local == "presence" && e.AttrValue("from") == "juliet@localhost/balcony":
			presences = append(presences, e)
		case e.Name.Local == "message" && e.AttrValue("from") == "juliet@localhost/balcony":
			states = append(states, e)
		}
	}
	if len(presences) != 1 || presences[0].Child(nsClient, "status").Text() != "mood 5" {
		t.Errorf("on <active/> got presences %v, want only the latest (mood 5)", presences)
	}
	if len(states) != 1 || states[0].Child(nsChatStates, "paused") == nil {
		t.Errorf("on <active/> got chat states %v, want only the latest (paused)", states)
	}

	// Active again: presence flows at once.
	juliet.send(`<presence to='romeo@localhost/phone'><status>mood 6</status></presence>`)
	romeo.expect("presence while active", func(e *Element) bool {
		return e.Name.Local == "presence" && e.Child(nsClient, "status") != nil && e.Child(nsClient, "status").Text() == "mood 6"
	})
}

// The held stanzas never outgrow the send queue's bound: past it they
// are written as if the client had become active.
func TestCSIHeldIsBounded(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.SendQueueLength = 4 })
	ts.addUser(t, "romeo", "secret")
	romeo := ts.online(t, "romeo", "secret", "phone")
	romeo.send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	romeo.roundTrip()
	s := ts.sessionOf(romeo)
	for i := 0; i < 10; i++ {
		s.send([]byte(fmt.Sprintf(`<presence from="user%d@localhost/x" to="romeo@localhost/phone"/>`, i)))
	}
	s.mu.Lock()
	n := len(s.csi.index)
	s.mu.Unlock()
	if n > 4 {
		t.Errorf("%d senders' presence held with a queue bound of 4", n)
	}
	var got int
	for _, e := range romeo.roundTrip() {
		if e.Name.Local == "presence" {
			got++
		}
	}
	if got+n != 10 {
		t.Errorf("%d presences written and %d held of 10 sent", got, n)
	}
}

// holdKey reads the start tag of whatever is queued for a client: it must
// never fail on any input, and hold back only presence without a type or
// of type unavailable, and body-less chat-state messages.
func FuzzHoldKey(f *testing.F) {
	for _, seed := range []string{
		`<presence from="a@b/c" to="d@e/f"><status>x</status></presence>`,
		`<presence from="a@b/c" type="subscribe"/>`,
		`<presence type='unavailable' from='a'/>`,
		`<message from="a@b/c" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`,
		`<message from="a@b/c" type="chat"><body>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
		`<iq type="result" id="1"/>`, `<presence`, ` `, `<presence from="x>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key := holdKey(data)
		if key == "" {
			return
		}
		switch {
		case strings.HasPrefix(key, "p "):
			if !bytes.HasPrefix(data, []byte("<presence")) {
				t.Errorf("presence key %q for %q", key, data)
			}
		case strings.HasPrefix(key, "c "):
			if !bytes.HasPrefix(data, []byte("<message")) || bytes.Contains(data, []byte("<body")) {
				t.Errorf("chat-state key %q for %q", key, data)
			}
		default:
			t.Errorf("key %q for %q", key, data)
		}
	})
}
