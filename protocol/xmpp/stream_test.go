package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth"
)

func featureNames(f *Element) []string {
	var out []string
	for _, c := range f.Elements() {
		out = append(out, c.Name.Local)
	}
	return out
}

func mechanisms(f *Element) []string {
	var out []string
	if m := f.Child(nsSASL, "mechanisms"); m != nil {
		for _, c := range m.Elements() {
			out = append(out, c.Text())
		}
	}
	return out
}

// RFC 6120 §5.3.1: STARTTLS is the only feature offered, and it is
// required, until TLS is up; then SASL; then binding.
func TestNegotiationOrder(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "alice", "secret")
	c := dialRaw(t, ts.addr)
	f := c.openStream()
	tlsEl := f.Child(nsTLS, "starttls")
	if tlsEl == nil || tlsEl.Child(nsTLS, "required") == nil || len(f.Elements()) != 1 {
		t.Fatalf("features before TLS = %s, want only <starttls><required/></starttls>", f)
	}
	f = c.startTLS()
	mechs := strings.Join(mechanisms(f), " ")
	if mechs != "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN" {
		t.Errorf("mechanisms = %q", mechs)
	}
	cb := f.Child(nsSASLCB, "sasl-channel-binding")
	if cb == nil || !strings.Contains(cb.String(), "tls-exporter") || !strings.Contains(cb.String(), "tls-server-end-point") {
		t.Errorf("XEP-0440 channel-binding types missing: %s", f)
	}
	if !c.scramAuth("SCRAM-SHA-256", "alice", "secret") {
		t.Fatal("SCRAM-SHA-256 failed")
	}
	f = c.openStream()
	if got := strings.Join(featureNames(f), " "); got != "bind session ver c csi sm" {
		t.Errorf("features after SASL = %q, want bind session ver c csi sm (the server's caps, XEP-0115 §6.3; client state indication, XEP-0352; stream management, XEP-0198)", got)
	}
	if j := c.bind("laptop"); j != "alice@localhost/laptop" {
		t.Errorf("bound %q", j)
	}
}

func TestAuthBeforeTLSIsRefused(t *testing.T) {
	ts := startServer(t)
	c := dialRaw(t, ts.addr)
	c.openStream()
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`,
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret")))
	el := c.next()
	if el.Name.Local != "failure" || el.Child(nsSASL, "encryption-required") == nil {
		t.Fatalf("got %s, want failure/encryption-required", el)
	}
	if cond := c.expectStreamError(); cond != "policy-violation" {
		t.Errorf("stream error %q", cond)
	}
}

func TestStanzaBeforeAuthIsRefused(t *testing.T) {
	ts := startServer(t)
	c := dialRaw(t, ts.addr)
	c.openStream()
	c.send(`<message to='bob@localhost'><body>hi</body></message>`)
	if cond := c.expectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error %q, want not-authorized", cond)
	}
}

// An account with only a SCRAM-SHA-1 credential (imported from Prosody by
// parleyctl import) logs in with SCRAM-SHA-1 and with PLAIN; the PLAIN
// login stores the SCRAM-SHA-256 and digest credentials derived from the
// password, so SCRAM-SHA-256 works after it (and not before).
func TestPlainCompletesImportedCredentials(t *testing.T) {
	ts := startServer(t)
	creds, err := auth.DeriveCredentials("alice", "old pw")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ts.store.CreateAccount(ctx, "alice", creds[:1], nil, nil); err != nil { // SCRAM-SHA-1 only
		t.Fatal(err)
	}
	login := func(mech string) bool {
		c := dialRaw(t, ts.addr)
		c.openStream()
		c.startTLS()
		if mech != "PLAIN" {
			return c.scramAuth(mech, "alice", "old pw")
		}
		c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`,
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00old pw")))
		return c.next().Name.Local == "success"
	}
	if !login("SCRAM-SHA-1") {
		t.Fatal("SCRAM-SHA-1 login with the imported credential failed")
	}
	if login("SCRAM-SHA-256") {
		t.Fatal("SCRAM-SHA-256 login succeeded with no SCRAM-SHA-256 credential")
	}
	if !login("PLAIN") {
		t.Fatal("PLAIN login against the SCRAM-SHA-1 credential failed")
	}
	if !login("SCRAM-SHA-256") {
		t.Error("SCRAM-SHA-256 login failed after the PLAIN login completed the credentials")
	}
	if a, err := ts.store.Account(ctx, "alice"); err != nil || len(a.Credentials) != 2 || len(a.Digest) == 0 {
		t.Errorf("after PLAIN the account holds %d SCRAM and %d digest credentials (%v), want 2 and some", len(a.Credentials), len(a.Digest), err)
	}
}

