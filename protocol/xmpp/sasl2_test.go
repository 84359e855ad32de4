package xmpp

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// sasl2Login is a raw client's SASL2 exchange (XEP-0388 §2) with
// xdg-go/scram's client: <authenticate/> with the initial response and
// inline (the XML of the user-agent, bind, FAST elements), a challenge and
// a response, then <success/> (returned, its server signature checked) or
// <failure/> (returned). binding, if not nil, is the channel binding of a
// -PLUS mechanism.
func (c *testClient) sasl2Login(mech, user, password, inline string, binding func(*tls.ConnectionState) (scram.ChannelBinding, error)) *Element {
	c.t.Helper()
	conv := c.scramConversation(mech, user, password, binding)
	first, _ := conv.Step("")
	c.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'><initial-response>%s</initial-response>%s</authenticate>`,
		mech, base64.StdEncoding.EncodeToString([]byte(first)), inline)
	for {
		el := c.next()
		switch {
		case el.Name.Space == nsSASL2 && el.Name.Local == "challenge":
			data, _ := base64.StdEncoding.DecodeString(el.Text())
			resp, err := conv.Step(string(data))
			if err != nil {
				c.t.Fatalf("SCRAM client step: %v", err)
			}
			c.send(`<response xmlns='urn:xmpp:sasl:2'>%s</response>`, base64.StdEncoding.EncodeToString([]byte(resp)))
		case el.Name.Space == nsSASL2 && el.Name.Local == "success":
			ad := el.Child(nsSASL2, "additional-data")
			if ad == nil {
				c.t.Fatalf("SCRAM success without additional-data (the server signature): %s", el)
			}
			data, _ := base64.StdEncoding.DecodeString(ad.Text())
			if _, err := conv.Step(string(data)); err != nil {
				c.t.Fatalf("server signature did not verify: %v", err)
			}
			return el
		case el.Name.Space == nsSASL2 && el.Name.Local == "failure":
			return el
		default:
			c.t.Fatalf("unexpected during SASL2: %s", el)
		}
	}
}

// sasl2Dial connects, negotiates STARTTLS and returns the client with the
// features it got.
func (ts *testServer) sasl2Dial(t *testing.T) (*testClient, *Element) {
	t.Helper()
	c := dialRaw(t, ts.addr)
	c.openStream()
	return c, c.startTLS()
}

const phoneAgent = `<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>AwesomeXMPP</software><device>Kiva's Phone</device></user-agent>`

// XEP-0388 §2.1 and XEP-0386 §2: <authentication/> lists the mechanisms
// RFC 6120's <mechanisms/> lists (the same rules: -PLUS only with channel
// binding), and Bind2 inline with the features it can enable.
func TestSASL2Offer(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	_, f := ts.sasl2Dial(t)
	a := f.Child(nsSASL2, "authentication")
	if a == nil {
		t.Fatalf("no <authentication xmlns='urn:xmpp:sasl:2'/> in %s", f)
	}
	var mechs []string
	for _, m := range a.Elements() {
		if m.Name.Local == "mechanism" {
			mechs = append(mechs, m.Text())
		}
	}
	if got, want := strings.Join(mechs, " "), strings.Join(mechanisms(f), " "); got != want {
		t.Errorf("SASL2 mechanisms %q, RFC 6120 mechanisms %q", got, want)
	}
	bind := a.Child(nsSASL2, "inline").Child(nsBind2, "bind")
	if bind == nil {
		t.Fatalf("no Bind2 inline: %s", a)
	}
	var vars []string
	for _, fe := range bind.Child(nsBind2, "inline").Elements() {
		vars = append(vars, fe.AttrValue("var"))
	}
	for _, want := range []string{nsCarbons, nsCSI, nsSM} {
		if !strings.Contains(strings.Join(vars, " "), want) {
			t.Errorf("Bind2 inline features %v lack %s", vars, want)
		}
	}
}

