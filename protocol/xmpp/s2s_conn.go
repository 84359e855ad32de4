package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley/internal/wellformed"
)

// The wire of a server-to-server stream (RFC 6120 §4, §5, §13), in either
// direction: what s2s_in.go (a stream another server opened to us) and
// s2s_out.go (one we opened) share. The byte source, the size budget and
// the strict decoder are the client streams' (reader.go, element.go).

// Namespaces of server-to-server streams.
const (
	nsServer        = "jabber:server"
	nsDialback      = "jabber:server:dialback"     // XEP-0220 db:result, db:verify
	nsDialbackFeat  = "urn:xmpp:features:dialback" // XEP-0220 §2.5 stream feature
	s2sHeaderPrefix = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'`
)

// s2sConn is one TCP connection carrying a server-to-server stream.
type s2sConn struct {
	raw net.Conn // the TCP connection
	rw  net.Conn // raw, or the TLS connection over it
	br  *budgetReader
	dec *xml.Decoder
	max int64 // the stanza size budget
	// scope is the namespace context the peer's stream header set up:
	// what the stream's elements are checked in (wellformed).
	scope *wellformed.Scope

	wmu          sync.Mutex
	writeTimeout time.Duration
	// handshaking is set from <proceed/> (or from accept on the direct
	// TLS port) until TLS is up: nothing is written in plaintext then
	// (RFC 6120 §5.4.2.3, §5.4.3.2), and a stream that ends in between
	// ends with its TCP connection. Guarded by wmu.
	handshaking bool

	tls       *tls.ConnectionState // set once TLS is up
	directTLS bool                 // TLS from the first byte (XEP-0368), not STARTTLS
	// streamID is the id of the current stream: ours on an inbound
	// link, the peer's on an outbound one (dialback keys name it).
	streamID string
}

func newS2SConn(raw net.Conn, maxStanza int64, writeTimeout time.Duration) *s2sConn {
	return &s2sConn{raw: raw, rw: raw, br: newBudgetReader(raw, maxStanza), max: maxStanza, writeTimeout: writeTimeout}
}

// write sends b at once, with the write timeout.
func (c *s2sConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.handshaking {
		return errHandshaking
	}
	return c.writeLocked(b)
}

func (c *s2sConn) writeLocked(b []byte) error {
	_ = c.rw.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	_, err := c.rw.Write(b)
	return err
}

// proceed answers <starttls/> (RFC 6120 §5.4.2.3) and, under the same
// lock, stops plaintext writes: a stream error written later, by the
// reader or by kill, must not follow <proceed/>.
func (c *s2sConn) proceed() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.handshaking = true
	return c.writeLocked([]byte(`<proceed xmlns='` + nsTLS + `'/>`))
}

// inHandshake reports whether TLS negotiation has begun and is not done.
func (c *s2sConn) inHandshake() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.handshaking
}

// writeElement sends one element.
func (c *s2sConn) writeElement(e *Element) error { return c.write(e.Bytes()) }

// sendHeader sends our stream header (RFC 6120 §4.7) with an id when we
// are the receiving side.
func (c *s2sConn) sendHeader(from, to, id string) error {
	var b bytes.Buffer
	b.WriteString(s2sHeaderPrefix)
	if id != "" {
		b.WriteString(" id='")
		escapeAttr(&b, id)
		b.WriteByte('\'')
	}
	for _, a := range [][2]string{{"from", from}, {"to", to}} {
		if a[1] != "" {
			b.WriteString(" " + a[0] + "='")
			escapeAttr(&b, a[1])
			b.WriteByte('\'')
		}
	}
	b.WriteByte('>')
	return c.write(b.Bytes())
}

// streamHeader is what a peer's stream header says.
type streamHeader struct {
	name      xml.Name
	defaultNS string
	to, from  string
	id        string
	version   string
	// dialback is set when the header declares the db: prefix
	// (XEP-0220 §2.1.1: how servers before the stream feature said they
	// do dialback).
	dialback bool
	// notWellFormed is what wellformed found wrong with the header.
	notWellFormed error
}

// check applies RFC 6120 §4.7 and §4.8 to a server-to-server header.
func (h streamHeader) check() *StreamError {
	switch {
	case h.notWellFormed != nil:
		return readErrorToStreamError(h.notWellFormed)
	case h.name.Space != nsStreams || h.name.Local != "stream":
		return &StreamError{Condition: "invalid-namespace", Text: "expected <stream:stream> in " + nsStreams}
	case h.defaultNS != nsServer:
		return &StreamError{Condition: "invalid-namespace", Text: "the default namespace of a server-to-server stream is " + nsServer}
	case !versionAtLeast1(h.version):
		return &StreamError{Condition: "unsupported-version", Text: "XMPP 1.0 (RFC 6120) is required: STARTTLS is"}
	}
	return nil
}

