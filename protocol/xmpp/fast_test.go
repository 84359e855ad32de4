package xmpp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
)

// The HT proofs a client computes (draft-schmaus-kitten-sasl-ht §3), with
// the token it was given as the HMAC key.
func clientHT(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// fastLogin authenticates with a FAST token alone (XEP-0484 §3.3):
// <authenticate mechanism='HT-…'/> with username NUL proof, inline extra.
// It returns <success/> (its additional-data checked against the token)
// or <failure/>.
func (c *testClient) fastLogin(mech, user, token string, cb []byte, inline string) *Element {
	c.t.Helper()
	ir := append([]byte(user+"\x00"), clientHT(token, "Initiator", cb)...)
	c.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'><initial-response>%s</initial-response>%s</authenticate>`,
		mech, base64.StdEncoding.EncodeToString(ir), inline)
	el := c.next()
	if el.Name.Local == "success" {
		ad, _ := base64.StdEncoding.DecodeString(el.Child(nsSASL2, "additional-data").Text())
		if !hmac.Equal(ad, clientHT(token, "Responder", cb)) {
			c.t.Errorf("the server's HT proof does not verify: it does not know the token")
		}
	}
	return el
}

func tokenOf(t *testing.T, success *Element) string {
	t.Helper()
	tok := success.Child(nsFAST, "token")
	if tok == nil || tok.AttrValue("token") == "" || tok.AttrValue("expiry") == "" {
		t.Fatalf("no FAST token in %s", success)
	}
	return tok.AttrValue("token")
}

// RFC 2104 §2: HMAC hashes a key longer than the hash's block first, which
// is what lets the server keep only SHA-256(token) (fast.go).
func TestFASTTokenHashIsTheKey(t *testing.T) {
	token := strings.Repeat("x", base64.RawURLEncoding.EncodedLen(fastTokenBytes))
	h := sha256.Sum256([]byte(token))
	if len(token) <= sha256.BlockSize || !bytes.Equal(htProof(h[:], "Initiator", []byte("cb")), clientHT(token, "Initiator", []byte("cb"))) {
		t.Fatalf("a %d-character token: HMAC keyed by its hash differs from HMAC keyed by it", len(token))
	}
}

// XEP-0484 with XEP-0388 and XEP-0386, as a phone does it: the first
// login with the password binds, enables stream management and asks for a
// token; the next logins use the token alone (HT-SHA-256-NONE), one round
// trip, and get the device's resource back. The database keeps only the
// token's hash. A login with the token may ask for a new one: the old one
// stays valid until the new one is used. A count that does not grow, a
// wrong token, another device's id fail; invalidate ends the token.
func TestFASTReconnectWithTokenAlone(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "romeo", "secret")
	bind := `<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`

	c, f := ts.sasl2Dial(t)
	fast := f.Child(nsSASL2, "authentication").Child(nsSASL2, "inline").Child(nsFAST, "fast")
	if fast == nil || !strings.Contains(fast.String(), "HT-SHA-256-NONE") || !strings.Contains(fast.String(), "HT-SHA-256-EXPR") {
		t.Fatalf("FAST not offered inline (with NONE and, on TLS 1.3, EXPR): %s", f)
	}
	success := c.sasl2Login("SCRAM-SHA-256", "romeo", "secret", phoneAgent+bind+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`, nil)
	token := tokenOf(t, success)
	resource := success.Child(nsSASL2, "authorization-identifier").Text()
	c.conn.Close()

	stored, err := ts.store.FastToken(context.Background(), "romeo", "d4565fa7-4d72-4749-b3d3-740edbf87770")
	sum := sha256.Sum256([]byte(token))
	if err != nil || !bytes.Equal(stored.Hash, sum[:]) || bytes.Contains(stored.Hash, []byte(token)) || stored.Device != "Kiva's Phone" {
		t.Fatalf("stored token = %+v, %v; want the SHA-256 of the token only", stored, err)
	}

	// The token alone, with a count, rebinding the same resource.
	c2, _ := ts.sasl2Dial(t)
	success = c2.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent+bind+`<fast xmlns='urn:xmpp:fast:0' count='1'/>`)
	if success.Name.Local != "success" || success.Child(nsSASL2, "authorization-identifier").Text() != resource {
		t.Fatalf("FAST login answered %s, want success as %s", success, resource)
	}
	c2.next() // features
	c2.send(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c2.expect("ping reply", func(e *Element) bool { return e.AttrValue("id") == "p1" })
	c2.conn.Close()

	// Replaying count 1 fails; a wrong token fails; another device's id
	// has no token.
	for _, tc := range []struct{ name, token, inline string }{
		{"replayed count", token, phoneAgent + `<fast xmlns='urn:xmpp:fast:0' count='1'/>`},
		{"wrong token", token + "x", phoneAgent},
		{"other device", token, `<user-agent id='someone-else'/>`},
	} {
		c, _ := ts.sasl2Dial(t)
		if el := c.fastLogin("HT-SHA-256-NONE", "romeo", tc.token, nil, tc.inline); el.Name.Local != "failure" || el.Child(nsSASL, "not-authorized") == nil {
			t.Errorf("%s: answered %s, want not-authorized", tc.name, el)
		}
	}

	// Rotation: a FAST login asks for a new token; the old one still
	// works until the new one is used, then not.
	c3, _ := ts.sasl2Dial(t)
	success = c3.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/><fast xmlns='urn:xmpp:fast:0' count='2'/>`)
	if success.Name.Local != "success" {
		t.Fatalf("FAST login asking for a new token answered %s", success)
	}
	newToken := tokenOf(t, success)
	if newToken == token {
		t.Fatal("the rotated token is the old one")
	}
	c4, _ := ts.sasl2Dial(t)
	if el := c4.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent); el.Name.Local != "success" {
		t.Errorf("the old token before the new one is used: %s, want success", el)
	}
	c5, _ := ts.sasl2Dial(t)
	if el := c5.fastLogin("HT-SHA-256-NONE", "romeo", newToken, nil, phoneAgent); el.Name.Local != "success" {
		t.Errorf("the new token: %s, want success", el)
	}
	c6, _ := ts.sasl2Dial(t)
	if el := c6.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent); el.Name.Local != "failure" {
		t.Errorf("the old token after the new one was used: %s, want failure", el)
	}

	// invalidate='true' (§3.6): the login succeeds, the token is gone.
	c7, _ := ts.sasl2Dial(t)
	if el := c7.fastLogin("HT-SHA-256-NONE", "romeo", newToken, nil, phoneAgent+`<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>`); el.Name.Local != "success" {
		t.Errorf("invalidating login: %s", el)
	}
	c8, _ := ts.sasl2Dial(t)
	if el := c8.fastLogin("HT-SHA-256-NONE", "romeo", newToken, nil, phoneAgent); el.Name.Local != "failure" {
		t.Errorf("an invalidated token: %s, want failure", el)
	}
}

