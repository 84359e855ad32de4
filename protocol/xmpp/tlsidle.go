package xmpp

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// A tls.Conn keeps, for its lifetime, the buffers its largest records
// grew: rawInput (the records read from the socket) and hand (handshake
// messages). A client's ClientHello, now carrying a post-quantum key share,
// grows both to 1.5–2.5 kB, and a large stanza grows rawInput to a whole
// record (16 kB); crypto/tls has no way to give them back. An idle session
// (park.go) has nothing in them, so releaseTLSBuffers replaces them with
// empty ones, which the next record grows again only as far as it needs.
//
// crypto/tls does not export these fields: their offsets are found once,
// by name and type, with reflect. If a Go release renames or retypes them,
// tlsBuffers.ok is false and nothing is released (TestReleaseTLSBuffers
// fails, to say so); nothing else depends on it.
var tlsBuffers = func() (b struct {
	ok                    bool
	rawInput, hand, input uintptr
}) {
	t := reflect.TypeFor[tls.Conn]()
	buffer, reader := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	raw, ok1 := t.FieldByName("rawInput")
	hand, ok2 := t.FieldByName("hand")
	input, ok3 := t.FieldByName("input")
	if !ok1 || !ok2 || !ok3 || raw.Type != buffer || hand.Type != buffer || input.Type != reader {
		return b
	}
	b.ok, b.rawInput, b.hand, b.input = true, raw.Offset, hand.Offset, input.Offset
	return b
}()

// releaseTLSBuffers drops tc's input buffers if they hold nothing. Only
// the connection's reader may call it, between reads: crypto/tls touches
// these buffers only while reading (under its input lock, which the
// reader alone takes once the handshake is done).
func releaseTLSBuffers(tc *tls.Conn) {
	if !tlsBuffers.ok {
		return
	}
	p := unsafe.Pointer(tc)
	raw := (*bytes.Buffer)(unsafe.Add(p, tlsBuffers.rawInput))
	hand := (*bytes.Buffer)(unsafe.Add(p, tlsBuffers.hand))
	input := (*bytes.Reader)(unsafe.Add(p, tlsBuffers.input))
	if raw.Len() != 0 || hand.Len() != 0 || input.Len() != 0 {
		return // the rest of a record, or data not yet read
	}
	*raw = bytes.Buffer{}
	*hand = bytes.Buffer{}
	input.Reset(nil) // it pointed into rawInput's array
}
