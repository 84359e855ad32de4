package xmpp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
)

// errorOf returns the type and the defined condition of the <error/> in an
// error reply.
func errorOf(t *testing.T, reply *Element) (typ, condition, text string) {
	t.Helper()
	el := reply.Child(nsClient, "error")
	if el == nil {
		t.Fatalf("no <error/> in %s", reply)
	}
	for _, c := range el.Elements() {
		switch {
		case c.Name.Space == nsStanzas && c.Name.Local == "text":
			text = c.Text()
		case c.Name.Space == nsStanzas:
			condition = c.Name.Local
		}
	}
	return el.AttrValue("type"), condition, text
}

// Every room engine refusal reaches an XMPP client as interop's error
// table says (the SIP side of the same walk is protocol/sip's
// TestStatusOf): the condition, its type and the engine's reason.
func TestRefusalsAsStanzaErrors(t *testing.T) {
	join := NewElement(nsClient, "presence", "from", "crone@localhost/c", "to", "heath@conference.localhost/crone")
	for _, code := range muc.Codes() {
		err := fmt.Errorf("joining: %w", &muc.Error{Code: code, Reason: "because " + code.String()})
		want := interop.RefusalOf(err)
		typ, cond, text := errorOf(t, errorReply(join, refusalError(err), ""))
		if typ != want.Type || cond != string(want.Condition) || text != want.Text || cond == "" {
			t.Errorf("%v: <error type=%q><%s/> %q, want %+v", code, typ, cond, text, want)
		}
	}
	// XEP-0045 §7.2: a full room says "wait".
	if typ, cond, _ := errorOf(t, errorReply(join, refusalError(&muc.Error{Code: muc.CodeServiceUnavailable}), "")); typ != "wait" || cond != "service-unavailable" {
		t.Errorf("room full: %s %s, want wait service-unavailable", typ, cond)
	}
	// RFC 6120 §8.3.3.6: internal-server-error is "cancel", whether the
	// core says it or a handler's failure becomes it; the cause stays
	// in the log.
	for _, serr := range []*StanzaError{errInternal(""), refusalError(errors.New("disk on fire"))} {
		if typ, cond, text := errorOf(t, errorReply(join, serr, "")); typ != "cancel" || cond != "internal-server-error" || text != "" {
			t.Errorf("internal error: <error type=%q><%s/> %q, want cancel internal-server-error", typ, cond, text)
		}
	}
}
