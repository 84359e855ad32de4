package xmpp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// runCommand executes an ad-hoc command on the server, submitting fields
// in a second stage when the command asks for a form; it returns the last
// reply.
func runCommand(t *testing.T, c *testClient, node string, fields map[string][]string) *Element {
	t.Helper()
	id := "c-" + randomID(4)
	c.send(`<iq type='set' id='%s' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='%s' action='execute'/></iq>`, id, node)
	r := iqReply(c, id)
	cmd := r.Child(nsCommands, "command")
	if r.AttrValue("type") != "result" || cmd.AttrValue("status") != "executing" {
		return r
	}
	var b strings.Builder
	for k, vs := range fields {
		fmt.Fprintf(&b, "<field var='%s'>", k)
		for _, v := range vs {
			fmt.Fprintf(&b, "<value>%s</value>", v)
		}
		b.WriteString("</field>")
	}
	id2 := id + "-2"
	c.send(`<iq type='set' id='%s' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='%s' sessionid='%s'><x xmlns='jabber:x:data' type='submit'>%s</x></command></iq>`,
		id2, node, cmd.AttrValue("sessionid"), b.String())
	return iqReply(c, id2)
}

func completed(r *Element) bool {
	c := r.Child(nsCommands, "command")
	return r.AttrValue("type") == "result" && c != nil && c.AttrValue("status") == "completed"
}

// XEP-0133 §4.1, §4.2, §4.7, §4.21, §4.23 for an administrator; others
// see no commands and are refused.
func TestAdminCommands(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Admins = []string{"boss"} })
	ts.addUser(t, "boss", "secret")
	ts.addUser(t, "alice", "secret")
	boss := ts.online(t, "boss", "secret", "desk")
	alice := ts.online(t, "alice", "secret", "desk")

	boss.send(`<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	if items := iqReply(boss, "i1").Child(nsDiscoItems, "query").Elements(); len(items) != len(adminCommands) {
		t.Errorf("the admin sees %d commands, want %d", len(items), len(adminCommands))
	}
	alice.send(`<iq type='get' id='i2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	if items := iqReply(alice, "i2").Child(nsDiscoItems, "query").Elements(); len(items) != 0 {
		t.Errorf("a user sees %d admin commands", len(items))
	}
	if r := runCommand(t, alice, nsAdmin+"#add-user", nil); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "forbidden") {
		t.Errorf("a user ran add-user: %s", r)
	}

	if r := runCommand(t, boss, nsAdmin+"#add-user", map[string][]string{
		"accountjid": {"carol@localhost"}, "password": {"c4rol-pw"}, "password-verify": {"c4rol-pw"}}); !completed(r) {
		t.Fatalf("add-user: %s", r)
	}
	if r := runCommand(t, boss, nsAdmin+"#add-user", map[string][]string{
		"accountjid": {"carol@localhost"}, "password": {"x"}, "password-verify": {"x"}}); !strings.Contains(r.String(), "conflict") {
		t.Errorf("adding carol again: %s, want conflict", r)
	}
	if r := runCommand(t, boss, nsAdmin+"#add-user", map[string][]string{
		"accountjid": {"dave@elsewhere.example"}, "password": {"x"}, "password-verify": {"x"}}); r.AttrValue("type") != "error" {
		t.Errorf("adding an account of another domain: %s", r)
	}
	carol := ts.online(t, "carol", "c4rol-pw", "phone")

	if r := runCommand(t, boss, nsAdmin+"#change-user-password", map[string][]string{
		"accountjid": {"carol@localhost"}, "password": {"n3w-pw"}}); !completed(r) {
		t.Fatalf("change-user-password: %s", r)
	}
	ts.login(t, "carol", "n3w-pw", "tablet")

	r := runCommand(t, boss, nsAdmin+"#get-online-users-list", nil)
	if !completed(r) {
		t.Fatalf("get-online-users-list: %s", r)
	}
	online := formValues(r.Child(nsCommands, "command").Child(nsDataForms, "x"))["onlineuserjids"]
	if strings.Join(online, " ") != "alice@localhost boss@localhost carol@localhost" {
		t.Errorf("online users %q", online)
	}

	if r := runCommand(t, boss, nsAdmin+"#announce", map[string][]string{"subject": {"Maintenance"}, "announcement": {"Down at noon"}}); !completed(r) {
		t.Fatalf("announce: %s", r)
	}
	a := alice.expect("announcement", isMessageWithBody("Down at noon"))
	if a.AttrValue("from") != "localhost" || a.AttrValue("type") != "headline" {
		t.Errorf("announcement %s", a)
	}

	if r := runCommand(t, boss, nsAdmin+"#delete-user", map[string][]string{"accountjids": {"carol@localhost"}}); !completed(r) {
		t.Fatalf("delete-user: %s", r)
	}
	if cond := carol.expectStreamError(); cond != "not-authorized" {
		t.Errorf("carol's session ended with %s", cond)
	}
	c := dialRaw(t, ts.addr)
	c.domain = ts.domain
	c.openStream()
	c.startTLS()
	if c.scramAuth("SCRAM-SHA-256", "carol", "n3w-pw") {
		t.Error("a deleted account logged in")
	}

	// Each change and the announcement are captured for compliance with
	// the administrator as the actor, as from the admin console.
	evs, err := ts.store.ReadOutbox(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Actor == "boss@localhost" {
			var p struct{ User, Via string }
			json.Unmarshal(ev.Payload, &p)
			got = append(got, ev.Type+" "+p.User+" "+p.Via)
		}
	}
	want := []string{"account.add carol@localhost xep-0133", "account.password carol@localhost xep-0133",
		"announcement  xep-0133", "account.delete carol@localhost xep-0133"}
	if !slices.Equal(got, want) {
		t.Errorf("compliance events of the admin's commands %q, want %q", got, want)
	}

	// Taken off the list (parleyd's reload): refused on the next command,
	// in the session already open.
	ts.srv.SetAdmins([]string{"alice"})
	if r := runCommand(t, boss, nsAdmin+"#get-online-users-list", nil); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "forbidden") {
		t.Errorf("boss, no longer an administrator, ran get-online-users-list: %s", r)
	}
	if r := runCommand(t, alice, nsAdmin+"#get-online-users-list", nil); !completed(r) {
		t.Errorf("alice, made an administrator, was refused: %s", r)
	}
}

