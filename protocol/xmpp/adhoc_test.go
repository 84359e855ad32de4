package xmpp

import (
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
)

// Topic feeds: XEP-0050 ad-hoc commands on the MUC service and the
// headline alerts, over a real socket, written like XEP-0050's examples.

const service = "conference.localhost"

func isIQ(id string) func(*Element) bool {
	return func(e *Element) bool { return e.Name.Local == "iq" && e.AttrValue("id") == id }
}

// execute sends a command stage and returns the <command/> of the result,
// failing on an error.
func execute(t *testing.T, c *testClient, id, payload string) *Element {
	t.Helper()
	c.send(`<iq type='set' id='%s' to='%s'>%s</iq>`, id, service, payload)
	reply := c.expect("command reply "+id, isIQ(id))
	cmd := reply.Child(nsCommands, "command")
	if reply.AttrValue("type") != "result" || cmd == nil {
		t.Fatalf("command %s: %s", id, reply)
	}
	return cmd
}

// commandFails sends a command stage and returns the error's stanza and
// XEP-0050 conditions.
func commandFails(t *testing.T, c *testClient, id, payload string) (condition, specific string) {
	t.Helper()
	c.send(`<iq type='set' id='%s' to='%s'>%s</iq>`, id, service, payload)
	reply := c.expect("command error "+id, isIQ(id))
	e := reply.Child(nsClient, "error")
	if reply.AttrValue("type") != "error" || e == nil {
		t.Fatalf("command %s: want an error, got %s", id, reply)
	}
	for _, ch := range e.Elements() {
		switch {
		case ch.Name.Space == nsStanzas && ch.Name.Local != "text":
			condition = ch.Name.Local
		case ch.Name.Space == nsCommands:
			specific = ch.Name.Local
		}
	}
	return condition, specific
}

func isHeadline(e *Element) bool {
	return e.Name.Local == "message" && e.AttrValue("type") == "headline"
}

