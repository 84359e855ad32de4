package identity

import (
	"errors"
	"testing"
)

// Each identity has one stored form (RFC 7622, RFC 8265): width, case
// and spaces around a room name do not make another room, another user or
// another domain; what a localpart or JID may not hold is refused.
func TestNormalise(t *testing.T) {
	for _, tc := range []struct {
		f       func(string) (string, error)
		in, out string
	}{
		{RoomName, " Lobby ", "lobby"},
		{RoomName, "ｌｏｂｂｙ", "lobby"}, // fullwidth (RFC 8265 §3.3.1 width mapping)
		{RoomName, "Straße", "straße"},
		{BareJID, "ALICE@Example.ORG", "alice@example.org"},
		{BareJID, "Ａlice@example.org", "alice@example.org"},
		{DomainJID, "Example.NET", "example.net"},
		{func(s string) (string, error) { return PolicyEntry(s, "group:") }, "*", "*"},
		{func(s string) (string, error) { return PolicyEntry(s, "group:") }, "group:Legal", "group:Legal"},
		{func(s string) (string, error) { return PolicyEntry(s, "group:") }, "Bob@EXAMPLE.org", "bob@example.org"},
		{func(s string) (string, error) { return PolicyEntry(s, "group:") }, "EXAMPLE.org", "example.org"},
	} {
		got, err := tc.f(tc.in)
		if err != nil || got != tc.out {
			t.Errorf("%q: %q (%v), want %q", tc.in, got, err, tc.out)
		}
	}
	for _, bad := range []string{"", "a b", "a@b", "a/b", "a:b", "a\u200bb", "a\u202eb", "\u01c4"} {
		if got, err := RoomName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("room name %q: %q (%v), want refused", bad, got, err)
		}
	}
	for _, bad := range []string{"alice", "alice@example.org/phone", "@example.org"} {
		if got, err := BareJID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("bare JID %q: %q (%v), want refused", bad, got, err)
		}
	}
}
