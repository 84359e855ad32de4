package xmpp

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// smClient counts the stanzas a raw client reads, as XEP-0198 §4 has a
// client count them, and answers nothing by itself.
type smClient struct {
	*testClient
	handled int
}

func isStanza(e *Element) bool {
	switch e.Name.Local {
	case "iq", "message", "presence":
		return e.Name.Space == nsClient
	}
	return false
}

// read reads the next element, counting it if it is a stanza.
func (c *smClient) read() *Element {
	c.t.Helper()
	e := c.next()
	if isStanza(e) {
		c.handled++
	}
	return e
}

// until reads until match, counting stanzas on the way; it returns what
// it read before the match.
func (c *smClient) until(what string, match func(*Element) bool) (before []*Element, got *Element) {
	c.t.Helper()
	for i := 0; i < 200; i++ {
		e := c.read()
		if match(e) {
			return before, e
		}
		before = append(before, e)
	}
	c.t.Fatalf("no %s", what)
	return nil, nil
}

// smLogin logs in, binds, enables stream management with resumption and
// sends initial presence; it returns the client and the resumption id.
func smLogin(t *testing.T, ts *testServer, user, resource string) (*smClient, string) {
	t.Helper()
	c := &smClient{testClient: ts.authenticate(t, user, "secret")}
	c.bind(resource)
	c.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	enabled := c.next()
	if enabled.Name.Space != nsSM || enabled.Name.Local != "enabled" || enabled.AttrValue("resume") != "true" || enabled.AttrValue("id") == "" {
		t.Fatalf("<enable resume='true'/> answered %s", enabled)
	}
	return c, enabled.AttrValue("id")
}

// XEP-0198 §4: both sides count; <r/> is answered with the count of
// stanzas handled; the server asks with <r/> once enough stanzas went
// unacknowledged; an <a/> over what was sent ends the stream.
func TestSMAcks(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	romeo, _ := smLogin(t, ts, "romeo", "phone")
	romeo.send(`<presence/>`)
	romeo.send(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	romeo.until("ping reply", func(e *Element) bool { return e.AttrValue("id") == "p1" })
	romeo.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	_, a := romeo.until("<a/>", func(e *Element) bool { return e.Name.Space == nsSM && e.Name.Local == "a" })
	if a.AttrValue("h") != "2" {
		t.Errorf("after <presence/> and a ping the server says h=%s, want 2", a.AttrValue("h"))
	}

	juliet := ts.online(t, "juliet", "secret", "balcony")
	for i := 1; i <= smRequestEvery+2; i++ {
		juliet.send(`<message to='romeo@localhost/phone' type='chat'><body>m%d</body></message>`, i)
	}
	before, r := romeo.until("the server's <r/>", func(e *Element) bool { return e.Name.Space == nsSM && e.Name.Local == "r" })
	if r == nil || len(before) == 0 {
		t.Fatalf("no <r/> after %d stanzas", smRequestEvery+2)
	}
	romeo.until("the last message", isMessageWithBody(fmt.Sprintf("m%d", smRequestEvery+2)))
	s := ts.sessionOf(romeo.testClient)
	s.mu.Lock()
	pending := len(s.sm.unacked)
	s.mu.Unlock()
	if pending < smRequestEvery+2 {
		t.Errorf("%d stanzas kept unacknowledged, want at least %d", pending, smRequestEvery+2)
	}
	romeo.send(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, romeo.handled)
	romeo.send(`<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	romeo.until("ping reply", func(e *Element) bool { return e.AttrValue("id") == "p2" })
	s.mu.Lock()
	pending = len(s.sm.unacked)
	s.mu.Unlock()
	if pending != 1 { // the ping reply
		t.Errorf("after acknowledging everything but the ping reply, %d stanzas kept", pending)
	}
	romeo.send(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, romeo.handled+5)
	if cond := romeo.expectStreamError(); cond != "undefined-condition" {
		t.Errorf("an <a/> over the count sent ended with %q, want undefined-condition", cond)
	}
}

// §5: the TCP connection dies mid-stream; messages keep coming; a new
// connection resumes with the count the client handled: it gets
// <resumed/> with the server's count, and every message it did not
// handle, in order, once. A previd this node does not hold fails with
// item-not-found, and the client binds.
func TestSMResume(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	romeo, id := smLogin(t, ts, "romeo", "phone")
	romeo.send(`<presence/>`)
	juliet := ts.online(t, "juliet", "secret", "balcony")
	for i := 1; i <= 5; i++ {
		juliet.send(`<message to='romeo@localhost/phone' type='chat'><body>m%d</body></message>`, i)
	}
	romeo.until("m3", isMessageWithBody("m3"))
	handled := romeo.handled // the client handled up to m3
	s := ts.sessionOf(romeo.testClient)
	romeo.conn.Close()
	waitFor(t, "the session to be detached", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sm.detached
	})
	for i := 6; i <= 8; i++ {
		juliet.send(`<message to='romeo@localhost' type='chat'><body>m%d</body></message>`, i)
	}
	juliet.roundTrip()

	bogus := &smClient{testClient: ts.authenticate(t, "romeo", "secret")}
	bogus.send(`<resume xmlns='urn:xmpp:sm:3' previd='not-here' h='0'/>`)
	if f := bogus.next(); f.Name.Local != "failed" || f.Child(nsStanzas, "item-not-found") == nil {
		t.Errorf("resuming an unknown previd: %s, want <failed/> with item-not-found", f)
	}
	bogus.bind("other") // and the client binds instead

	back := &smClient{testClient: ts.authenticate(t, "romeo", "secret")}
	back.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>`, id, handled)
	resumed := back.next()
	if resumed.Name.Local != "resumed" || resumed.AttrValue("previd") != id || resumed.AttrValue("h") != "1" {
		t.Fatalf("resume answered %s, want <resumed previd='%s' h='1'/> (one stanza, the presence, handled)", resumed, id)
	}
	back.handled = handled
	var bodies []string
	for len(bodies) < 5 {
		e := back.read()
		if b := e.Child(nsClient, "body"); e.Name.Local == "message" && b != nil {
			bodies = append(bodies, b.Text())
		}
	}
	if fmt.Sprint(bodies) != "[m4 m5 m6 m7 m8]" {
		t.Errorf("after resuming got %v, want [m4 m5 m6 m7 m8]", bodies)
	}
	back.jid = "romeo@localhost/phone"
	for _, e := range back.roundTrip() {
		if e.Child(nsClient, "body") != nil {
			t.Errorf("more after the resent messages: %s", e)
		}
	}
	// The session is the same one, attached to the new connection.
	if ts.sessionOf(back.testClient) != s {
		t.Error("the resumed session is not the one that was detached")
	}
	back.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	_, a := back.until("<a/>", func(e *Element) bool { return e.Name.Space == nsSM && e.Name.Local == "a" })
	if h, _ := strconv.Atoi(a.AttrValue("h")); h != 2 {
		t.Errorf("h=%d after the resumption and a ping, want 2", h)
	}
}

// A detached session that is not resumed ends after the resume timeout;
// the messages its client never acknowledged, and those sent to it while
// detached, are the account's offline messages at the next login.
func TestSMTimeoutStoresOffline(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.SMResumeTimeout = 300 * time.Millisecond })
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	romeo, _ := smLogin(t, ts, "romeo", "phone")
	romeo.send(`<presence/>`)
	juliet := ts.online(t, "juliet", "secret", "balcony")
	juliet.send(`<message to='romeo@localhost' type='chat'><body>unacked</body></message>`)
	romeo.until("the message", isMessageWithBody("unacked"))
	s := ts.sessionOf(romeo.testClient)
	romeo.conn.Close()
	waitFor(t, "the session to be detached", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sm.detached
	})
	juliet.send(`<message to='romeo@localhost' type='chat'><body>while detached</body></message>`)
	juliet.roundTrip()
	waitFor(t, "the session to end and its messages to be stored", func() bool {
		msgs, err := ts.store.OfflineMessages(context.Background(), "romeo")
		return ts.sessionOf(romeo.testClient) == nil && err == nil && len(msgs) == 2
	})
	again := ts.login(t, "romeo", "secret", "desk")
	again.send(`<presence/>`)
	var got []string
	for len(got) < 2 {
		e := again.next()
		if b := e.Child(nsClient, "body"); e.Name.Local == "message" && b != nil {
			if e.Child(nsDelay, "delay") == nil {
				t.Errorf("not an offline message: %s", e)
			}
			got = append(got, b.Text())
		}
	}
	if fmt.Sprint(got) != "[unacked while detached]" {
		t.Errorf("offline messages %v, want [unacked while detached]", got)
	}
}

