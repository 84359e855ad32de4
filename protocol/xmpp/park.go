package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"time"
)

// An idle bound session is parked. A goroutine blocked reading a TLS
// connection sits under tls.Conn.Read, the record layer and the netpoller,
// and keeps the stack its deepest moment (the TLS handshake, SASL, a large
// stanza) grew: about 8 kB per session even after the garbage collector
// shrank it. So when a session has nothing left to read, its reader
// returns (errIdle): the connection gives back its read buffer and waits
// for the socket to become readable on a new goroutine, a few frames deep
// on the smallest stack the runtime gives (park), which then reads the
// stanzas and, once idle again, parks anew. Each connection still has
// exactly one reader goroutine at a time, tracked by the server's wait
// group; closing the socket (kill, shutdown) wakes a parked one, whose
// next read reports the end as before.
//
// Only TCP connections park (waitReadable needs the socket); web streams
// and platforms without it wait in budgetReader.awaitInput.

// errIdle is what stanzaLoop returns when the connection has nothing to
// read and can park.
var errIdle = errors.New("xmpp: connection idle")

// aLongTimeAgo is a read deadline already past: a read with it returns
// what is buffered or a timeout at once.
var aLongTimeAgo = time.Unix(1, 0)

// idle reports whether the connection can park: nothing is buffered for
// the decoder, in the read buffer or in the TLS layer beneath it (which
// keeps the rest of a record the read buffer had no room for), and the
// socket has nothing either. It asks the TLS layer by reading with a
// deadline already past: buffered plaintext or a whole record comes back
// at once, and otherwise the read times out without touching the socket,
// which leaves tls.Conn usable (a read timeout is temporary; a partial
// record stays in its buffer). Then it peeks at the socket.
func (c *conn) idle() bool {
	if !c.parkable || c.br.buffered() > 0 {
		return false
	}
	_ = c.raw.SetReadDeadline(aLongTimeAgo)
	_, err := c.br.r.Peek(1)
	_ = c.raw.SetReadDeadline(time.Time{})
	// Data, or an error other than the timeout (the stream's end, which
	// the next read reports again), is for the reader now.
	return errors.Is(err, os.ErrDeadlineExceeded) && !socketReadable(c.raw, &c.peek)
}

// park waits for input on a new goroutine, which then reads stanzas
// (readStanzas). The caller's goroutine returns.
func (c *conn) park(ctx context.Context) {
	c.br.release()
	if c.streamHeader != nil {
		c.dec = nil // between stanzas it holds only the stream element
	}
	if tc, ok := c.rw.(*tls.Conn); ok {
		releaseTLSBuffers(tc)
	}
	c.srv.wg.Add(1)
	c.srv.metrics.parked.Inc()
	go func() {
		defer c.srv.wg.Done()
		// A failure (the socket closed) is reported by the read
		// that follows.
		_ = waitReadable(c.raw, &c.peek)
		c.srv.metrics.parked.Dec()
		c.br.acquire()
		if c.dec == nil {
			if err := c.restoreDecoder(); err != nil {
				c.finish(err)
				c.close()
				return
			}
		}
		c.readStanzas(ctx)
	}()
}

// readStanzas runs the stanza loop of a bound session until the stream
// ends or the connection parks again.
func (c *conn) readStanzas(ctx context.Context) {
	err := c.stanzaLoop(ctx)
	if errors.Is(err, errIdle) {
		c.park(ctx)
		return
	}
	c.finish(err)
	c.close()
}

// restoreDecoder gives a parked connection a fresh decoder that has read
// the client's stream header (c.streamHeader) again: the stream element open,
// with its namespace declarations, as the dropped decoder had it between
// stanzas.
func (c *conn) restoreDecoder() error {
	c.br.replay = c.streamHeader
	c.dec = newDecoder(c.br)
	tok, err := c.dec.Token()
	if _, ok := tok.(xml.StartElement); err != nil || !ok || len(c.br.replay) != 0 {
		return fmt.Errorf("xmpp: restoring the stream decoder: %v %v", tok, err)
	}
	return nil
}

// standardHeader is the stream header almost every client sends, as a
// fresh decoder reads it again: shared by their connections.
var standardHeader = []byte(`<stream:stream xmlns='` + nsClient + `' xmlns:stream='` + nsStreams + `'>`)

// streamReplay is the client's stream header (already checked: the stream
// element in the streams namespace, jabber:client the default namespace)
// rewritten for a fresh decoder: the same element name, prefix included
// (the decoder matches the end tag by it), and the same namespace
// declarations; other attributes do not matter. It is nil when the prefix
// is ambiguous (two bound to the streams namespace).
func streamReplay(start xml.StartElement) []byte {
	prefix, n := "", 0
	var decls []xml.Attr
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" {
			decls = append(decls, a)
			if a.Value == nsStreams {
				prefix, n = a.Name.Local, n+1
			}
		}
	}
	if n != 1 {
		return nil
	}
	if prefix == "stream" && len(decls) == 1 {
		return standardHeader
	}
	var b bytes.Buffer
	b.WriteString("<" + prefix + ":stream xmlns='" + nsClient + "'")
	for _, a := range decls {
		b.WriteString(" xmlns:" + a.Name.Local + "='")
		escapeAttr(&b, a.Value)
		b.WriteString("'")
	}
	b.WriteString(">")
	return b.Bytes()
}
