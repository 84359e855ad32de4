package interop

import (
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// RFC 7247 §5 address mapping, both ways, with XEP-0106 escaping for what
// a JID localpart may not hold.
func TestAddressMapping(t *testing.T) {
	for _, c := range []struct {
		sipUser, host string // as on the wire
		jid           string
		backUser      string // SIPFromJID's answer, when not sipUser
	}{
		{"alice", "example.com", "alice@example.com", ""},
		{"Alice", "EXAMPLE.com", "alice@example.com", "alice"}, // PRECIS case-maps; hosts are case-insensitive
		{"o'hara", "example.com", `o\27hara@example.com`, ""},
		{"a%20b", "example.com", `a\20b@example.com`, ""},
		{"a%40b", "example.com", `a\40b@example.com`, ""},
		{"x%3Ay", "example.com", `x\3ay@example.com`, ""},
		{"a%5C27b", "example.com", `a\5c27b@example.com`, ""}, // a literal "\27" must not read as an escape
		{"a%5Cb", "example.com", `a\b@example.com`, ""},       // a backslash not before an escape stays
		{"%2B15551234", "example.com", "+15551234@example.com", "+15551234"},
		{"caf%C3%A9", "example.com", "café@example.com", ""},
	} {
		j, err := JIDFromSIP("sip", c.sipUser, c.host)
		if err != nil {
			t.Errorf("JIDFromSIP(sip:%s@%s): %v", c.sipUser, c.host, err)
			continue
		}
		if j.String() != c.jid {
			t.Errorf("JIDFromSIP(sip:%s@%s) = %s, want %s", c.sipUser, c.host, j, c.jid)
		}
		user, host, err := SIPFromJID(j)
		if err != nil {
			t.Errorf("SIPFromJID(%s): %v", j, err)
			continue
		}
		want := c.backUser
		if want == "" {
			want = c.sipUser
		}
		if !strings.EqualFold(user, want) || host != strings.ToLower(c.host) {
			t.Errorf("SIPFromJID(%s) = %s@%s, want %s@%s", j, user, host, want, strings.ToLower(c.host))
		}
		// And back again: a fixed point.
		if j2, err := JIDFromSIP("sip", user, host); err != nil || !j2.Equal(j) {
			t.Errorf("round trip of %s through sip:%s@%s gave %v, %v", j, user, host, j2, err)
		}
	}
}

// What cannot be a user's JID is refused, never half-mapped.
func TestAddressMappingRefuses(t *testing.T) {
	for _, c := range []struct{ scheme, user, host string }{
		{"tel", "+15551234", "example.com"},
		{"sip", "", "example.com"},
		{"sip", "alice", ""},
		{"sip", "%20alice", "example.com"}, // XEP-0106: no leading space
		{"sip", "alice%20", "example.com"}, // nor trailing
		{"sip", "bad%zz", "example.com"},
		{"sip", "bad%2", "example.com"},
		{"sip", "nul%00", "example.com"},                  // PRECIS refuses controls
		{"sip", strings.Repeat("a", 1100), "example.com"}, // longer than a localpart may be
		{"sip", "alice", "exa mple.com"},
	} {
		if j, err := JIDFromSIP(c.scheme, c.user, c.host); !errors.Is(err, ErrUnmappable) {
			t.Errorf("JIDFromSIP(%s:%s@%s) = %v, %v; want ErrUnmappable", c.scheme, c.user, c.host, j, err)
		}
	}
	if _, _, err := SIPFromJID(jid.MustParse("example.com")); !errors.Is(err, ErrUnmappable) {
		t.Errorf("SIPFromJID(a domain) = %v, want ErrUnmappable", err)
	}
}

// A resource has no place in an address of record (RFC 7247 §5.2).
func TestSIPFromJIDDropsResource(t *testing.T) {
	uri, err := SIPURIFromJID(jid.MustParse("bob@example.com/desk"))
	if err != nil || uri != "sip:bob@example.com" {
		t.Errorf("SIPURIFromJID(bob@example.com/desk) = %q, %v; want sip:bob@example.com", uri, err)
	}
}