func TestMechanisms(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "alice", "pässword")
	for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} {
		t.Run(mech, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.openStream()
			c.startTLS()
			if !c.scramAuth(mech, "alice", "pässword") {
				t.Fatalf("%s login failed", mech)
			}
		})
	}
	t.Run("PLAIN", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.openStream()
		c.startTLS()
		c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`,
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00pässword")))
		if el := c.next(); el.Name.Local != "success" {
			t.Fatalf("PLAIN: %s", el)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.openStream()
		c.startTLS()
		if c.scramAuth("SCRAM-SHA-256", "alice", "wrong") {
			t.Fatal("wrong password accepted")
		}
		if c.scramAuth("SCRAM-SHA-256", "nobody", "wrong") {
			t.Fatal("unknown user accepted")
		}
		// The third failure ends the stream (MaxAuthFailures = 3).
		c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`,
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00nope")))
		if el := c.next(); el.Child(nsSASL, "not-authorized") == nil {
			t.Fatalf("got %s", el)
		}
		if cond := c.expectStreamError(); cond != "policy-violation" {
			t.Errorf("after 3 failures: %q", cond)
		}
	})
	t.Run("channel binding downgrade", func(t *testing.T) {
		// gs2 flag "y": the client supports channel binding but thinks
		// we do not; since we advertise -PLUS it is an attack.
		c := dialRaw(t, ts.addr)
		c.openStream()
		c.startTLS()
		c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>`,
			base64.StdEncoding.EncodeToString([]byte("y,,n=alice,r=abcdefghijklmnop")))
		el := c.next()
		if el.Name.Local != "failure" {
			t.Fatalf("downgrade accepted: %s", el)
		}
	})
}

// Without channel binding (the default) only the plain mechanisms are
// offered, and a client that supports binding ("y") is welcome, as slixmpp
// needs.
func TestWithoutChannelBinding(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	c := dialRaw(t, ts.addr)
	c.openStream()
	f := c.startTLS()
	if got := strings.Join(mechanisms(f), " "); got != "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN" {
		t.Errorf("mechanisms = %q", got)
	}
	if f.Child(nsSASLCB, "") != nil {
		t.Errorf("XEP-0440 advertised without channel binding: %s", f)
	}
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>`,
		base64.StdEncoding.EncodeToString([]byte("y,,n=alice,r=abcdefghijklmnop")))
	if el := c.next(); el.Name.Local != "challenge" {
		t.Fatalf("gs2 flag y refused: %s", el)
	}
	c2 := dialRaw(t, ts.addr)
	c2.openStream()
	c2.startTLS()
	c2.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>%s</auth>`,
		base64.StdEncoding.EncodeToString([]byte("p=tls-exporter,,n=alice,r=abcdefghijklmnop")))
	if el := c2.next(); el.Name.Local != "failure" {
		t.Fatalf("-PLUS accepted without channel binding: %s", el)
	}
}

func TestDirectTLS(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "alice", "secret")
	conn, err := tls.Dial("tcp", ts.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &testClient{t: t, conn: conn, dec: xml.NewDecoder(conn), domain: "localhost"}
	f := c.openStream()
	if f.Child(nsSASL, "mechanisms") == nil {
		t.Fatalf("direct TLS should offer SASL at once: %s", f)
	}
	if !c.scramAuth("SCRAM-SHA-256-PLUS", "alice", "secret") {
		t.Fatal("login failed")
	}
	c.openStream()
	c.bind("phone")
}

// RFC 6120 §7.7.2.2: a taken resource is replaced with a generated one.
func TestBindConflictAssignsNewResource(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	a := ts.login(t, "alice", "secret", "desk")
	b := ts.login(t, "alice", "secret", "desk")
	if a.jid != "alice@localhost/desk" || b.jid == a.jid || !strings.HasPrefix(b.jid, "alice@localhost/") {
		t.Fatalf("jids %q and %q", a.jid, b.jid)
	}
}

func TestStreamHeaderErrors(t *testing.T) {
	ts := startServer(t)
	cases := []struct {
		name, header, want string
	}{
		{"wrong host", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>`, "host-unknown"},
		{"wrong content namespace", `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`, "invalid-namespace"},
		{"wrong stream namespace", `<stream:stream xmlns='jabber:client' xmlns:stream='urn:example' to='localhost' version='1.0'>`, "invalid-namespace"},
		{"old version", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>`, "unsupported-version"},
		{"not XML", `GET / HTTP/1.1` + "\r\n\r\n", "not-well-formed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.send("%s", tc.header)
			if tc.want != "not-well-formed" {
				c.readStreamHeader()
			} else {
				c.readStreamHeader()
			}
			if got := c.expectStreamError(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The acceptance's hostile inputs: each gets its stream error while a
// logged-in user keeps chatting.
func TestBadInputDoesNotDisturbOthers(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxUnauthPerIP = 50
		c.UnauthTimeout = 2 * time.Second
	})
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	alice := ts.online(t, "alice", "secret", "a")
	bob := ts.online(t, "bob", "secret", "b")
	chat := func(n int) {
		t.Helper()
		alice.send(`<message to='bob@localhost' type='chat' id='m%d'><body>still here %d</body></message>`, n, n)
		bob.expect("alice's message", func(e *Element) bool { return e.AttrValue("id") == fmt.Sprintf("m%d", n) })
	}
	chat(0)

	t.Run("not well-formed", func(t *testing.T) {
		c := ts.login(t, "alice", "secret", "evil")
		c.send(`<message to='bob@localhost'><body>unclosed</message>`)
		if cond := c.expectStreamError(); cond != "not-well-formed" {
			t.Errorf("got %q", cond)
		}
		chat(1)
	})
	t.Run("10 MiB stanza", func(t *testing.T) {
		c := ts.login(t, "alice", "secret", "big")
		go func() {
			// The server cuts us off long before the end: ignore
			// write errors.
			payload := strings.Repeat("A", 10<<20)
			_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c.conn, `<message to='bob@localhost'><body>%s</body></message>`, payload)
		}()
		if cond := c.expectStreamError(); cond != "policy-violation" {
			t.Errorf("got %q", cond)
		}
		chat(2)
	})
	t.Run("billion laughs", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		var lol strings.Builder
		lol.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&lol, `<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
		}
		lol.WriteString(`]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>&lol9;`)
		c.send("%s", lol.String())
		c.readStreamHeader()
		if cond := c.expectStreamError(); cond != "restricted-xml" {
			t.Errorf("got %q", cond)
		}
		chat(3)
	})
	t.Run("entity inside a session", func(t *testing.T) {
		c := ts.login(t, "alice", "secret", "ent")
		c.send(`<message to='bob@localhost'><body>&lol9;</body></message>`)
		if cond := c.expectStreamError(); cond != "not-well-formed" {
			t.Errorf("got %q", cond)
		}
		chat(4)
	})
	t.Run("too many unauthenticated connections", func(t *testing.T) {
		var idle []*testClient
		for range 50 {
			c := dialRaw(t, ts.addr)
			c.openStream()
			idle = append(idle, c)
		}
		extra := dialRaw(t, ts.addr)
		extra.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
		extra.readStreamHeader()
		if cond := extra.expectStreamError(); cond != "policy-violation" {
			t.Errorf("51st connection: %q", cond)
		}
		chat(5)
		// The idle ones time out (UnauthTimeout 2 s).
		var wg sync.WaitGroup
		errs := make(chan string, len(idle))
		for _, c := range idle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				el, err := c.nextOrErr(10 * time.Second)
				if err != nil || el.Name.Local != "error" || el.Child(nsStreamE, "connection-timeout") == nil {
					errs <- fmt.Sprintf("idle connection: %v %v", el, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		chat(6)
	})
	t.Run("forged from", func(t *testing.T) {
		c := ts.login(t, "alice", "secret", "forge")
		c.send(`<message from='bob@localhost/b' to='bob@localhost'><body>I am bob</body></message>`)
		if cond := c.expectStreamError(); cond != "invalid-from" {
			t.Errorf("got %q", cond)
		}
		chat(7)
	})
}