// A phone that changed networks resumes before the server noticed the old
// connection is dead: the new connection takes the session over, the old
// one is closed, and what the client had not handled comes on the new.
func TestSMResumeTakesOverALiveConnection(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	ts.addUser(t, "juliet", "secret")
	romeo, id := smLogin(t, ts, "romeo", "phone")
	romeo.send(`<presence/>`)
	juliet := ts.online(t, "juliet", "secret", "balcony")
	juliet.send(`<message to='romeo@localhost/phone' type='chat'><body>one</body></message>`)
	juliet.send(`<message to='romeo@localhost/phone' type='chat'><body>two</body></message>`)
	romeo.until("one", isMessageWithBody("one"))
	handled := romeo.handled

	back := &smClient{testClient: ts.authenticate(t, "romeo", "secret")}
	back.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>`, id, handled)
	if r := back.next(); r.Name.Local != "resumed" {
		t.Fatalf("resume answered %s", r)
	}
	back.until("two, again", isMessageWithBody("two"))
	juliet.send(`<message to='romeo@localhost/phone' type='chat'><body>three</body></message>`)
	back.until("three", isMessageWithBody("three"))
	// The old connection ends (what it still had in flight may come
	// first: "two" went to it too).
	for {
		e, err := romeo.nextOrErr(5 * time.Second)
		if isTimeout(err) {
			t.Fatal("the old connection is still open after the session was resumed elsewhere")
		}
		if err != nil {
			break
		}
		if isMessageWithBody("three")(e) {
			t.Fatal("the old connection got a message after the session was resumed elsewhere")
		}
	}
}

// Config.SMMaxResumable: past an account's resumable sessions, stream
// management is enabled without resumption (§3: no resume attribute).
func TestSMMaxResumable(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.SMMaxResumable = 1 })
	ts.addUser(t, "romeo", "secret")
	smLogin(t, ts, "romeo", "phone")
	c := ts.login(t, "romeo", "secret", "tablet")
	c.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	e := c.next()
	if e.Name.Local != "enabled" || e.AttrValue("resume") != "" || e.AttrValue("id") != "" {
		t.Errorf("a second resumable session with SMMaxResumable=1: %s, want <enabled/> without resume", e)
	}
}
