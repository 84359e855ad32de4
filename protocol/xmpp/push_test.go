package xmpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/pubsub"
)

const pushOptions = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
	`<field var='secret'><value>eruio234vzxc2kla-91</value></field><field var='include-body'><value>true</value></field></x>`

// enablePush registers the app server appserver@localhost/push, node n1
// (XEP-0357 §5).
func enablePush(t *testing.T, c *testClient) {
	t.Helper()
	c.send(`<iq type='set' id='push1'><enable xmlns='urn:xmpp:push:0' jid='appserver@localhost/push' node='n1'>%s</enable></iq>`, pushOptions)
	if r := c.expect("enable result", func(e *Element) bool { return e.AttrValue("id") == "push1" }); r.AttrValue("type") != "result" {
		t.Fatalf("enable answered %s", r)
	}
}

// pushSetup adds alice, bob and the app server's account, logs in the app
// server and bob, and has alice enable push and log out.
func pushSetup(t *testing.T, ts *testServer) (app, bob *testClient) {
	t.Helper()
	for _, u := range []string{"alice", "bob", "appserver"} {
		ts.addUser(t, u, "secret")
	}
	app = ts.online(t, "appserver", "secret", "push")
	bob = ts.online(t, "bob", "secret", "pc")
	alice := ts.login(t, "alice", "secret", "phone")
	enablePush(t, alice)
	alice.conn.Close()
	waitFor(t, "alice's session to end", func() bool { return len(ts.srv.router.sessions("alice@localhost")) == 0 })
	return app, bob
}

