package xmpp

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/internal/realip"
	"github.com/parleychat/parley/internal/weborigin"
)

// The web transports, XMPP over WebSocket (RFC 7395, websocket.go) and BOSH
// (XEP-0124 and XEP-0206, bosh.go), are framings of the same client
// stream as TCP c2s: each web session runs an ordinary conn (conn.go) on
// one end of an in-memory pipe, with the same negotiation, SASL, limits,
// mux and session queue, and the transport turns its frames into the
// stream's bytes on the other end and the stream's output back into
// frames. This is what Prosody's mod_websocket does too (it rewrites
// <open/> and <close/> into the stream header and end and feeds the rest
// to its ordinary stream parser).
//
// Inbound, a transport writes the client's stream header (made from
// <open/> or from the BOSH session request), the client's top-level
// elements as they came, and the stream's end. Outbound, xmlSplitter cuts
// what the conn writes into the stream header, whole top-level elements
// and the stream's end: each element becomes one WebSocket message or is
// added to the next BOSH response.
//
// A web stream is secure when its HTTP request came over TLS, or from a
// loopback address (a TLS-terminating proxy on the same host): STARTTLS
// is never offered on it, and SASL channel binding neither (the TLS
// session is the browser's, which a web page cannot bind to).

// webTransport names a web transport in metrics and logs.
type webTransport string

const (
	transportWebSocket webTransport = "websocket"
	transportBOSH      webTransport = "bosh"
)

// DefaultMaxWebSessionsPerIP is Config.MaxWebSessionsPerIP's default:
// generous, since the users of one office share one address.
const DefaultMaxWebSessionsPerIP = 100

// webConn is the conn's end of the pipe, with the web client's address.
type webConn struct {
	net.Conn
	remote net.Addr
}

func (w webConn) RemoteAddr() net.Addr { return w.remote }

// startWebStream starts a client stream for a web transport and returns
// the transport's end of its pipe, or false when the server is closing.
// The stream runs until either end closes the pipe.
func (s *Server) startWebStream(remote net.Addr) (net.Conn, bool) {
	srvEnd, webEnd := net.Pipe()
	c := newConn(s, webConn{Conn: srvEnd, remote: remote})
	c.web = true
	if !s.startConn(c, false) {
		_ = srvEnd.Close()
		_ = webEnd.Close()
		return nil, false
	}
	return webEnd, true
}

// webLimits counts web sessions (WebSocket connections and BOSH sessions
// together) per client address, for Config.MaxWebSessionsPerIP.
type webLimits struct {
	max      int
	mu       sync.Mutex
	sessions map[string]int
	gauge    *prometheus.GaugeVec
	refused  *prometheus.CounterVec
}

func newWebLimits(max int, reg prometheus.Registerer) *webLimits {
	l := &webLimits{
		max:      max,
		sessions: make(map[string]int),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parley_xmpp_web_sessions", Help: "Open XMPP web sessions, by transport (websocket: RFC 7395, bosh: XEP-0206)."}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_web_refused_total", Help: "XMPP web session requests refused, by transport and reason (origin, insecure, subprotocol, per_ip_limit, closing)."}, []string{"transport", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(l.gauge, l.refused)
	}
	return l
}

// acquire takes one of the address's web-session slots.
func (l *webLimits) acquire(ip string, t webTransport) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[ip] >= l.max {
		l.refused.WithLabelValues(string(t), "per_ip_limit").Inc()
		return false
	}
	l.sessions[ip]++
	l.gauge.WithLabelValues(string(t)).Inc()
	return true
}

func (l *webLimits) release(ip string, t webTransport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[ip] <= 1 {
		delete(l.sessions, ip)
	} else {
		l.sessions[ip]--
	}
	l.gauge.WithLabelValues(string(t)).Dec()
}

// webRequest checks what every web transport request must pass before a
// session is made for it — its origin and whether it is secure — and
// answers the refusals. It returns the client's address.
func (s *Server) webRequest(w http.ResponseWriter, r *http.Request, t webTransport) (ip string, ok bool) {
	ip = r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if !s.originAllowed(r) {
		s.web.refused.WithLabelValues(string(t), "origin").Inc()
		http.Error(w, "origin not allowed (--http-allowed-origins)", http.StatusForbidden)
		return ip, false
	}
	// Plain HTTP only from this host (a TLS-terminating proxy on it): the
	// connection's own peer, not the client a trusted proxy forwarded for.
	peer := realip.Peer(r)
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if r.TLS == nil && !isLoopback(peer) {
		s.web.refused.WithLabelValues(string(t), "insecure").Inc()
		http.Error(w, "XMPP over plain HTTP is served to loopback addresses only: use the HTTPS listener", http.StatusForbidden)
		return ip, false
	}
	return ip, true
}

func isLoopback(ip string) bool {
	a := net.ParseIP(ip)
	return a != nil && a.IsLoopback()
}

// originAllowed applies Config.WebAllowedOrigins to the request's Origin
// (package weborigin: the rule SIP over WebSocket applies too).
func (s *Server) originAllowed(r *http.Request) bool {
	return weborigin.Allowed(r, s.cfg.WebAllowedOrigins)
}

// unitKind is what xmlSplitter found.
type unitKind int

const (
	unitHeader  unitKind = iota // the stream header's start tag
	unitElement                 // one whole top-level element
	unitEnd                     // </stream:stream>
)