// HT-SHA-256-EXPR binds the proof to the TLS connection (tls-exporter, RFC
// 9266): the proof of another connection does not log in.
func TestFASTChannelBinding(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ChannelBinding = true })
	ts.addUser(t, "juliet", "secret")
	c, _ := ts.sasl2Dial(t)
	token := tokenOf(t, c.sasl2Login("SCRAM-SHA-256", "juliet", "secret", phoneAgent+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>`, nil))
	exporter := func(c *testClient) []byte {
		state := c.conn.(*tls.Conn).ConnectionState()
		b, err := state.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other, _ := ts.sasl2Dial(t)
	c2, _ := ts.sasl2Dial(t)
	if el := c2.fastLogin("HT-SHA-256-EXPR", "juliet", token, exporter(other), phoneAgent); el.Name.Local != "failure" {
		t.Errorf("a proof bound to another connection: %s, want failure", el)
	}
	c3, _ := ts.sasl2Dial(t)
	if el := c3.fastLogin("HT-SHA-256-EXPR", "juliet", token, exporter(c3), phoneAgent); el.Name.Local != "success" {
		t.Errorf("a proof bound to this connection: %s, want success", el)
	}
}

// A password change (in band, XEP-0077 §3.3) ends the account's FAST
// tokens: they were given for the old password. So does `parleyctl user
// disable`, which takes the credentials away (storage SetCredentials).
func TestFASTEndsWithThePassword(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "romeo", "secret")
	c, _ := ts.sasl2Dial(t)
	token := tokenOf(t, c.sasl2Login("SCRAM-SHA-256", "romeo", "secret", phoneAgent+`<bind xmlns='urn:xmpp:bind:0'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`, nil))
	c.next() // features
	c.send(`<iq type='set' id='pw' to='localhost'><query xmlns='jabber:iq:register'><username>romeo</username><password>new-secret</password></query></iq>`)
	if r := c.expect("password change", func(e *Element) bool { return e.AttrValue("id") == "pw" }); r.AttrValue("type") != "result" {
		t.Fatalf("password change answered %s", r)
	}
	c2, _ := ts.sasl2Dial(t)
	if el := c2.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent); el.Name.Local != "failure" {
		t.Errorf("a token from before the password change: %s, want failure", el)
	}
}
