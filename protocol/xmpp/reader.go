package xmpp

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"sync"

	"github.com/parleychat/parley/internal/wellformed"
)

// errStanzaTooBig is returned by budgetReader when a top-level element (or
// the stream header, or whitespace between stanzas) is longer than the
// configured maximum.
var errStanzaTooBig = errors.New("stanza larger than the configured maximum")

// readBufferSize is each connection's read buffer. Small, because
// tls.Conn buffers a whole record beneath it anyway; and an idle session
// holds none (readBuffers, park.go).
const readBufferSize = 1024

// readBuffers are the connections' read buffers: a parked session (one
// with nothing to read, park.go) gives its buffer back and takes one again
// when its client sends something.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// budgetReader hands bytes to the XML decoder one at a time and counts them
// against a budget that is reset before every top-level token, so no single
// stanza can make the server buffer more than MaxStanzaSize bytes (RFC 6120
// §13.12 lets servers bound stanza size). It implements io.ByteReader, so
// encoding/xml reads from it directly without its own read-ahead buffer:
// that is what lets a stream restart after STARTTLS or SASL hand the same
// byte source to a fresh decoder without losing bytes.
type budgetReader struct {
	// r buffers src; nil while the connection is parked (release).
	r   *bufio.Reader
	src io.Reader
	// replay is read before src, outside the budget: a stream header
	// given to a fresh decoder (park.go).
	replay []byte
	budget int64
	max    int64
	// total counts every byte consumed, for metrics.
	total int64
	// readErr is the error reading the connection ended with, if it did
	// (the decoder reports an EOF inside the stream as a syntax error):
	// the connection was lost rather than the stream broken (sm.go).
	readErr error
}

func newBudgetReader(r io.Reader, max int64) *budgetReader {
	b := &budgetReader{src: r, budget: max, max: max}
	b.acquire()
	return b
}

// release gives the read buffer back to readBuffers; the caller has
// checked that it holds nothing (buffered() == 0). Only the reader calls
// it, and acquire before reading again.
func (b *budgetReader) release() {
	if b.r == nil {
		return
	}
	b.r.Reset(nil)
	readBuffers.Put(b.r)
	b.r = nil
}

// acquire takes a read buffer for src, if the reader has none.
func (b *budgetReader) acquire() {
	if b.r != nil {
		return
	}
	b.r = readBuffers.Get().(*bufio.Reader)
	b.r.Reset(b.src)
}

// reset gives the next top-level token a fresh budget.
func (b *budgetReader) reset() { b.budget = b.max }

func (b *budgetReader) ReadByte() (byte, error) {
	if len(b.replay) > 0 {
		c := b.replay[0]
		b.replay = b.replay[1:]
		return c, nil
	}
	if b.budget <= 0 {
		return 0, errStanzaTooBig
	}
	c, err := b.r.ReadByte()
	if err == nil {
		b.budget--
		b.total++
	} else {
		b.readErr = err
	}
	return c, err
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if len(b.replay) > 0 {
		n := copy(p, b.replay)
		b.replay = b.replay[n:]
		return n, nil
	}
	if b.budget <= 0 {
		return 0, errStanzaTooBig
	}
	if int64(len(p)) > b.budget {
		p = p[:b.budget]
	}
	n, err := b.r.Read(p)
	b.budget -= int64(n)
	b.total += int64(n)
	if err != nil {
		b.readErr = err
	}
	return n, err
}

// awaitInput blocks until the connection has bytes for the decoder (or
// fails: the decoder's next read reports it). An idle session waits here,
// a few frames deep, rather than inside the XML decoder: the garbage
// collector shrinks a goroutine's stack only when a quarter of it is in
// use, so a shallow wait lets the reader's stack, grown by the TLS
// handshake and SASL, go back to a few kilobytes while the client is idle.
func (b *budgetReader) awaitInput() {
	if b.r.Buffered() == 0 {
		_, _ = b.r.Peek(1)
	}
}

// startsWithTag skips whitespace and reports whether the next byte is
// '<'. It consumes only the whitespace.
func (b *budgetReader) startsWithTag() bool {
	for {
		c, err := b.r.Peek(1)
		if err != nil {
			return true // let the decoder report the read error
		}
		switch c[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = b.ReadByte()
			if b.budget <= 0 {
				return false
			}
			continue
		}
		return c[0] == '<'
	}
}

// buffered reports bytes read from the socket but not yet given to the
// decoder. Before a TLS handshake it must be zero: a client that sends
// data after <starttls/> without waiting for <proceed/> is broken or
// hostile (RFC 6120 §5.4.3.3).
func (b *budgetReader) buffered() int { return b.r.Buffered() }

// newDecoder returns a strict decoder reading from br. Strict mode rejects
// undefined entities, so entity-expansion attacks ("billion laughs") end in
// a syntax error even before the DOCTYPE check.
func newDecoder(br *budgetReader) *xml.Decoder {
	d := xml.NewDecoder(br)
	d.Strict = true
	return d
}

// nextToken returns the next token at stream level (between stanzas),
// rejecting XML that RFC 6120 §11.1 restricts. Whitespace between stanzas
// (keepalives) is skipped.
func nextToken(d *xml.Decoder, br *budgetReader) (xml.Token, error) {
	for {
		br.reset()
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !isWhitespace(t) {
				return nil, &StreamError{Condition: "not-well-formed", Text: "text outside of a stanza"}
			}
			continue
		case xml.Comment, xml.Directive:
			return nil, &StreamError{Condition: "restricted-xml", Text: "comments, DTDs and entity declarations are not allowed (RFC 6120 §11.1)"}
		case xml.ProcInst:
			return nil, &StreamError{Condition: "restricted-xml", Text: "processing instructions are not allowed (RFC 6120 §11.1)"}
		}
		return tok, nil
	}
}

func isWhitespace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// readErrorToStreamError maps what the decoder or the socket reported to
// the stream error the peer should get, or nil when the peer simply went
// away.
func readErrorToStreamError(err error) *StreamError {
	var se *StreamError
	var syn *xml.SyntaxError
	var wf *wellformed.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, errStanzaTooBig):
		return &StreamError{Condition: "policy-violation", Text: "stanza too large"}
	case errors.Is(err, errRestrictedXML):
		return &StreamError{Condition: "restricted-xml", Text: "comments, processing instructions, DTDs and entity declarations are not allowed (RFC 6120 §11.1)"}
	case errors.Is(err, errTooDeep):
		return &StreamError{Condition: "policy-violation", Text: "elements nested too deeply"}
	case errors.As(err, &syn):
		return &StreamError{Condition: "not-well-formed", Text: syn.Msg}
	case errors.As(err, &wf):
		return &StreamError{Condition: "not-well-formed", Text: wf.Msg}
	case isTimeout(err):
		return &StreamError{Condition: "connection-timeout"}
	}
	return nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
