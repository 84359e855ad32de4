package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// XMPP over WebSocket, RFC 7395: the client opens a WebSocket with the
// "xmpp" subprotocol; each message is one whole XML element: <open/> and
// <close/> in the framing namespace stand for the stream header and its
// end (§3.3.2, §3.6), everything else is a top-level element of the stream
// with its namespaces declared in it (§3.3.3). A stream restart (after
// SASL) is a new <open/> (§3.5).

const (
	nsFraming  = "urn:ietf:params:xml:ns:xmpp-framing"
	wsProtocol = "xmpp"
)

// WebSocketHandler serves XMPP over WebSocket (RFC 7395), for
// /xmpp-websocket. The request must offer the "xmpp" subprotocol, come
// from an allowed origin (Config.WebAllowedOrigins) and over TLS or from
// loopback; each address may hold Config.MaxWebSessionsPerIP web sessions.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ip, ok := s.webRequest(w, r, transportWebSocket)
	if !ok {
		return
	}
	offered := false
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			offered = offered || strings.TrimSpace(p) == wsProtocol
		}
	}
	if !offered {
		// §3.2: a server that will not speak the subprotocol must not
		// complete the handshake with it; refuse outright.
		s.web.refused.WithLabelValues(string(transportWebSocket), "subprotocol").Inc()
		http.Error(w, `the WebSocket subprotocol "xmpp" (RFC 7395) is required`, http.StatusBadRequest)
		return
	}
	if !s.web.acquire(ip, transportWebSocket) {
		http.Error(w, "too many web sessions from your address", http.StatusTooManyRequests)
		return
	}
	defer s.web.release(ip, transportWebSocket)
	up := ws.HTTPUpgrader{
		Timeout:  10 * time.Second,
		Protocol: func(p string) bool { return p == wsProtocol },
	}
	raw, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		s.log.Debug("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The HTTP server's deadlines ended with the handshake.
	_ = raw.SetDeadline(time.Time{})
	// The client's address: the browser's, also behind a trusted proxy
	// (webRequest), for the per-address limits of its stream.
	remote := raw.RemoteAddr()
	if a, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = net.TCPAddrFromAddrPort(a)
	}
	pipe, ok := s.startWebStream(remote)
	if !ok {
		s.web.refused.WithLabelValues(string(transportWebSocket), "closing").Inc()
		_ = raw.Close()
		return
	}
	t := &wsTransport{srv: s, raw: raw, pipe: pipe}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.writeLoop()
	}()
	t.readLoop(rw.Reader)
	<-done
	// Read what the client still sends (its answer to our close frame)
	// for a moment: closing with unread input would reset the
	// connection under what we sent last.
	_ = raw.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(rw.Reader, lingerBytes))
	_ = raw.Close()
}

// wsTransport carries one stream between a WebSocket and its conn's pipe.
// The HTTP handler's goroutine runs readLoop; writeLoop runs on one the
// handler starts and waits for.
type wsTransport struct {
	srv  *Server
	raw  net.Conn
	pipe net.Conn // the transport's end of the conn's pipe

	wmu    sync.Mutex // one frame at a time on raw
	closed bool       // a close frame was sent
}

// lockedWriter serialises the control frames the reader answers (pong,
// close) with the messages writeLoop sends.
type lockedWriter struct{ t *wsTransport }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.t.wmu.Lock()
	defer l.t.wmu.Unlock()
	_ = l.t.raw.SetWriteDeadline(time.Now().Add(l.t.srv.cfg.WriteTimeout))
	return l.t.raw.Write(p)
}

// writeText sends one message.
func (t *wsTransport) writeText(p []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	_ = t.raw.SetWriteDeadline(time.Now().Add(t.srv.cfg.WriteTimeout))
	return ws.WriteFrame(t.raw, ws.NewTextFrame(p))
}

// sendClose sends the WebSocket close frame, once.
func (t *wsTransport) sendClose(code ws.StatusCode, reason string) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	_ = t.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = ws.WriteFrame(t.raw, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
}