// XEP-0388 §2.3-2.6 with XEP-0386 §3: one round trip authenticates with
// SCRAM-SHA-256, binds a resource made of the tag and the user-agent,
// enables carbons and resumable stream management and starts inactive; the
// stream is not restarted, the features follow. The same user-agent gets
// the same resource back, replacing its old session; another gets another.
func TestSASL2Bind2(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	c, _ := ts.sasl2Dial(t)
	inline := phoneAgent + `<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag>` +
		`<enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind>`
	success := c.sasl2Login("SCRAM-SHA-256", "romeo", "secret", inline, nil)
	if success.Name.Local != "success" {
		t.Fatalf("SASL2 with Bind2 answered %s", success)
	}
	ident := success.Child(nsSASL2, "authorization-identifier").Text()
	if !strings.HasPrefix(ident, "romeo@localhost/AwesomeXMPP.") {
		t.Errorf("authorization-identifier %q, want romeo@localhost/AwesomeXMPP.<suffix>", ident)
	}
	bound := success.Child(nsBind2, "bound")
	if bound == nil || bound.Child(nsSM, "enabled") == nil || bound.Child(nsSM, "enabled").AttrValue("resume") != "true" {
		t.Fatalf("<bound/> without resumable <enabled/>: %s", success)
	}
	f := c.next()
	if f.Name.Local != "features" || f.Child(nsBind, "bind") != nil || f.Child(nsSM, "sm") != nil || f.Child(nsCSI, "csi") == nil {
		t.Errorf("features after Bind2 = %s, want no bind, no sm (enabled), csi", f)
	}
	c.jid = ident
	s := ts.sessionOf(c)
	if s == nil {
		t.Fatalf("no session bound as %s", ident)
	}
	s.mu.Lock()
	carbons, inactive, sm := s.carbons, s.csi.inactive, s.sm.enabled && s.sm.id != ""
	s.mu.Unlock()
	if !carbons || !inactive || !sm {
		t.Errorf("inline features: carbons %v, inactive %v, resumable SM %v; want all", carbons, inactive, sm)
	}
	c.send(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.expect("ping reply", func(e *Element) bool { return e.AttrValue("id") == "p1" && e.AttrValue("type") == "result" })

	// The same device again (its first connection still open): the same
	// resource, and the old session is replaced.
	again, _ := ts.sasl2Dial(t)
	success = again.sasl2Login("SCRAM-SHA-256", "romeo", "secret", phoneAgent+`<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag></bind>`, nil)
	if got := success.Child(nsSASL2, "authorization-identifier").Text(); got != ident {
		t.Errorf("the same user-agent got %q, want its own resource %q back", got, ident)
	}
	if cond := c.expectStreamError(); cond != "conflict" {
		t.Errorf("the replaced session ended with %q, want conflict", cond)
	}
	other, _ := ts.sasl2Dial(t)
	success = other.sasl2Login("SCRAM-SHA-256", "romeo", "secret", `<user-agent id='another'/><bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag></bind>`, nil)
	if got := success.Child(nsSASL2, "authorization-identifier").Text(); got == ident || !strings.HasPrefix(got, "romeo@localhost/AwesomeXMPP.") {
		t.Errorf("another user-agent got %q (the first has %q)", got, ident)
	}
}

// SASL2 without Bind2: success names the bare JID, the stream is not
// restarted, and the client binds as RFC 6120 says. A wrong password is a
// SASL2 failure with RFC 6120's condition. Channel binding works as in RFC
// 6120's profile.
func TestSASL2WithoutBind2(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "juliet", "secret")
	c, _ := ts.sasl2Dial(t)
	failure := c.sasl2Login("SCRAM-SHA-256", "juliet", "wrong", phoneAgent, nil)
	if failure.Name.Local != "failure" || failure.Child(nsSASL, "not-authorized") == nil {
		t.Fatalf("wrong password answered %s, want <failure><not-authorized/></failure>", failure)
	}
	success := c.sasl2Login("SCRAM-SHA-256-PLUS", "juliet", "secret", phoneAgent, scram.NewTLSExporterBinding)
	if success.Name.Local != "success" || success.Child(nsSASL2, "authorization-identifier").Text() != "juliet@localhost" {
		t.Fatalf("SCRAM-SHA-256-PLUS over SASL2 answered %s", success)
	}
	f := c.next()
	if f.Child(nsBind, "bind") == nil {
		t.Fatalf("features after SASL2 without Bind2 = %s, want bind", f)
	}
	if j := c.bind("balcony"); j != "juliet@localhost/balcony" {
		t.Errorf("bound %q", j)
	}
}