func TestTopicFeedCommands(t *testing.T) {
	ts := startServer(t)
	ts.srv.cfg.Rooms.(*muc.Engine).SetAlerter(ts.srv.TopicAlerter())
	for _, u := range []string{"poster", "alice", "bob", "mallory"} {
		ts.addUser(t, u, "secret")
	}
	ts.createRoom(t, "ops", muc.Open, muc.Normal, nil, nil, nil)
	ts.createRoom(t, "board", muc.Closed, muc.Normal, []string{"poster@localhost"}, nil, nil)
	opsJID := "ops@" + service

	alice := ts.online(t, "alice", "secret", "desktop")
	aliceMobile := ts.online(t, "alice", "secret", "mobile")

	// XEP-0050 §2.2 Example 1: discover the commands.
	alice.send(`<iq type='get' id='disco1' to='%s'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`, service)
	items := alice.expect("command list", isIQ("disco1")).Child(nsDiscoItems, "query")
	var nodes []string
	for _, it := range items.Elements() {
		nodes = append(nodes, it.AttrValue("node"))
		if it.AttrValue("jid") != service || it.AttrValue("name") == "" {
			t.Errorf("command item %s", it)
		}
	}
	if !slices.Equal(nodes, []string{"follow", "unfollow", "list-follows"}) {
		t.Errorf("commands %v", nodes)
	}
	// §2.3: a command node is an automation/command-node.
	alice.send(`<iq type='get' id='disco2' to='%s'><query xmlns='http://jabber.org/protocol/disco#info' node='follow'/></iq>`, service)
	info := alice.expect("command info", isIQ("disco2"))
	if id := info.Child(nsDiscoInfo, "query").Child(nsDiscoInfo, "identity"); id == nil || id.AttrValue("category") != "automation" || id.AttrValue("type") != "command-node" {
		t.Errorf("command info %s", info)
	}
	alice.send(`<iq type='get' id='disco3' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, service)
	if s := alice.expect("service info", isIQ("disco3")).String(); !strings.Contains(s, `var="`+nsCommands+`"`) {
		t.Errorf("service does not advertise %s: %s", nsCommands, s)
	}

	// §3.3 Example 5: execute; the service answers with a form and a
	// session.
	cmd := execute(t, alice, "f1", `<command xmlns='http://jabber.org/protocol/commands' node='follow' action='execute'/>`)
	sid := cmd.AttrValue("sessionid")
	form := cmd.Child(nsDataForms, "x")
	if cmd.AttrValue("status") != "executing" || sid == "" || form == nil || form.AttrValue("type") != "form" ||
		cmd.Child(nsCommands, "actions") == nil || !strings.Contains(form.String(), `var="room"`) || !strings.Contains(form.String(), `type="text-multi"`) {
		t.Fatalf("follow form: %s", cmd)
	}
	// §3.4: submit it.
	cmd = execute(t, alice, "f2", `<command xmlns='http://jabber.org/protocol/commands' node='follow' sessionid='`+sid+`' action='complete'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>`+opsJID+`</value></field>`+
		`<field var='keywords'><value>deploy</value><value>Outage</value></field></x></command>`)
	if cmd.AttrValue("status") != "completed" || cmd.AttrValue("sessionid") != sid || cmd.Child(nsCommands, "note") == nil {
		t.Fatalf("follow completed: %s", cmd)
	}
	// The session is over: using it again is a bad-sessionid (§4.6).
	cond, spec := commandFails(t, alice, "f3", `<command xmlns='http://jabber.org/protocol/commands' node='follow' sessionid='`+sid+`'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>ops</value></field></x></command>`)
	if cond != "bad-request" || spec != "bad-sessionid" {
		t.Errorf("reused session: %s %s", cond, spec)
	}
	cond, spec = commandFails(t, alice, "f4", `<command xmlns='http://jabber.org/protocol/commands' node='follow' action='dance'/>`)
	if cond != "bad-request" || spec != "bad-action" {
		t.Errorf("unknown action: %s %s", cond, spec)
	}
	if cond, _ = commandFails(t, alice, "f5", `<command xmlns='http://jabber.org/protocol/commands' node='reboot'/>`); cond != "item-not-found" {
		t.Errorf("unknown command: %s", cond)
	}
	// §3.5: cancel.
	sid = execute(t, alice, "f6", `<command xmlns='http://jabber.org/protocol/commands' node='follow'/>`).AttrValue("sessionid")
	if cmd = execute(t, alice, "f7", `<command xmlns='http://jabber.org/protocol/commands' node='follow' sessionid='`+sid+`' action='cancel'/>`); cmd.AttrValue("status") != "canceled" {
		t.Errorf("cancel: %s", cmd)
	}

	// Only rooms one may read can be followed.
	mallory := ts.online(t, "mallory", "secret", "m")
	sid = execute(t, mallory, "m1", `<command xmlns='http://jabber.org/protocol/commands' node='follow'/>`).AttrValue("sessionid")
	if cond, _ = commandFails(t, mallory, "m2", `<command xmlns='http://jabber.org/protocol/commands' node='follow' sessionid='`+sid+`' action='complete'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>board@`+service+`</value></field></x></command>`); cond != "forbidden" {
		t.Errorf("following a closed room as a non-member: %s", cond)
	}

	// Bob follows every post (in one stage: the form submitted with
	// execute) but is in the room: he sees the post there, no headline.
	bob := ts.online(t, "bob", "secret", "b")
	execute(t, bob, "b1", `<command xmlns='http://jabber.org/protocol/commands' node='follow'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>ops</value></field></x></command>`)
	join(t, bob, opsJID, "bob", "")

	// list-follows: one stage, a result table.
	cmd = execute(t, alice, "l1", `<command xmlns='http://jabber.org/protocol/commands' node='list-follows' action='execute'/>`)
	table := cmd.Child(nsDataForms, "x")
	if cmd.AttrValue("status") != "completed" || table == nil || table.Child(nsDataForms, "reported") == nil ||
		!strings.Contains(table.String(), opsJID) || !strings.Contains(table.String(), "Outage") {
		t.Errorf("list-follows: %s", cmd)
	}

	// A matching post: a headline to each of alice's resources, from the
	// room, with the body, the matched keywords, the forwarded post with
	// its stanza-id and a link to the room.
	poster := ts.online(t, "poster", "secret", "p")
	join(t, poster, opsJID, "poster", "")
	poster.send(`<message to='%s' type='groupchat' id='p1'><body>OUTAGE over, deploy resumed</body></message>`, opsJID)
	refl := poster.expect("reflection", isMessageWithBody("OUTAGE over, deploy resumed"))
	stanzaID := refl.Child(nsStanzaID, "stanza-id").AttrValue("id")
	for _, c := range []*testClient{alice, aliceMobile} {
		h := c.expect("headline", isHeadline)
		body := h.Child(nsClient, "body").Text()
		fwd := h.Child(nsForward, "forwarded")
		feed := h.Child(nsFeeds, "feed")
		if h.AttrValue("from") != opsJID || h.AttrValue("to") != c.jid ||
			!strings.Contains(body, "poster: OUTAGE over, deploy resumed") || !strings.Contains(body, "deploy, Outage") ||
			fwd == nil || fwd.Child(nsClient, "message") == nil || fwd.Child(nsDelay, "delay") == nil ||
			fwd.Child(nsClient, "message").Child(nsStanzaID, "stanza-id").AttrValue("id") != stanzaID ||
			feed == nil || feed.AttrValue("stanza-id") != stanzaID || feed.AttrValue("room") != opsJID ||
			h.Child(nsOutOfBand, "x").Child(nsOutOfBand, "url").Text() != "xmpp:"+opsJID+"?join" {
			t.Errorf("headline to %s: %s", c.jid, h)
		}
	}
	bob.expect("the post in the room", isMessageWithBody("OUTAGE over, deploy resumed"))
	// A post without a keyword alerts nobody.
	poster.send(`<message to='%s' type='groupchat'><body>lunch?</body></message>`, opsJID)
	poster.expect("reflection", isMessageWithBody("lunch?"))
	poster.roundTrip() // the post, and its alerts, are done
	for _, c := range []*testClient{alice, bob} {
		for _, e := range c.roundTrip() {
			if isHeadline(e) {
				t.Errorf("%s got a headline for a post they need no alert for: %s", c.jid, e)
			}
		}
	}

	// Unfollow: a list-single of the followed rooms.
	cmd = execute(t, alice, "u1", `<command xmlns='http://jabber.org/protocol/commands' node='unfollow'/>`)
	sid = cmd.AttrValue("sessionid")
	if cmd.AttrValue("status") != "executing" || !strings.Contains(cmd.String(), `type="list-single"`) || !strings.Contains(cmd.String(), opsJID) {
		t.Fatalf("unfollow form: %s", cmd)
	}
	cmd = execute(t, alice, "u2", `<command xmlns='http://jabber.org/protocol/commands' node='unfollow' sessionid='`+sid+`' action='complete'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='room'><value>`+opsJID+`</value></field></x></command>`)
	if cmd.AttrValue("status") != "completed" {
		t.Fatalf("unfollow: %s", cmd)
	}
	poster.send(`<message to='%s' type='groupchat'><body>deploy again</body></message>`, opsJID)
	poster.expect("reflection", isMessageWithBody("deploy again"))
	poster.roundTrip()
	for _, e := range alice.roundTrip() {
		if isHeadline(e) {
			t.Errorf("headline after unfollow: %s", e)
		}
	}
	cmd = execute(t, alice, "u3", `<command xmlns='http://jabber.org/protocol/commands' node='unfollow'/>`)
	if cmd.AttrValue("status") != "completed" || cmd.Child(nsCommands, "note") == nil {
		t.Errorf("unfollow with nothing followed: %s", cmd)
	}
}