// nextPublish reads the app server's next publish (§7), answers it with
// answer ("result" or an error) and returns the summary form's values and
// the publish-options.
func nextPublish(t *testing.T, app *testClient, answer string) (map[string][]string, *Element) {
	t.Helper()
	iq := app.expect("a push publish", func(e *Element) bool { return e.Name.Local == "iq" && e.AttrValue("type") == "set" })
	ps := iq.Child(pubsub.NS, "pubsub")
	if iq.AttrValue("from") != "alice@localhost" || ps == nil || ps.Child(pubsub.NS, "publish").AttrValue("node") != "n1" {
		t.Fatalf("publish = %s, want from alice@localhost to node n1", iq)
	}
	if answer == "result" {
		app.send(`<iq type='result' id='%s' to='alice@localhost'/>`, iq.AttrValue("id"))
	} else {
		app.send(`<iq type='error' id='%s' to='alice@localhost'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, iq.AttrValue("id"), answer)
	}
	x := ps.Child(pubsub.NS, "publish").Child(pubsub.NS, "item").Child(nsPush, "notification").Child(nsDataForms, "x")
	v := formValues(x)
	if ft, _ := first(v, "FORM_TYPE"); ft != nsPushSummary {
		t.Errorf("notification form %s, want %s", x, nsPushSummary)
	}
	return v, ps.Child(pubsub.NS, "publish-options")
}

// XEP-0357: a message to a user whose phone is offline, detached (SM) or
// inactive (CSI) makes the server publish the summary to the app server
// (a local full JID here), with the client's publish-options and no body
// (Config.PushBody is off); one from an active session does not. Within
// the interval messages are counted into one publish. Enable and disable
// are compliance events and survive in the store.
func TestPush(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PushInterval = 2 * time.Second })
	app, bob := pushSetup(t, ts) // alice offline
	bob.send(`<message to='alice@localhost' type='chat'><body>secret text</body></message>`)
	v, opts := nextPublish(t, app, "result")
	if c, _ := first(v, "message-count"); c != "1" {
		t.Errorf("message-count %q, want 1", c)
	}
	if s, _ := first(v, "last-message-sender"); s != "bob@localhost" {
		t.Errorf("last-message-sender %q", s)
	}
	if _, ok := v["last-message-body"]; ok {
		t.Error("the body went to the app server though --push-body is off")
	}
	if opts == nil || !strings.Contains(opts.String(), "eruio234vzxc2kla-91") {
		t.Errorf("publish-options (the app server's secret) not passed on: %v", opts)
	}

	// Three more within the interval: the first goes out at once (the
	// interval is made to have passed), the other two in one publish.
	intervalPassed(ts)
	for i := range 3 {
		bob.send(`<message to='alice@localhost' type='chat'><body>m%d</body></message>`, i)
	}
	bob.roundTrip()
	v, _ = nextPublish(t, app, "result")
	v2, _ := nextPublish(t, app, "result")
	c1, _ := first(v, "message-count")
	c2, _ := first(v2, "message-count")
	if c1 != "1" || c2 != "2" {
		t.Errorf("three messages within the interval: publishes with counts %s and %s, want 1 then 2", c1, c2)
	}

	// Chat states alone do not wake the phone; an active session gets
	// no push; an inactive one does; a detached one does.
	intervalPassed(ts)
	alice2, _ := smLogin(t, ts, "alice", "phone")
	alice2.send(`<presence/>`)
	bob.send(`<message to='alice@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	bob.send(`<message to='alice@localhost' type='chat'><body>while active</body></message>`)
	alice2.until("the message", isMessageWithBody("while active"))
	alice2.send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	alice2.roundTrip()
	bob.send(`<message to='alice@localhost' type='chat'><body>while inactive</body></message>`)
	v, _ = nextPublish(t, app, "result")
	if c, _ := first(v, "message-count"); c != "1" {
		t.Errorf("the publish for the inactive session counts %q, want 1 (chat states and messages to an active session are not pushed)", c)
	}
	alice2.conn.Close() // lost: detached (resumable)
	waitFor(t, "the session to be detached", func() bool {
		s := ts.srv.router.session("alice@localhost", "phone")
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sm.detached
	})
	intervalPassed(ts)
	bob.send(`<message to='alice@localhost' type='chat'><body>while detached</body></message>`)
	nextPublish(t, app, "result")

	regs, err := ts.store.PushRegistrations(context.Background(), "alice")
	if err != nil || len(regs) != 1 || regs[0].JID != "appserver@localhost/push" {
		t.Errorf("stored registrations = %+v, %v", regs, err)
	}
	alice3 := ts.login(t, "alice", "secret", "laptop")
	alice3.send(`<iq type='set' id='push2'><disable xmlns='urn:xmpp:push:0' jid='appserver@localhost/push' node='n1'/></iq>`)
	alice3.expect("disable result", func(e *Element) bool { return e.AttrValue("id") == "push2" && e.AttrValue("type") == "result" })
	if regs, _ := ts.store.PushRegistrations(context.Background(), "alice"); len(regs) != 0 {
		t.Errorf("registrations after disable: %+v", regs)
	}
	if got := pushEvents(t, ts); got != "push.enable push.disable" {
		t.Errorf("compliance events %q, want push.enable push.disable", got)
	}
}

// intervalPassed makes every registration's last publish old enough for
// the next to go out at once.
func intervalPassed(ts *testServer) {
	p := &ts.srv.pushes
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.states {
		st.last = time.Time{}
	}
}

func pushEvents(t *testing.T, ts *testServer) string {
	t.Helper()
	evs, err := ts.store.ReadOutbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "push.") {
			out = append(out, ev.Type)
		}
	}
	return strings.Join(out, " ")
}

// With Config.PushBody and publish-options asking for it the body goes
// to the app server. An app server that answers Config.PushMaxErrors
// publishes in a row with errors is disabled, as a compliance event.
func TestPushBodyAndFailingAppServer(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PushBody, c.PushMaxErrors, c.PushInterval = true, 2, time.Millisecond })
	app, bob := pushSetup(t, ts)
	bob.send(`<message to='alice@localhost' type='chat'><body>hello</body></message>`)
	v, _ := nextPublish(t, app, "item-not-found")
	if b, _ := first(v, "last-message-body"); b != "hello" {
		t.Errorf("last-message-body %q, want hello (--push-body on, include-body asked)", b)
	}
	bob.send(`<message to='alice@localhost' type='chat'><body>again</body></message>`)
	nextPublish(t, app, "item-not-found")
	waitFor(t, "the registration to be disabled", func() bool {
		regs, _ := ts.store.PushRegistrations(context.Background(), "alice")
		return len(regs) == 0
	})
	if got := pushEvents(t, ts); got != "push.enable push.disable" {
		t.Errorf("compliance events %q, want push.enable push.disable", got)
	}
	bob.send(`<message to='alice@localhost' type='chat'><body>not pushed</body></message>`)
	if el, err := app.nextOrErr(300 * time.Millisecond); err == nil {
		t.Errorf("a disabled registration got %s", el)
	}
}
