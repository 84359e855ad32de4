package xmpp

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// XEP-0202 §3: the server's time, UTC with its offset.
func TestEntityTime(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	c := ts.online(t, "alice", "secret", "desk")
	c.send(`<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>`)
	r := iqReply(c, "t1")
	tm := r.Child(nsTime, "time")
	if r.AttrValue("type") != "result" || tm == nil {
		t.Fatalf("entity time: %s", r)
	}
	utc, err := time.Parse(time.RFC3339, tm.Child(nsTime, "utc").Text())
	if err != nil || time.Since(utc).Abs() > time.Minute {
		t.Errorf("utc %q: %v", tm.Child(nsTime, "utc").Text(), err)
	}
	if tzo := tm.Child(nsTime, "tzo").Text(); len(tzo) != 6 || (tzo[0] != '+' && tzo[0] != '-') {
		t.Errorf("tzo %q", tzo)
	}
	if got := entityTimeOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(5*3600+30*60)))); !strings.Contains(got.String(), "-05:30") ||
		!strings.Contains(got.String(), "2026-01-02T08:34:05Z") {
		t.Errorf("entityTimeOf: %s", got)
	}
}

// XEP-0012: the server's uptime (§6); an account's last logout with its
// status for itself and a subscribed contact (§5), forbidden to others,
// 0 while it is online; an unknown account is service-unavailable.
func TestLastActivity(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"alice", "bob", "eve"} {
		ts.addUser(t, u, "secret")
	}
	ts.befriend(t, "alice", "bob")
	bob := ts.online(t, "bob", "secret", "desk")
	eve := ts.online(t, "eve", "secret", "desk")

	seconds := func(r *Element) int {
		n, err := strconv.Atoi(r.Child(nsLast, "query").AttrValue("seconds"))
		if err != nil {
			t.Fatalf("seconds in %s: %v", r, err)
		}
		return n
	}
	bob.send(`<iq type='get' id='s1' to='localhost'><query xmlns='jabber:iq:last'/></iq>`)
	if r := iqReply(bob, "s1"); r.AttrValue("type") != "result" || seconds(r) < 0 {
		t.Errorf("server uptime: %s", r)
	}

	bob.send(`<iq type='get' id='a0' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	if r := iqReply(bob, "a0"); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "item-not-found") {
		t.Errorf("never logged in: %s, want item-not-found", r)
	}
	alice := ts.online(t, "alice", "secret", "phone")
	bob.send(`<iq type='get' id='a1' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	if r := iqReply(bob, "a1"); r.AttrValue("type") != "result" || seconds(r) != 0 {
		t.Errorf("online: %s, want 0 seconds", r)
	}
	alice.send(`<presence type='unavailable'><status>Gone fishing</status></presence>`)
	bob.expect("alice offline", func(e *Element) bool { return e.Name.Local == "presence" && e.AttrValue("type") == "unavailable" })
	bob.send(`<iq type='get' id='a2' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	r := iqReply(bob, "a2")
	if q := r.Child(nsLast, "query"); r.AttrValue("type") != "result" || q.Text() != "Gone fishing" || seconds(r) > 60 {
		t.Errorf("after logout: %s, want the status and a few seconds", r)
	}
	eve.send(`<iq type='get' id='e1' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	if r := iqReply(eve, "e1"); r.AttrValue("type") != "error" || !strings.Contains(r.String(), "forbidden") {
		t.Errorf("stranger: %s, want forbidden", r)
	}
	eve.send(`<iq type='get' id='e2' to='nobody@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	if r := iqReply(eve, "e2"); r.AttrValue("type") != "error" {
		t.Errorf("unknown account: %s, want an error", r)
	}
	// A client cannot reach the record through private storage (XEP-0049
	// keys are {namespace}name).
	alice.send(`<iq type='get' id='p1'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:last'/></query></iq>`)
	if r := iqReply(alice, "p1"); strings.Contains(r.String(), "Gone fishing") {
		t.Errorf("the record shows through private storage: %s", r)
	}
}

// XEP-0115 §6.3: the server's <c/> in its stream features, whose
// verification string is that of its disco#info, which the caps node
// answers too; XEP-0157: the configured contact addresses in that
// disco#info, and so in the string.
func TestServerCapsAndContactAddresses(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.ContactAddresses = []string{"admin=mailto:ops@example.com", "abuse=mailto:abuse@example.com", "admin=xmpp:ops@example.com"}
	})
	ts.addUser(t, "alice", "secret")
	c := dialRaw(t, ts.addr)
	c.domain = ts.domain
	c.openStream()
	c.startTLS()
	if !c.scramAuth("SCRAM-SHA-256", "alice", "secret") {
		t.Fatal("login failed")
	}
	features := c.openStream()
	caps := features.Child(nsCaps, "c")
	if caps == nil || caps.AttrValue("hash") != "sha-1" || caps.AttrValue("node") != serverCapsNode || caps.AttrValue("ver") == "" {
		t.Fatalf("stream features without the server's caps: %s", features)
	}
	c.bind("desk")
	c.send(`<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	info := iqReply(c, "d1").Child(nsDiscoInfo, "query")
	if got := capsVer(info); got != caps.AttrValue("ver") {
		t.Errorf("ver %s in the stream features, %s from disco#info %s", caps.AttrValue("ver"), got, info)
	}
	var form *Element
	for _, x := range info.Elements() {
		if x.Name.Space == nsDataForms {
			form = x
		}
	}
	if form == nil {
		t.Fatalf("no serverinfo form in %s", info)
	}
	values := formValues(form)
	if got := values["FORM_TYPE"]; len(got) != 1 || got[0] != nsServerInfo {
		t.Errorf("FORM_TYPE %q", got)
	}
	if got := strings.Join(values["admin-addresses"], " "); got != "mailto:ops@example.com xmpp:ops@example.com" {
		t.Errorf("admin-addresses %q", got)
	}
	if got := strings.Join(values["abuse-addresses"], " "); got != "mailto:abuse@example.com" {
		t.Errorf("abuse-addresses %q", got)
	}
	for _, f := range []string{nsTime, nsLast, nsVersion} {
		if !strings.Contains(info.String(), `var="`+f+`"`) {
			t.Errorf("disco#info lacks %s", f)
		}
	}
	node := serverCapsNode + "#" + caps.AttrValue("ver")
	c.send(`<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='%s'/></iq>`, node)
	q := iqReply(c, "d2").Child(nsDiscoInfo, "query")
	if q == nil || q.AttrValue("node") != node || capsVer(q) != caps.AttrValue("ver") {
		t.Errorf("disco#info on the caps node: %v", q)
	}
	c.send(`<iq type='get' id='d3' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='%s#stale'/></iq>`, serverCapsNode)
	if r := iqReply(c, "d3"); r.AttrValue("type") != "error" {
		t.Errorf("a stale caps node: %s, want item-not-found", r)
	}

	if _, err := contactForm([]string{"ceo=mailto:x@example.com"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

// XEP-0215 §3.2, §3.3: the configured STUN and TURN servers, by type, and
// TURN credentials that a TURN server sharing the secret accepts
// (username EXPIRY:JID, password base64 HMAC-SHA1 of it).
func TestExternalServices(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.ExternalServices = []string{"stun:stun.example.com:3478", "turn:turn.example.com:3478?transport=udp", "turns:turn.example.com"}
		c.ExternalServiceSecret = "s3cret"
	})
	ts.addUser(t, "alice", "secret")
	c := ts.online(t, "alice", "secret", "desk")
	c.send(`<iq type='get' id='x1' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`)
	all := iqReply(c, "x1").Child(nsExtDisco, "services")
	if all == nil || len(all.Elements()) != 3 {
		t.Fatalf("services: %v", all)
	}
	stun := all.Elements()[0]
	if stun.AttrValue("type") != "stun" || stun.AttrValue("host") != "stun.example.com" || stun.AttrValue("port") != "3478" || stun.AttrValue("username") != "" {
		t.Errorf("stun: %s", stun)
	}
	turn := all.Elements()[1]
	user, pw := turn.AttrValue("username"), turn.AttrValue("password")
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(user))
	if turn.AttrValue("transport") != "udp" || !strings.HasSuffix(user, ":alice@localhost") || pw != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("turn credentials: %s", turn)
	}
	exp, err := strconv.ParseInt(strings.Split(user, ":")[0], 10, 64)
	if err != nil || time.Until(time.Unix(exp, 0)) < time.Hour {
		t.Errorf("expiry in %q: %v", user, err)
	}
	c.send(`<iq type='get' id='x2' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='stun'/></iq>`)
	if only := iqReply(c, "x2").Child(nsExtDisco, "services"); len(only.Elements()) != 1 {
		t.Errorf("type=stun: %s", only)
	}
	c.send(`<iq type='get' id='x3' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service type='turns' host='turn.example.com'/></credentials></iq>`)
	if cr := iqReply(c, "x3").Child(nsExtDisco, "credentials"); cr == nil || len(cr.Elements()) != 1 || cr.Elements()[0].AttrValue("password") == "" {
		t.Errorf("credentials: %v", cr)
	}
	c.send(`<iq type='get' id='x4' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='elsewhere.example.com'/></credentials></iq>`)
	if r := iqReply(c, "x4"); !strings.Contains(r.String(), "item-not-found") {
		t.Errorf("credentials for an unknown host: %s", r)
	}
	for _, bad := range []string{"http://x", "turn:", "stun:h:99999", "turn:h?transport=sctp"} {
		if CheckExternalService(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