// readHeader reads the peer's stream header on a fresh decoder (a new
// stream, or a restart after STARTTLS or SASL).
func (c *s2sConn) readHeader() (streamHeader, error) {
	if !c.br.startsWithTag() {
		return streamHeader{}, &StreamError{Condition: "not-well-formed", Text: "this is an XMPP server-to-server port (RFC 6120): the stream must start with '<'"}
	}
	c.dec = newDecoder(c.br)
	for first := true; ; first = false {
		c.br.reset()
		tok, err := c.dec.Token()
		if err != nil {
			return streamHeader{}, err
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if first && t.Target == "xml" {
				continue
			}
		case xml.CharData:
			if isWhitespace(t) {
				continue
			}
			return streamHeader{}, &StreamError{Condition: "not-well-formed", Text: "text before the stream header"}
		case xml.StartElement:
			h := streamHeader{name: t.Name}
			c.scope, h.notWellFormed = (*wellformed.Scope)(nil).Enter(t)
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					h.defaultNS = a.Value
				case a.Name.Space == "xmlns" && a.Name.Local == "db":
					h.dialback = a.Value == nsDialback
				case a.Name.Space != "":
				case a.Name.Local == "to":
					h.to = a.Value
				case a.Name.Local == "from":
					h.from = a.Value
				case a.Name.Local == "id":
					h.id = a.Value
				case a.Name.Local == "version":
					h.version = a.Value
				}
			}
			return h, nil
		case xml.EndElement:
			return streamHeader{}, &StreamError{Condition: "not-well-formed"}
		}
		return streamHeader{}, readErrorToStreamError(fmt.Errorf("%w: %T", errRestrictedXML, tok))
	}
}

// next reads the next top-level element of the stream; io.EOF when the
// peer closed it with </stream:stream>. Elements in jabber:server are
// moved to jabber:client, the namespace the handlers (and Element's
// writer) use for stanzas: the two are the same stanzas (RFC 6120 §4.8.3).
func (c *s2sConn) next() (*Element, error) {
	tok, err := nextToken(c.dec, c.br)
	if err != nil {
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, io.EOF
	}
	el, err := readElement(c.dec, start, c.scope)
	if err != nil {
		return nil, err
	}
	toClientNS(el)
	return el, nil
}

// toClientNS renames jabber:server elements to jabber:client, in place.
func toClientNS(e *Element) {
	if e.Name.Space == nsServer {
		e.Name.Space = nsClient
	}
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			toClientNS(ce)
		}
	}
}

// startTLS runs the TLS handshake over the raw connection (after
// <proceed/>) as the server or the client, and replaces the byte source.
func (c *s2sConn) startTLS(ctx context.Context, cfg *tls.Config, server bool) error {
	c.wmu.Lock()
	c.handshaking = true
	c.wmu.Unlock()
	if c.br.buffered() > 0 {
		return errors.New("data sent before the TLS handshake (RFC 6120 §5.4.3.3)")
	}
	var tc *tls.Conn
	if server {
		tc = tls.Server(c.raw, cfg)
	} else {
		tc = tls.Client(c.raw, cfg)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	st := tc.ConnectionState()
	c.wmu.Lock()
	c.rw = tc
	c.tls = &st
	c.handshaking = false
	c.wmu.Unlock()
	c.br = newBudgetReader(tc, c.max)
	return nil
}

// fail sends a stream error (if any) and closes the stream; the caller
// closes the connection.
func (c *s2sConn) fail(serr *StreamError) {
	var b []byte
	if serr != nil {
		b = serr.element().Bytes()
	}
	_ = c.write(append(b, "</stream:stream>"...))
}

// close half-closes, drains briefly what the peer still sends (so that
// our last bytes are not destroyed by a reset) and closes.
func (c *s2sConn) close() {
	c.wmu.Lock()
	rw := c.rw
	c.wmu.Unlock()
	lingerClose(c.raw, rw)
}

// features is a peer's <stream:features/>, as an initiating server reads
// them (RFC 6120 §4.3.2).
type features struct {
	starttls bool
	external bool // SASL EXTERNAL offered (XEP-0178)
	dialback bool // XEP-0220 §2.5
	bidi     bool // XEP-0288 §2
}

func parseFeatures(el *Element) (features, error) {
	var f features
	if el.Name.Space != nsStreams || el.Name.Local != "features" {
		return f, fmt.Errorf("expected stream features, got {%s}%s", el.Name.Space, el.Name.Local)
	}
	f.starttls = el.Child(nsTLS, "starttls") != nil
	f.dialback = el.Child(nsDialbackFeat, "dialback") != nil
	f.bidi = el.Child(nsBidiFeature, "bidi") != nil
	if mechs := el.Child(nsSASL, "mechanisms"); mechs != nil {
		for _, m := range mechs.Elements() {
			if m.Name.Local == "mechanism" && strings.TrimSpace(m.Text()) == "EXTERNAL" {
				f.external = true
			}
		}
	}
	return f, nil
}

// streamErrorOf reads the condition of a <stream:error/> the peer sent.
func streamErrorOf(el *Element) string {
	for _, c := range el.Elements() {
		if c.Name.Space == nsStreamE && c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return "undefined-condition"
}
