package xmpp

import (
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// A message stored offline for a SIP-only user is read back, at their
// REGISTER, into the same interop.Message (RFC 7572 fields survive).
func TestStoredMessageReadsBack(t *testing.T) {
	m := interop.Message{
		From: jid.MustParse("bob@example.com/desk"), To: jid.MustParse("alice@example.com"),
		Type: "chat", ID: "m1", Thread: "t-1", Subject: "lunch", Body: "at <noon> & \"sharp\"",
	}
	stored := imElement(m)
	stored.Append(NewElement(nsDelay, "delay", "from", "example.com", "stamp", "2026-01-01T00:00:00Z"))
	got, ok := imMessage(stored.Bytes(), m.To)
	if !ok {
		t.Fatalf("imMessage(%s) refused it", stored.Bytes())
	}
	if got.From.String() != m.From.String() || got.To.String() != m.To.String() || got.Type != m.Type ||
		got.ID != m.ID || got.Thread != m.Thread || got.Subject != m.Subject || got.Body != m.Body {
		t.Errorf("read back %+v, stored %+v", got, m)
	}
}

// Messages another front door cannot carry stay for an XMPP login.
func TestStoredMessageWithoutBodyStays(t *testing.T) {
	for _, stanza := range []string{
		`<message type="chat" from="bob@example.com/desk" to="alice@example.com"><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
		`<message type="headline" from="bob@example.com/desk" to="alice@example.com"><body>x</body></message>`,
		`<message type="chat" to="alice@example.com"><body>no sender</body></message>`,
		`not xml <`,
	} {
		if m, ok := imMessage([]byte(stanza), jid.MustParse("alice@example.com")); ok {
			t.Errorf("imMessage(%s) = %+v, want refused", stanza, m)
		}
	}
}
