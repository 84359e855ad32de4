package xmpp

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// FuzzSMElements feeds arbitrary XML, read as the server reads a stream,
// to stream management's element parsing (smCount, for <a/> and
// <resume/>) and to the acknowledgement of a session that sent sent
// stanzas of which the last kept are unacknowledged (ackLocked): nothing
// panics; an h over the count sent is refused and changes nothing; any
// other h leaves exactly the stanzas after it unacknowledged.
func FuzzSMElements(f *testing.F) {
	f.Add([]byte(`<a xmlns='urn:xmpp:sm:3' h='3'/>`), uint32(5), uint8(4))
	f.Add([]byte(`<resume xmlns='urn:xmpp:sm:3' previd='abc' h='4294967295'/>`), uint32(4294967295), uint8(255))
	f.Add([]byte(`<a xmlns='urn:xmpp:sm:3' h='-1'/><r xmlns='urn:xmpp:sm:3'/><enable xmlns='urn:xmpp:sm:3' resume='1'/>`), uint32(0), uint8(0))
	f.Add([]byte(`<a xmlns='urn:xmpp:sm:3' h=' 7'/><a xmlns='urn:xmpp:sm:3' h='0x10'/>`), uint32(20), uint8(30))
	ts := startServer(f)
	f.Fuzz(func(t *testing.T, data []byte, sent uint32, kept uint8) {
		els, _ := readStanzas(data)
		for _, el := range els {
			if el.Name.Space != nsSM {
				continue
			}
			h, ok := smCount(el)
			if !ok {
				continue
			}
			k := min(uint32(kept), sent)
			s := newSession(ts.srv, 10)
			s.sm.enabled, s.sm.sent = true, sent
			s.sm.unacked = make([]outItem, k)
			err := s.smAck(h)
			switch {
			case h > sent && (err == nil || uint32(len(s.sm.unacked)) != k):
				t.Fatalf("h=%d over %d sent: err %v, %d kept (was %d)", h, sent, err, len(s.sm.unacked), k)
			case h <= sent && (err != nil || uint32(len(s.sm.unacked)) != min(k, sent-h)):
				t.Fatalf("h=%d of %d sent, %d kept: err %v, %d kept, want %d", h, sent, k, err, len(s.sm.unacked), min(k, sent-h))
			}
		}
	})
}

// FuzzSASL2 feeds arbitrary XML to what reads SASL2's <authenticate/>
// (parseSASL2, XEP-0388 §3.3.1), the FAST check of an HT login
// (fastAuthenticate, XEP-0484) against a stored token, and Bind2's
// binding of the resource it names (bind2, XEP-0386): nothing panics, the
// bounds hold, an HT login succeeds only with the token's proof, and a
// bound resource is the tag's (or the default) with the device's suffix.
func FuzzSASL2(f *testing.F) {
	f.Add([]byte(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>biwsbj11c2VyLHI9cm9tZW8=</initial-response>` +
		`<user-agent id='d4565fa7'><software>AwesomeXMPP</software><device>Phone</device></user-agent>` +
		`<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/><enable xmlns='urn:xmpp:carbons:2'/></bind></authenticate>`))
	f.Add([]byte(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>YWxpY2UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</initial-response>` +
		`<user-agent id='phone'/><fast xmlns='urn:xmpp:fast:0' count='7' invalidate='true'/></authenticate>`))
	f.Add([]byte(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism=''><initial-response>!!</initial-response><bind xmlns='urn:xmpp:bind:0'><tag>a/b</tag></bind></authenticate>`))
	f.Add([]byte(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-EXPR'><user-agent id=''/><bind xmlns='urn:xmpp:bind:0'><tag></tag></bind></authenticate>`))
	ts := startServer(f)
	ts.addUser(f, "alice", "secret")
	token := strings.Repeat("t", 80)
	hash := sha256.Sum256([]byte(token))
	ctx := context.Background()
	if err := ts.store.PutFastToken(ctx, storage.FastToken{Owner: "alice", AgentID: "phone", Mechanism: "HT-SHA-256-NONE",
		Hash: hash[:], Expires: time.Now().Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		els, _ := readStanzas(data)
		for _, el := range els {
			if el.Name.Space != nsSASL2 || el.Name.Local != "authenticate" {
				continue
			}
			req, err := parseSASL2(el)
			if err != nil {
				continue
			}
			if len(req.mech) > 20 || len(req.agent.id) > maxAgentID || len(req.agent.software) > maxAgentText || len(req.agent.device) > maxAgentText {
				t.Fatalf("parseSASL2 passed over-long values: %+v", req)
			}
			c := &conn{srv: ts.srv, stop: make(chan struct{})}
			if isFASTMechanism(req.mech) {
				user, _, _, err := c.fastAuthenticate(ctx, req)
				want := append([]byte("alice\x00"), htProof(hash[:], "Initiator", nil)...)
				if err == nil && (user != "alice" || string(req.initial) != string(want) || req.agent.id != "phone") {
					t.Fatalf("FAST let %q in with %q as %q", user, req.initial, req.agent.id)
				}
			}
			b := el.Child(nsBind2, "bind")
			if b == nil {
				continue
			}
			c.username = "alice"
			s, _, err := c.bind2(b, req.agent)
			if err != nil {
				continue
			}
			tag := "parley"
			if tg := b.Child(nsBind2, "tag"); tg != nil && strings.TrimSpace(tg.Text()) != "" {
				tag = strings.TrimSpace(tg.Text())
			}
			res := s.jid.Resourcepart()
			if _, err := jid.New("alice", "localhost", res); err != nil || !strings.HasPrefix(res, tag+".") {
				t.Fatalf("Bind2 with tag %q bound %q", tag, res)
			}
			ts.srv.router.unbind(s)
			ts.srv.sm.remove(s.sm.id, s)
		}
	})
}
