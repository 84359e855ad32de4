package muc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/storage"
)

// RFC 8266 enforcement: what a nick may not hold is refused with a reason
// naming it; what it maps (NFKC width, spaces) is mapped.
func TestNormalizeNick(t *testing.T) {
	tooLong := fmt.Sprintf("1 to %d characters", storage.MaxNickLength)
	for in, want := range map[string]string{
		"alice": "alice", "Ａlice": "Alice", " Alice  B ": "Alice B", "a\u00A0b": "a b", "ℌello": "Hello",
		"Zoë": "Zoë", "Zoe\u0308": "Zoë", "🐈": "🐈",
	} {
		if got, err := NormalizeNick(in); err != nil || got != want {
			t.Errorf("NormalizeNick(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, reason := range map[string]string{
		"al\u200Bice": "U+200B", // zero-width space
		"al\u200Dice": "U+200D", // zero-width joiner out of context
		"al\u202Eice": "U+202E", // right-to-left override
		"al\u2066ice": "U+2066", // left-to-right isolate
		"al\nice":     "U+000A", // line feed
		"al\x01ice":   "U+0001", // a C0 control
		"al\u0085ice": "U+0085", // a C1 control (next line)
		"al\u00ADice": "U+00AD", // soft hyphen
		"al\uFFFEice": "U+FFFE", // a noncharacter
		"   ":         tooLong,  // nothing left
		"":            tooLong,
		strings.Repeat("n", storage.MaxNickLength+1): tooLong,
	} {
		got, err := NormalizeNick(in)
		if err == nil || CodeOf(err) != CodeBadRequest {
			t.Errorf("NormalizeNick(%q) = %q, %v; want bad request", in, got, err)
		} else if e := err.(*Error); !strings.Contains(e.Reason, reason) {
			t.Errorf("NormalizeNick(%q): reason %q, want it to name %q", in, e.Reason, reason)
		}
	}
}

// One occupant's nick keeps out every nick a reader could take for it:
// case variants, fullwidth forms, and UTS #39 confusables; the occupant
// may take a variant of its own nick; once it leaves, the variants are
// free.
func TestLookalikeNicksRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "Alice")
	f.mustJoin("lobby", "bob@localhost", "bob")
	for _, nick := range []string{
		"Alice",          // the same
		"Ａlice",          // fullwidth A: NFKC makes it Alice
		"alice",          // case
		"ALICE",          // case
		"\u0410lice",     // Cyrillic capital A
		"\u0430lice",     // Cyrillic small a
		"AIice",          // capital I for l
		"A1ice",          // digit one for l
		"Alic\u0435",     // Cyrillic small ie for e
		"\U0001D400lice", // mathematical bold capital A
	} {
		_, err := f.join("lobby", "mallory@localhost", nick)
		wantCode(t, err, CodeConflict)
	}
	// A rename is held to the same rule.
	if err := f.e.Join(ctx, JoinRequest{Room: "lobby", Nick: "\u0391LICE", User: "bob@localhost",
		Session: Session{Address: "bob@localhost/bob", FrontDoor: "test", Sink: &recorder{}}}); CodeOf(err) != CodeConflict {
		t.Errorf("bob renamed to ΑLICE (a Greek capital alpha): %v, want a conflict", err)
	}
	if err := f.e.Join(ctx, JoinRequest{Room: "lobby", Nick: "B0B", User: "bob@localhost",
		Session: Session{Address: "bob@localhost/bob", FrontDoor: "test", Sink: &recorder{}}}); err != nil {
		t.Errorf("bob renamed to a variant of his own nick: %v", err)
	}
	if _, err := f.join("lobby", "mallory@localhost", "bob"); CodeOf(err) != CodeConflict {
		t.Errorf("mallory joined as bob beside B0B: %v, want a conflict", err)
	}
	// Different nicks are fine.
	f.mustJoin("lobby", "carol@localhost", "Alicia")
	f.mustJoin("lobby", "dave@localhost", "Al")
	// Alice leaves: her look-alikes are free.
	if err := f.e.Leave(ctx, "lobby", "alice@localhost/Alice", nil); err != nil {
		t.Fatal(err)
	}
	f.mustJoin("lobby", "mallory@localhost", "ALICE")
}

// The nick kept is the enforced one, and the join says so (XEP-0045
// status 210 on the XMPP side).
func TestJoinNickAssigned(t *testing.T) {
	f := newFixture(t)
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	rec := f.mustJoin("lobby", "alice@localhost", "Ａlice")
	for _, ev := range rec.take() {
		if ev.Kind == EventJoined && (ev.Joined.Self.Nick != "Alice" || !ev.Joined.NickAssigned) {
			t.Errorf("joined as %q (assigned: %v), want Alice, assigned", ev.Joined.Self.Nick, ev.Joined.NickAssigned)
		}
	}
	rec = f.mustJoin("lobby", "bob@localhost", "bob")
	for _, ev := range rec.take() {
		if ev.Kind == EventJoined && ev.Joined.NickAssigned {
			t.Errorf("bob's nick was kept as asked, but the join says it was assigned")
		}
	}
}