// xmlSplitter cuts the server's own outbound stream (well-formed XML that
// this package wrote: a stream header, top-level elements, whitespace
// keepalives, the stream's end) into units, handing each to emit. The
// slice emit gets is only valid during the call. The XML declaration and
// whitespace between elements are dropped.
type xmlSplitter struct {
	emit  func(unitKind, []byte)
	buf   []byte
	depth int
	state splitState
	quote byte
	tag   int  // index in buf of the current tag's '<'
	prev  byte // the byte before the current one, inside a tag
}

type splitState int

const (
	splitText   splitState = iota
	splitLT                // after '<'
	splitTag               // in a start or end tag
	splitQuoted            // in an attribute value
	splitMarkup            // in <?...?> or <!...>
)

// Write never fails: the input is the server's own output.
func (x *xmlSplitter) Write(p []byte) (int, error) {
	for _, c := range p {
		switch x.state {
		case splitText:
			if c == '<' {
				if x.depth <= 1 {
					x.buf = x.buf[:0]
				}
				x.tag = len(x.buf)
				x.buf = append(x.buf, c)
				x.state = splitLT
			} else if x.depth >= 2 {
				x.buf = append(x.buf, c)
			}
		case splitLT:
			x.buf = append(x.buf, c)
			if c == '?' || c == '!' {
				x.state = splitMarkup
			} else {
				x.state = splitTag
			}
		case splitTag:
			x.buf = append(x.buf, c)
			switch c {
			case '"', '\'':
				x.quote, x.state = c, splitQuoted
			case '>':
				x.endTag()
				x.state = splitText
			}
		case splitQuoted:
			x.buf = append(x.buf, c)
			if c == x.quote {
				x.state = splitTag
			}
		case splitMarkup:
			// Only the XML declaration comes here; a comment or CDATA
			// section is never written by Element.
			x.buf = append(x.buf, c)
			if c == '>' && (x.prev == '?' || x.prev == '-' || x.prev == ']') {
				if x.depth <= 1 {
					x.buf = x.buf[:0]
				}
				x.state = splitText
			}
		}
		x.prev = c
	}
	return len(p), nil
}

// endTag handles the tag that ends at the end of buf.
func (x *xmlSplitter) endTag() {
	tag := x.buf[x.tag:]
	switch {
	case len(tag) > 1 && tag[1] == '/':
		x.depth--
		switch x.depth {
		case 1:
			x.emit(unitElement, x.buf)
			x.buf = x.buf[:0]
		case 0:
			x.emit(unitEnd, tag)
			x.buf = x.buf[:0]
		}
	case bytes.HasSuffix(tag, []byte("/>")):
		if x.depth <= 1 {
			x.emit(unitElement, x.buf)
			x.buf = x.buf[:0]
		}
	case x.depth == 0 || isStreamHeader(tag):
		// A restart's header comes with the stream still open.
		x.emit(unitHeader, tag)
		x.buf = x.buf[:0]
		x.depth = 1
	default:
		x.depth++
	}
}

func isStreamHeader(tag []byte) bool {
	return bytes.HasPrefix(tag, []byte("<stream:stream")) && len(tag) > 14 && (tag[14] == ' ' || tag[14] == '>')
}

// tagAttrs returns the attributes of a start tag written by this package
// (names and raw, still escaped, values) and the tag's name.
func tagAttrs(tag []byte) (name string, attrs [][2]string) {
	s := string(tag)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(strings.TrimSuffix(s, ">"), "/")
	i := strings.IndexAny(s, " \t\r\n")
	if i < 0 {
		return s, nil
	}
	name, s = s[:i], s[i:]
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) {
			return name, attrs
		}
		an := strings.TrimSpace(s[:eq])
		q := s[eq+1]
		end := strings.IndexByte(s[eq+2:], q)
		if end < 0 {
			return name, attrs
		}
		attrs = append(attrs, [2]string{an, s[eq+2 : eq+2+end]})
		s = s[eq+2+end+1:]
	}
}

// qualify returns a top-level element as it must travel alone, in a
// WebSocket message or a BOSH body (RFC 7395 §3.3.3, XEP-0206 §5): with
// the jabber:client namespace declared on a stanza that takes it from the
// stream header, and the stream: prefix declared on stream-level elements.
func qualify(el []byte) []byte {
	end := bytes.IndexByte(el, '>')
	if end < 0 {
		return el
	}
	name, attrs := tagAttrs(el[:end+1])
	var decl string
	switch {
	case strings.HasPrefix(name, "stream:"):
		decl = ` xmlns:stream='` + nsStreams + `'`
		for _, a := range attrs {
			if a[0] == "xmlns:stream" {
				return el
			}
		}
	case !strings.Contains(name, ":"):
		decl = ` xmlns='` + nsClient + `'`
		for _, a := range attrs {
			if a[0] == "xmlns" {
				return el
			}
		}
	default:
		return el
	}
	out := make([]byte, 0, len(el)+len(decl))
	out = append(out, el[:1+len(name)]...)
	out = append(out, decl...)
	return append(out, el[1+len(name):]...)
}

// clientHeader is the stream header a web transport writes for the
// client (RFC 6120 §4.7), from the attributes of its <open/> or its BOSH
// session request.
func clientHeader(to, version, lang string) []byte {
	var b strings.Builder
	b.WriteString(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`)
	for _, a := range [][2]string{{"to", to}, {"version", version}, {"xml:lang", lang}} {
		if a[1] == "" {
			continue
		}
		fmt.Fprintf(&b, ` %s="`, a[0])
		var e bytes.Buffer
		escapeAttr(&e, a[1])
		b.Write(e.Bytes())
		b.WriteByte('"')
	}
	b.WriteByte('>')
	return []byte(b.String())
}
