package interop

import (
	"context"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"
)

// door is a front door for the Router's tests: it has live endpoints for
// the users in online, and records what it got.
type door struct {
	online map[string]bool
	err    error
	got    []Message
}

func (d *door) Deliver(_ context.Context, m Message) (bool, error) {
	if d.err != nil {
		return false, d.err
	}
	if !d.online[m.To.Bare().String()] {
		return false, nil
	}
	d.got = append(d.got, m)
	return true, nil
}

type store struct{ kept []Message }

func (s *store) Store(_ context.Context, m Message) error { s.kept = append(s.kept, m); return nil }

func (s *store) Drain(_ context.Context, user jid.JID, deliver func(Message) bool) error {
	for len(s.kept) > 0 && s.kept[0].To.Equal(user) && deliver(s.kept[0]) {
		s.kept = s.kept[1:]
	}
	return nil
}

func TestRouterDeliversToEveryOtherDoor(t *testing.T) {
	bob := jid.MustParse("bob@example.com")
	xmpp := &door{online: map[string]bool{"bob@example.com": true}}
	sip := &door{online: map[string]bool{"bob@example.com": true}}
	r := NewRouter()
	r.AddDeliverer(xmpp)
	r.AddDeliverer(sip)
	m := Message{From: jid.MustParse("alice@example.com"), To: bob, Type: "chat", Body: "hi"}

	ok, err := r.Deliver(context.Background(), m, nil)
	if !ok || err != nil || len(xmpp.got) != 1 || len(sip.got) != 1 {
		t.Fatalf("Deliver(no origin) = %v, %v; xmpp got %d, sip got %d; want both once", ok, err, len(xmpp.got), len(sip.got))
	}
	// The asking door has delivered to its own endpoints already.
	ok, err = r.Deliver(context.Background(), m, sip)
	if !ok || err != nil || len(xmpp.got) != 2 || len(sip.got) != 1 {
		t.Fatalf("Deliver(origin sip) = %v, %v; xmpp got %d, sip got %d; want xmpp only", ok, err, len(xmpp.got), len(sip.got))
	}
}

func TestRouterNobodyOnline(t *testing.T) {
	r := NewRouter()
	failing := &door{err: &Error{Condition: ServiceUnavailable}}
	r.AddDeliverer(&door{})
	r.AddDeliverer(failing)
	m := Message{To: jid.MustParse("carol@example.com"), Body: "hi"}
	ok, err := r.Deliver(context.Background(), m, nil)
	if ok {
		t.Fatal("delivered with nobody online")
	}
	if e := RefusalOf(err); e.Condition != ServiceUnavailable {
		t.Errorf("error %v, want service-unavailable", err)
	}
	// No store: the recipient is unavailable (SIP 480).
	if e := RefusalOf(r.Store(context.Background(), m)); e.Condition != RecipientUnavailable || e.Status != 480 {
		t.Errorf("Store with no store: %v, want recipient-unavailable", e)
	}
	if e := RefusalOf(errors.New("disk on fire")); e.Condition != InternalServerError || e.Text != "" {
		t.Errorf("RefusalOf(a plain error) = %+v, want internal-server-error without the cause", e)
	}
}

// Stored messages go out, in order, when the user comes online at a door.
func TestRouterOnline(t *testing.T) {
	carol := jid.MustParse("carol@example.com")
	st := &store{}
	r := NewRouter()
	r.SetStore(st)
	for _, b := range []string{"one", "two"} {
		if err := r.Store(context.Background(), Message{To: carol, Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	sip := &door{online: map[string]bool{"carol@example.com": true}}
	if err := r.Online(context.Background(), carol, sip); err != nil {
		t.Fatal(err)
	}
	if len(sip.got) != 2 || sip.got[0].Body != "one" || sip.got[1].Body != "two" || len(st.kept) != 0 {
		t.Errorf("after Online: door got %+v, store kept %d; want one, two and nothing kept", sip.got, len(st.kept))
	}
}

// Text that XML cannot carry is refused before it reaches XMPP.
func TestCheckText(t *testing.T) {
	for s, ok := range map[string]bool{
		"hello": true, "tab\tand\r\nlines": true, "émoji 🎉": true,
		"nul\x00": false, "bell\x07": false, "bad \xff utf-8": false, "\uFFFE": false,
		"esc\x1b[31m": false, "us\x1f": false, "lone \xed\xa0\x80 surrogate": false,
		"\uFDD0": false, "\uFDEF": false, "\U0001FFFF": false, "\U0010FFFE": false,
		"\uFDCF and \uFDF0": true, "\uFFFD": true, "\U0010FFFD": true, "del\x7f": true,
	} {
		if err := CheckText(s); (err == nil) != ok {
			t.Errorf("CheckText(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

// RFC 7572: a <thread/> becomes the Call-ID only when it is a valid one.
func TestCallIDFromThread(t *testing.T) {
	for thread, want := range map[string]string{
		"dc42048fc7a65058": "dc42048fc7a65058", "abc@host": "abc@host", "": "",
		"has space": "", "two@at@signs": "", "@lead": "", "é": "",
	} {
		if got := CallIDFromThread(thread); got != want {
			t.Errorf("CallIDFromThread(%q) = %q, want %q", thread, got, want)
		}
	}
}