// XEP-0077: with registration open, the stream feature before
// authentication, the fields, a new account (one per stream), conflict
// for a taken name; closed: no feature and the IQ ends the stream. A
// logged-in user changes their password either way; removal only when
// registration is open.
func TestInBandRegistration(t *testing.T) {
	preAuth := func(ts *testServer) (*testClient, *Element) {
		c := dialRaw(t, ts.addr)
		c.domain = ts.domain
		c.openStream()
		return c, c.startTLS()
	}

	closed := startServer(t)
	closed.addUser(t, "alice", "secret")
	c, features := preAuth(closed)
	if features.Child(nsRegisterFeature, "register") != nil {
		t.Errorf("registration closed, but offered: %s", features)
	}
	c.send(`<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>mallory</username><password>pw</password></query></iq>`)
	if cond := c.expectStreamError(); cond != "not-authorized" {
		t.Errorf("registration closed: %s", cond)
	}
	alice := closed.online(t, "alice", "secret", "desk")
	alice.send(`<iq type='get' id='g1' to='localhost'><query xmlns='jabber:iq:register'/></iq>`)
	if q := iqReply(alice, "g1").Child(nsRegister, "query"); q == nil || q.Child(nsRegister, "registered") == nil || q.Child(nsRegister, "username").Text() != "alice" {
		t.Errorf("registration info: %v", q)
	}
	alice.send(`<iq type='set' id='p1' to='localhost'><query xmlns='jabber:iq:register'><username>bob</username><password>x</password></query></iq>`)
	if r := iqReply(alice, "p1"); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "not-authorized") {
		t.Errorf("changing another's password: %s", r)
	}
	alice.send(`<iq type='set' id='p2' to='localhost'><query xmlns='jabber:iq:register'><username>alice</username><password>n3w-secret</password></query></iq>`)
	if r := iqReply(alice, "p2"); r.AttrValue("type") != "result" {
		t.Fatalf("password change: %s", r)
	}
	closed.login(t, "alice", "n3w-secret", "second")
	alice.send(`<iq type='set' id='x1'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	if r := iqReply(alice, "x1"); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "not-allowed") {
		t.Errorf("removal with registration closed: %s", r)
	}

	open := startServer(t, func(c *Config) { c.AllowRegistration = true })
	open.addUser(t, "taken", "secret")
	c, features = preAuth(open)
	if features.Child(nsRegisterFeature, "register") == nil {
		t.Fatalf("registration open, not offered: %s", features)
	}
	c.send(`<iq type='get' id='f1'><query xmlns='jabber:iq:register'/></iq>`)
	if q := iqReply(c, "f1").Child(nsRegister, "query"); q == nil || q.Child(nsRegister, "username") == nil || q.Child(nsRegister, "password") == nil {
		t.Fatalf("registration fields: %v", q)
	}
	c.send(`<iq type='set' id='f2'><query xmlns='jabber:iq:register'><username>taken</username><password>pw</password></query></iq>`)
	if r := iqReply(c, "f2"); !strings.Contains(r.String(), "conflict") {
		t.Errorf("a taken username: %s, want conflict", r)
	}
	c.send(`<iq type='set' id='f3'><query xmlns='jabber:iq:register'><username>Newbie</username><password>n3wbie-pw</password></query></iq>`)
	if r := iqReply(c, "f3"); r.AttrValue("type") != "result" {
		t.Fatalf("registration: %s", r)
	}
	c.send(`<iq type='set' id='f4'><query xmlns='jabber:iq:register'><username>second</username><password>pw</password></query></iq>`)
	if r := iqReply(c, "f4"); !strings.Contains(r.String(), "not-allowed") {
		t.Errorf("a second account on one stream: %s", r)
	}
	if !c.scramAuth("SCRAM-SHA-256", "newbie", "n3wbie-pw") {
		t.Fatal("the new account cannot log in")
	}
	newbie := open.online(t, "newbie", "n3wbie-pw", "desk")
	newbie.send(`<iq type='set' id='x2'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	if r := iqReply(newbie, "x2"); r.AttrValue("type") != "result" {
		t.Fatalf("removal: %s", r)
	}
	if cond := newbie.expectStreamError(); cond != "not-authorized" {
		t.Errorf("after removal: %s", cond)
	}
}