// readLoop turns the client's messages into the stream's bytes until the
// WebSocket or the stream ends, then closes the pipe.
func (t *wsTransport) readLoop(src io.Reader) {
	closePipe := true
	defer func() {
		if closePipe {
			_ = t.pipe.Close()
		}
	}()
	max := t.srv.limit().MaxStanzaSize
	// Pings are answered and the client's close frame is echoed by
	// gobwas's control handler, through the same lock as our messages.
	control := wsutil.ControlFrameHandler(lockedWriter{t}, ws.StateServerSide)
	rd := &wsutil.Reader{
		Source:         src,
		State:          ws.StateServerSide,
		CheckUTF8:      true,
		MaxFrameSize:   max,
		OnIntermediate: control,
	}
	for {
		hdr, err := rd.NextFrame()
		if err == nil && hdr.OpCode.IsControl() {
			err = control(hdr, rd)
			if err == nil {
				continue
			}
		}
		if err != nil {
			if errors.Is(err, wsutil.ErrFrameTooLarge) {
				t.tooLarge()
			}
			var closed wsutil.ClosedError
			if errors.As(err, &closed) {
				t.markClosed()
			}
			return
		}
		if hdr.OpCode == ws.OpBinary {
			t.fail("unsupported-stanza-type", "XMPP over WebSocket messages are text (RFC 7395 §3.4)", ws.StatusUnsupportedData)
			return
		}
		// A message may come in fragments: read it whole, within the
		// stanza size limit.
		msg, err := io.ReadAll(io.LimitReader(rd, max+1))
		if err != nil {
			return
		}
		if int64(len(msg)) > max {
			t.tooLarge()
			return
		}
		in, end := t.translate(msg)
		if len(in) > 0 {
			if _, err := t.pipe.Write(in); err != nil {
				return
			}
		}
		if end {
			// The conn ends the stream: it writes </stream:stream>
			// (which writeLoop sends as <close/>), then closes its
			// end of the pipe. Closing ours now would race that and
			// lose the <close/>.
			closePipe = false
			return
		}
	}
}

// markClosed records that the client's close frame was answered by the
// control handler.
func (t *wsTransport) markClosed() {
	t.wmu.Lock()
	t.closed = true
	t.wmu.Unlock()
}

// translate turns one message into the stream's bytes: <open/> into the
// stream header, <close/> into the stream's end (end=true), any other
// element as it is.
func (t *wsTransport) translate(msg []byte) (in []byte, end bool) {
	trimmed := bytes.TrimSpace(msg)
	if len(trimmed) == 0 {
		return nil, false
	}
	if !bytes.Contains(trimmed, []byte(nsFraming)) {
		return trimmed, false
	}
	d := xml.NewDecoder(bytes.NewReader(trimmed))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return trimmed, false // the stream's parser reports it
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Space != nsFraming {
			return trimmed, false
		}
		switch start.Name.Local {
		case "open":
			var to, version, lang string
			for _, a := range start.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "to":
					to = a.Value
				case a.Name.Space == "" && a.Name.Local == "version":
					version = a.Value
				case a.Name.Space == nsXML && a.Name.Local == "lang":
					lang = a.Value
				}
			}
			return clientHeader(to, version, lang), false
		case "close":
			return []byte("</stream:stream>"), true
		}
		return trimmed, false
	}
}

// tooLarge ends the stream for a message over the stanza size limit:
// the stream error (RFC 6120 §4.9.3.14), <close/>, and close code 1009.
func (t *wsTransport) tooLarge() {
	t.fail("policy-violation", "message larger than the stanza size limit", ws.StatusMessageTooBig)
}

// fail ends the stream from the transport: the stream error, <close/> and
// the close frame with code.
func (t *wsTransport) fail(condition, text string, code ws.StatusCode) {
	t.srv.metrics.streamErrors.WithLabelValues(condition).Inc()
	serr := &StreamError{Condition: condition, Text: text}
	_ = t.writeText(qualify(serr.element().Bytes()))
	_ = t.writeText([]byte(`<close xmlns='` + nsFraming + `'/>`))
	t.sendClose(code, condition)
}

// writeLoop turns what the conn writes into messages until the conn
// closes its end of the pipe, then ends the WebSocket.
func (t *wsTransport) writeLoop() {
	var werr error
	split := &xmlSplitter{emit: func(k unitKind, b []byte) {
		if werr != nil {
			return
		}
		switch k {
		case unitHeader:
			werr = t.writeText(openElement(b))
		case unitElement:
			werr = t.writeText(qualify(b))
		case unitEnd:
			werr = t.writeText([]byte(`<close xmlns='` + nsFraming + `'/>`))
		}
	}}
	buf := make([]byte, 4096)
	for {
		n, err := t.pipe.Read(buf)
		if n > 0 {
			_, _ = split.Write(buf[:n])
		}
		if werr != nil {
			// The client does not take what we send: end the stream
			// (the conn sees its pipe closed).
			_ = t.pipe.Close()
			_ = t.raw.Close()
			return
		}
		if err != nil {
			t.sendClose(ws.StatusNormalClosure, "")
			// Let the client's close frame come back before the
			// handler closes the socket; the reader ends on it.
			_ = t.raw.SetReadDeadline(time.Now().Add(lingerTime))
			return
		}
	}
}

// openElement turns our stream header into RFC 7395's <open/> (§3.3.2),
// with the header's from, id, version and xml:lang.
func openElement(header []byte) []byte {
	_, attrs := tagAttrs(header)
	var b bytes.Buffer
	b.WriteString(`<open xmlns='` + nsFraming + `'`)
	for _, a := range attrs {
		switch a[0] {
		case "from", "to", "id", "version", "xml:lang":
			b.WriteString(" " + a[0] + "='" + a[1] + "'")
		}
	}
	b.WriteString("/>")
	return b.Bytes()
}
