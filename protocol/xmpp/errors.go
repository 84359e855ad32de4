package xmpp

import (
	"fmt"

	"github.com/parleychat/parley/interop"
)

// StreamError is an unrecoverable stream-level error (RFC 6120 §4.9). It is
// sent to the peer, followed by </stream:stream>, and the connection is
// closed.
type StreamError struct {
	// Condition is one of the defined conditions of RFC 6120 §4.9.3, e.g.
	// "not-well-formed" or "policy-violation".
	Condition string
	// Text is an optional human-readable explanation.
	Text string
	// Content is the condition element's character data: the host to
	// try for see-other-host (RFC 6120 §4.9.3.19).
	Content string
}

func (e *StreamError) Error() string {
	if e.Text == "" {
		return "stream error: " + e.Condition
	}
	return fmt.Sprintf("stream error: %s: %s", e.Condition, e.Text)
}

// element is the <stream:error/> to send.
func (e *StreamError) element() *Element {
	el := NewElement(nsStreams, "error")
	cond := NewElement(nsStreamE, e.Condition)
	if e.Content != "" {
		cond.AppendText(e.Content)
	}
	el.Append(cond)
	if e.Text != "" {
		t := NewElement(nsStreamE, "text")
		t.Attr = append(t.Attr, xmlLang("en"))
		el.Append(t.AppendText(e.Text))
	}
	return el
}

// StanzaError is a stanza-level error (RFC 6120 §8.3).
type StanzaError struct {
	// Type is the error type: auth, cancel, continue, modify or wait.
	Type string
	// Condition is one of the conditions of RFC 6120 §8.3.3.
	Condition string
	Text      string
	// App is an application-specific condition (RFC 6120 §8.3.2), e.g.
	// XEP-0050's <bad-action/> or XEP-0363's <file-too-large/>; nil for
	// none.
	App *Element
}

// orNil returns e as an error, nil for a nil *StanzaError (not a non-nil
// error holding nil).
func (e *StanzaError) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

func (e *StanzaError) Error() string {
	if e.Text == "" {
		return "stanza error: " + e.Condition
	}
	return fmt.Sprintf("stanza error: %s: %s", e.Condition, e.Text)
}

// stanzaError is a stanza error with condition c, of the type interop's
// error table gives it (RFC 6120 §8.3.3): the one place a condition gets its
// type.
func stanzaError(c interop.Condition, text string) *StanzaError {
	return &StanzaError{Type: c.Type(), Condition: string(c), Text: text}
}

// refusalError is the stanza error for any error a handler returned that
// is not a *StanzaError: a room engine refusal or a delivery failure as
// interop's error table says it, anything else internal-server-error.
func refusalError(err error) *StanzaError {
	r := interop.RefusalOf(err)
	return &StanzaError{Type: r.Type, Condition: string(r.Condition), Text: r.Text}
}

// The stanza errors the core returns.
func errBadRequest(text string) *StanzaError {
	return stanzaError(interop.BadRequest, text)
}
func errFeatureNotImplemented(text string) *StanzaError {
	return stanzaError(interop.FeatureNotImplemented, text)
}
func errServiceUnavailable(text string) *StanzaError {
	return stanzaError(interop.ServiceUnavailable, text)
}
func errItemNotFound(text string) *StanzaError {
	return stanzaError(interop.ItemNotFound, text)
}
func errJIDMalformed(text string) *StanzaError {
	return stanzaError(interop.JIDMalformed, text)
}
func errForbidden(text string) *StanzaError {
	return stanzaError(interop.Forbidden, text)
}
func errNotAllowed(text string) *StanzaError {
	return stanzaError(interop.NotAllowed, text)
}
func errNotAcceptable(text string) *StanzaError {
	return stanzaError(interop.NotAcceptable, text)
}
func errInternal(text string) *StanzaError {
	return stanzaError(interop.InternalServerError, text)
}
func errRemoteServerNotFound(text string) *StanzaError {
	return stanzaError(interop.RemoteServerNotFound, text)
}
func errResourceConstraint(text string) *StanzaError {
	return stanzaError(interop.ResourceConstraint, text)
}
func errPolicyViolation(text string) *StanzaError {
	return &StanzaError{Type: "wait", Condition: "policy-violation", Text: text}
}

// errorReply builds the error response to stanza (RFC 6120 §8.3.1): same
// name and id, from and to swapped, type "error", the original payload
// kept for IQs and messages so the sender can correlate, and the <error/>.
func errorReply(stanza *Element, serr *StanzaError, by string) *Element {
	out := &Element{Name: stanza.Name}
	if id := stanza.AttrValue("id"); id != "" {
		out.SetAttr("id", id)
	}
	out.SetAttr("from", stanza.AttrValue("to"))
	out.SetAttr("to", stanza.AttrValue("from"))
	out.SetAttr("type", "error")
	if stanza.Name.Local != "presence" {
		for _, c := range stanza.Elements() {
			out.Append(c)
		}
	}
	el := NewElement(nsClient, "error", "type", serr.Type)
	if by != "" {
		el.SetAttr("by", by)
	}
	el.Append(NewElement(nsStanzas, serr.Condition))
	if serr.Text != "" {
		t := NewElement(nsStanzas, "text")
		t.Attr = append(t.Attr, xmlLang("en"))
		el.Append(t.AppendText(serr.Text))
	}
	if serr.App != nil {
		el.Append(serr.App)
	}
	return out.Append(el)
}
