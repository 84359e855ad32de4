package interop

import "testing"

// FuzzAddressMapping: any SIP user part either is refused or maps to a
// JID that maps back to a user part naming the same JID (RFC 7247 §5
// both ways are inverse on what they accept).
func FuzzAddressMapping(f *testing.F) {
	for _, s := range []string{"alice", "o'hara", "a%20b", "a%5C27b", "%2B1555", "caf%C3%A9", "x%00", "%zz", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, user string) {
		j, err := JIDFromSIP("sip", user, "example.com")
		if err != nil {
			return
		}
		back, host, err := SIPFromJID(j)
		if err != nil {
			t.Fatalf("%q -> %s -> %v", user, j, err)
		}
		j2, err := JIDFromSIP("sip", back, host)
		if err != nil || !j2.Equal(j) {
			t.Fatalf("%q -> %s -> sip:%s@%s -> %v, %v", user, j, back, host, j2, err)
		}
		if err := CheckText(j.String()); err != nil {
			t.Fatalf("%q -> %q, which XML cannot carry: %v", user, j, err)
		}
	})
}
