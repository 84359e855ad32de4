package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/internal/wellformed"
)

// How long, and for how many bytes, a closing connection drains its input.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 64 << 10
)

// conn is one client connection, from accept to close. Its serve method runs
// on the connection's reader goroutine: stream negotiation (RFC 6120 §4-7:
// STARTTLS, SASL, resource binding) and then the stanza loop. Once a
// resource is bound, all writes go through the session's queue.
type conn struct {
	srv *Server
	raw net.Conn // the TCP connection
	rw  net.Conn // raw, or the TLS connection over it
	br  *budgetReader
	dec *xml.Decoder
	// scope is the namespace declarations of the client's stream
	// header, in force for every stanza.
	scope    *wellformed.Scope
	remoteIP string
	// remote is the client's address, for the log (logger).
	remote string

	streamID   string
	headerSent bool
	secure     bool
	tlsState   tls.ConnectionState
	servedCert []byte // the leaf certificate of the handshake, when chosen per handshake
	username   string // set by SASL
	registered bool   // an account was registered in band on this stream (register.go)
	authFails  int
	countedIP  bool // holds a slot in the per-IP unauthenticated count
	// web is set for a stream carried by a web transport (web.go): it
	// is secure from the start, offers no STARTTLS and no channel
	// binding.
	web bool

	writeMu sync.Mutex // direct writes before binding
	sess    *session   // set after binding
	// handshaking is set from <proceed/> (or, on the direct TLS port,
	// from accept) until the TLS handshake is done: the client then
	// reads TLS only, and a stream that ends in between ends with its
	// TCP connection, nothing written in plaintext (RFC 6120 §5.4.2.3,
	// §5.4.3.2). Guarded by writeMu.
	handshaking bool
	// rate is the session's own stanza rate, from binding on (admit);
	// lastProbe is when admit last sent a keepalive to see whether the
	// throttled sender is still there. Both belong to the reader.
	rate      *rate.Limiter
	lastProbe time.Time

	// parkable: an idle session waits for input on a new goroutine
	// (park.go); peek is the byte that wait peeks into. streamHeader is the
	// client's stream header as a fresh decoder must read it to take
	// up the stream where it was (nil if it cannot be rewritten): a
	// parked session drops its decoder.
	parkable     bool
	peek         [1]byte
	streamHeader []byte

	// stop is closed when the connection is torn down from outside
	// (kill), to wake a reader waiting for its stanza rate.
	stop      chan struct{}
	stopOnce  sync.Once
	closeOnce sync.Once
}

func newConn(srv *Server, raw net.Conn) *conn {
	ip := raw.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return &conn{
		srv:      srv,
		raw:      raw,
		rw:       raw,
		remoteIP: ip,
		parkable: canPark(raw),
		streamID: randomID(12),
		stop:     make(chan struct{}),
		remote:   raw.RemoteAddr().String(),
	}
}

// logger is the server's logger with the connection's address and, once
// bound, the session's JID. Made for each message rather than kept: a
// logger with attributes costs every idle session a few hundred bytes,
// and connections log rarely.
func (c *conn) logger() *slog.Logger {
	c.writeMu.Lock()
	s := c.sess
	c.writeMu.Unlock()
	if s != nil {
		return c.srv.log.With("remote", c.remote, "jid", s.jid.String())
	}
	return c.srv.log.With("remote", c.remote)
}

// serve runs the connection until it ends. directTLS means the client
// starts with a TLS handshake (XEP-0368) instead of STARTTLS.
func (c *conn) serve(ctx context.Context, directTLS bool) {
	parked := false
	defer func() {
		if !parked {
			c.close()
		}
	}()
	c.srv.metrics.connections.Inc()
	_ = c.raw.SetDeadline(time.Now().Add(c.srv.limit().UnauthTimeout))

	// The per-address slot is taken before anything else, the TLS
	// handshake included: a connection that never starts TLS holds
	// resources as surely as one that never authenticates.
	if !c.srv.limits.acquireUnauth(c.remoteIP) {
		c.srv.metrics.unauthRefused.Inc()
		if directTLS {
			// No stream error can be sent before TLS: just close.
			c.logger().Debug("too many unauthenticated connections from the address: closed before TLS")
			return
		}
		c.fail(&StreamError{Condition: "policy-violation", Text: "too many unauthenticated connections from your address"})
		return
	}
	c.countedIP = true
	switch {
	case directTLS:
		if err := c.startTLS(ctx); err != nil {
			c.logger().Debug("direct TLS handshake failed", "err", err)
			return
		}
	case c.web:
		c.secure = true
		c.br = newBudgetReader(c.rw, c.srv.limit().MaxStanzaSize)
	default:
		c.br = newBudgetReader(c.rw, c.srv.limit().MaxStanzaSize)
	}

	err := c.negotiate(ctx)
	if err == nil {
		err = c.stanzaLoop(ctx)
	}
	if errors.Is(err, errIdle) {
		parked = true
		c.park(ctx)
		return
	}
	c.finish(err)
}

// finish ends the stream after the reader stopped with err.
func (c *conn) finish(err error) {
	if c.sess != nil && c.lost(err) && c.detach() {
		return // resumable (sm.go)
	}
	var serr *StreamError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.fail(nil)
	case errors.As(err, &serr):
		c.fail(serr)
	default:
		if se := readErrorToStreamError(err); se != nil {
			c.fail(se)
			return
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			c.logger().Debug("connection ended", "err", err)
		}
		c.fail(nil)
	}
}

// lost reports whether the reader ended because the connection was lost
// (rather than closed by the client, or ended for a fault or from here):
// a resumable session then waits for its client (sm.go).
func (c *conn) lost(err error) bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	if err == nil {
		return false
	}
	var serr *StreamError
	if errors.As(err, &serr) {
		return false
	}
	return c.br != nil && c.br.readErr != nil || isTimeout(err) || readErrorToStreamError(err) == nil
}

// fail sends serr (if any) and </stream:stream>, then closes the
// connection once the writes are done. In a TLS handshake it sends
// nothing (handshaking): the caller closes the connection.
func (c *conn) fail(serr *StreamError) {
	if c.sess != nil {
		b := c.streamEnd(serr, c.logger())
		if !c.sess.ownedBy(c) {
			return // another connection resumed the session (sm.go)
		}
		c.endSession(b)
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	log := c.srv.log.With("remote", c.remote) // c.logger() takes writeMu
	if c.handshaking {
		if serr != nil {
			log.Debug("stream error not sent: closed in the TLS handshake", "condition", serr.Condition)
		}
		return
	}
	_ = c.rw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.rw.Write(c.streamEnd(serr, log))
}

// streamEnd is serr (if any), after our header if it was not sent, and
// </stream:stream>.
func (c *conn) streamEnd(serr *StreamError, log *slog.Logger) []byte {
	var b []byte
	if serr != nil {
		c.srv.metrics.streamErrors.WithLabelValues(serr.Condition).Inc()
		log.Debug("stream error", "condition", serr.Condition, "text", serr.Text)
		if !c.headerSent {
			b = append(b, c.header("")...)
			c.headerSent = true
		}
		b = append(b, serr.element().Bytes()...)
	}
	return append(b, "</stream:stream>"...)
}

// close releases everything the connection holds. Safe to call twice.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		if c.countedIP {
			c.srv.limits.releaseUnauth(c.remoteIP)
			c.countedIP = false
		}
		lingerClose(c.raw, c.rw)
		if c.br != nil {
			c.br.release()
		}
		c.srv.forget(c)
	})
}

// lingerClose half-closes a connection (rw is raw or the TLS connection
// over it) and drains what the peer still sends for a moment before
// closing: closing a socket with unread input makes the kernel answer
// with a reset, which can destroy the stream error we just sent before
// the peer reads it.
func lingerClose(raw, rw net.Conn) {
	_ = raw.SetDeadline(time.Now().Add(lingerTime))
	if tc, ok := rw.(*tls.Conn); ok {
		_ = tc.CloseWrite()
	} else if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rw, lingerBytes))
	_ = raw.Close()
}

// errHandshaking is a write refused in a TLS handshake (conn.handshaking,
// s2sConn.handshaking).
var errHandshaking = errors.New("nothing is written in plaintext once TLS negotiation has begun (RFC 6120 §5.4.2.3)")

// write sends bytes directly during negotiation, before a session exists.
func (c *conn) write(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.handshaking {
		return errHandshaking
	}
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	_ = c.rw.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.rw.Write(b)
	return err
}

// proceed answers <starttls/> (RFC 6120 §5.4.2.3) and, under the same
// lock, starts the handshake for the writers: a stream error that another
// goroutine (kill) or the reader (a timeout) writes later must not follow
// <proceed/> in plaintext.
func (c *conn) proceed() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.handshaking = true
	return c.writeLocked([]byte(`<proceed xmlns='` + nsTLS + `'/>`))
}

// header is our stream header (RFC 6120 §4.7).
func (c *conn) header(to string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en' id='`)
	b.WriteString(c.streamID)
	b.WriteString(`' from='`)
	b.WriteString(c.srv.cfg.Domain)
	if to != "" {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(to))
		b.WriteString(`' to='`)
		b.WriteString(strings.ReplaceAll(e.String(), "'", "&apos;"))
	}
	b.WriteString(`'>`)
	return []byte(b.String())
}

// readHeader reads the client's stream header on a fresh decoder (RFC 6120
// §4.2, §4.3.3 for restarts), checks it and answers with ours.
func (c *conn) readHeader() error {
	// A stream must start with '<' (after optional whitespace); answer
	// anything else (an HTTP request, a TLS ClientHello on the STARTTLS
	// port) at once rather than wait for a '<' that never comes.
	if !c.br.startsWithTag() {
		return &StreamError{Condition: "not-well-formed", Text: "this is an XMPP port (RFC 6120): the stream must start with '<'"}
	}
	c.dec = newDecoder(c.br)
	var start xml.StartElement
	for first := true; ; first = false {
		c.br.reset()
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		if pi, ok := tok.(xml.ProcInst); ok && first && pi.Target == "xml" {
			continue // the XML declaration
		}
		if cd, ok := tok.(xml.CharData); ok && isWhitespace(cd) {
			continue
		}
		switch t := tok.(type) {
		case xml.StartElement:
			start = t
		case xml.CharData:
			return &StreamError{Condition: "not-well-formed", Text: "text before the stream header"}
		case xml.EndElement:
			return &StreamError{Condition: "not-well-formed"}
		default:
			return readErrorToStreamError(fmt.Errorf("%w: %T", errRestrictedXML, tok))
		}
		break
	}
	scope, wfErr := (*wellformed.Scope)(nil).Enter(start)
	var defaultNS, to, from, version string
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			defaultNS = a.Value
		case a.Name.Space == "" && a.Name.Local == "to":
			to = a.Value
		case a.Name.Space == "" && a.Name.Local == "from":
			from = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			version = a.Value
		}
	}
	// Answer with our header first: every stream error must follow one
	// (RFC 6120 §4.9.1.2).
	if err := c.write(c.header(from)); err != nil {
		return err
	}
	c.headerSent = true
	switch {
	case wfErr != nil:
		return wfErr
	case start.Name.Space != nsStreams || start.Name.Local != "stream":
		return &StreamError{Condition: "invalid-namespace", Text: "expected <stream:stream> in " + nsStreams}
	case defaultNS != nsClient:
		return &StreamError{Condition: "invalid-namespace", Text: "the default namespace must be " + nsClient}
	case !c.isOurDomain(to):
		return &StreamError{Condition: "host-unknown", Text: "this server hosts " + c.srv.cfg.Domain}
	case !versionAtLeast1(version):
		return &StreamError{Condition: "unsupported-version", Text: "XMPP 1.0 (RFC 6120) is required"}
	}
	c.scope = scope
	c.streamHeader = streamReplay(start)
	if c.username == "" && c.srv.cfg.Redirect != nil {
		if other := c.srv.cfg.Redirect(); other != "" {
			return &StreamError{Condition: "see-other-host", Content: other, Text: "this node takes no new sessions now; connect to " + other}
		}
	}
	return nil
}

func (c *conn) isOurDomain(to string) bool {
	if to == "" {
		return true // lenient: RFC 6120 §4.7.2 lets us pick the default
	}
	j, err := jid.Parse(to)
	return err == nil && j.Localpart() == "" && j.Resourcepart() == "" && j.Domainpart() == c.srv.cfg.Domain
}

func versionAtLeast1(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	return major != "" && major != "0" && strings.Trim(major, "0123456789") == ""
}

// negotiate runs stream negotiation until a resource is bound.
func (c *conn) negotiate(ctx context.Context) error {
	for {
		if err := c.readHeader(); err != nil {
			return err
		}
		if err := c.write(c.features().Bytes()); err != nil {
			return err
		}
		restart, err := c.negotiateStep(ctx)
		if err != nil || !restart {
			return err
		}
	}
}

// features lists what the client may negotiate next (RFC 6120 §4.3.2).
func (c *conn) features() *Element {
	f := NewElement(nsStreams, "features")
	switch {
	case !c.secure:
		f.Append(NewElement(nsTLS, "starttls").Append(NewElement(nsTLS, "required")))
	case c.username == "":
		f.Append(c.srv.saslMechanisms(c))
		if r := c.registerFeature(); r != nil {
			f.Append(r)
		}
		if cb := c.srv.channelBindingTypes(c); cb != nil {
			f.Append(cb)
		}
		c.srv.appendAuthFeatures(c, f)
	default:
		f.Append(NewElement(nsBind, "bind"))
		// RFC 3921 session establishment, optional: kept for old
		// clients that still send it.
		f.Append(NewElement(nsSession, "session").Append(NewElement(nsSession, "optional")))
		f.Append(NewElement(nsRosterVer, "ver"))
		// The server's own capabilities (XEP-0115 §6.3), once the
		// client is someone the server's features are for.
		if caps := c.srv.capsElement(); caps != nil {
			f.Append(caps)
		}
		c.srv.appendBoundFeatures(c, f)
	}
	return f
}

// negotiateStep handles elements until the stream restarts (restart=true,
// after STARTTLS or SASL success) or a resource is bound (false, nil).
func (c *conn) negotiateStep(ctx context.Context) (restart bool, err error) {
	for {
		tok, err := nextToken(c.dec, c.br)
		if err != nil {
			return false, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			return false, io.EOF // </stream:stream> before binding
		}
		el, err := readElement(c.dec, start, c.scope)
		if err != nil {
			return false, err
		}
		switch {
		case el.Name.Space == nsTLS && el.Name.Local == "starttls":
			if c.secure {
				return false, &StreamError{Condition: "policy-violation", Text: "TLS is already established"}
			}
			if err := c.proceed(); err != nil {
				return false, err
			}
			if c.br.buffered() > 0 {
				return false, errors.New("client sent data before the TLS handshake")
			}
			if err := c.startTLS(ctx); err != nil {
				return false, fmt.Errorf("TLS handshake: %w", err)
			}
			return true, nil
		case el.Name.Space == nsSASL && el.Name.Local == "auth":
			if !c.secure {
				_ = c.write([]byte(`<failure xmlns='` + nsSASL + `'><encryption-required/></failure>`))
				return false, &StreamError{Condition: "policy-violation", Text: "STARTTLS is required before authentication"}
			}
			if c.username != "" {
				return false, &StreamError{Condition: "policy-violation", Text: "already authenticated"}
			}
			ok, err := c.authenticate(ctx, el)
			if err != nil || ok {
				return ok, err
			}
		case el.Name.Space == nsClient && el.Name.Local == "iq" && c.username == "" && c.srv.cfg.AllowRegistration:
			handled, err := c.preAuthRegistration(ctx, el)
			if err != nil {
				return false, err
			}
			if !handled {
				return false, &StreamError{Condition: "not-authorized", Text: "authenticate and bind a resource first"}
			}
		case el.Name.Space == nsSM && el.Name.Local == "resume" && c.username != "":
			resumed, err := c.resume(el)
			if err != nil || resumed {
				return false, err
			}
		case el.Name.Space == nsSM && el.Name.Local == "enable" && c.username != "":
			// §3: after binding only.
			if err := c.write(smFailed("unexpected-request", "bind a resource first")); err != nil {
				return false, err
			}
		case el.Name.Space == nsClient && el.Name.Local == "iq" && c.username != "":
			bound, err := c.handleBindIQ(el)
			if err != nil || bound {
				return false, err
			}
		case c.srv.authElement(el.Name) != nil && c.username == "":
			if !c.secure {
				return false, &StreamError{Condition: "policy-violation", Text: "STARTTLS is required before authentication"}
			}
			bound, err := c.srv.authElement(el.Name)(ctx, c, el)
			if err != nil || bound {
				return false, err
			}
		case el.Name.Space == nsClient || el.Name.Space == nsSASL:
			return false, &StreamError{Condition: "not-authorized", Text: "authenticate and bind a resource first"}
		default:
			return false, &StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Space + " " + el.Name.Local}
		}
	}
}

// startTLS performs the TLS handshake on the raw connection (STARTTLS or
// XEP-0368) and replaces the byte source.
func (c *conn) startTLS(ctx context.Context) error {
	tc := tls.Server(c.raw, c.srv.clientTLSConfig())
	hctx, cancel := context.WithTimeout(ctx, c.srv.limit().UnauthTimeout)
	defer cancel()
	err := tc.HandshakeContext(hctx)
	if cert, ok := c.srv.servedCerts.LoadAndDelete(c.raw); ok {
		c.servedCert = cert.([]byte)
	}
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	c.rw = tc
	c.handshaking = false
	c.writeMu.Unlock()
	c.secure = true
	c.tlsState = tc.ConnectionState()
	if c.br != nil {
		c.br.release() // empty: checked before the handshake
	}
	c.br = newBudgetReader(tc, c.srv.limit().MaxStanzaSize)
	return nil
}

// tlsConfig is the server's TLS configuration for client handshakes, one
// for every connection (a tls.Conn keeps its configuration for its
// lifetime: a copy per connection cost each session half a kilobyte, and
// its own session-ticket keys). When the certificate is chosen per
// handshake (GetCertificate: it may be replaced while the server runs),
// the one served is remembered for the connection in servedCerts, keyed by
// the connection, which tls-server-end-point channel binding is computed
// from (RFC 5929 §4.1).
func (s *Server) clientTLSConfig() *tls.Config {
	s.tlsOnce.Do(func() {
		cfg := s.cfg.TLS
		if cfg.GetCertificate == nil {
			s.tlsConf = cfg
			return
		}
		cfg = cfg.Clone()
		get := cfg.GetCertificate
		cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := get(hello)
			if err == nil && cert != nil && len(cert.Certificate) > 0 && hello.Conn != nil {
				s.servedCerts.Store(hello.Conn, cert.Certificate[0])
			}
			return cert, err
		}
		s.tlsConf = cfg
	})
	return s.tlsConf
}

// handleBindIQ answers the iq that binds a resource (RFC 6120 §7) and, for
// old clients, session establishment. It reports whether a resource is now
// bound.
func (c *conn) handleBindIQ(iq *Element) (bool, error) {
	bindEl := iq.Child(nsBind, "bind")
	if iq.AttrValue("type") != "set" || bindEl == nil {
		return false, c.write(errorReply(iq, errNotAllowed("bind a resource first"), "").Bytes())
	}
	account, err := jid.New(c.username, c.srv.cfg.Domain, "")
	if err != nil {
		return false, c.write(errorReply(iq, errInternal(""), "").Bytes())
	}
	wanted := ""
	if r := bindEl.Child(nsBind, "resource"); r != nil {
		wanted = strings.TrimSpace(r.Text())
		if wanted != "" {
			if _, err := account.WithResource(wanted); err != nil {
				return false, c.write(errorReply(iq, errBadRequest("invalid resourcepart"), "").Bytes())
			}
		}
	}
	s := c.newSession()
	ok, err := c.srv.router.bind(s, account, wanted, c.srv.limit().MaxResourcesPerUser)
	if err != nil {
		return false, c.write(errorReply(iq, errBadRequest("invalid resourcepart"), "").Bytes())
	}
	if !ok {
		return false, c.write(errorReply(iq, errResourceConstraint("too many sessions for this account"), "").Bytes())
	}
	res := NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"))
	res.Append(NewElement(nsBind, "bind").Append(NewElement(nsBind, "jid").AppendText(s.jid.String())))
	if err := c.write(res.Bytes()); err != nil {
		c.srv.router.unbind(s)
		return false, err
	}
	c.startSession(s)
	return true, nil
}

// newSession is a session for this connection, not yet bound.
func (c *conn) newSession() *session {
	s := newSession(c.srv, c.srv.cfg.SendQueueLength)
	s.kill = c.kill
	c.rate = newSessionRate(c.srv)
	return s
}

// startSession hands the connection to s, bound and with what says so
// written (a bind result, or SASL2's success with Bind2): from here on the
// session's writer owns the socket.
func (c *conn) startSession(s *session) {
	c.writeMu.Lock()
	c.sess = s
	c.writeMu.Unlock()
	_ = c.raw.SetDeadline(time.Time{})
	if c.countedIP {
		c.srv.limits.releaseUnauth(c.remoteIP)
		c.countedIP = false
	}
	c.srv.metrics.sessions.Inc()
	c.srv.liveSessions.Add(1)
	s.startWriter(c.rw, c.raw, c.srv.cfg.WriteTimeout)
	c.logger().Info("login", "proto", "xmpp")
}

// kill tears the connection down from another goroutine: it sends the
// stream error if it can and closes the socket, which ends the reader.
func (c *conn) kill(serr *StreamError) {
	c.stopOnce.Do(func() { close(c.stop) })
	c.writeMu.Lock()
	s := c.sess
	c.writeMu.Unlock()
	if s != nil && (serr == nil && s.smResumable(c) || !s.ownedBy(c)) {
		// A write failed on a resumable session: close the socket, the
		// reader ends and the session is detached (sm.go); or the
		// session is another connection's now.
		_ = c.raw.Close()
		return
	}
	if s != nil {
		var b []byte
		if serr != nil {
			c.srv.metrics.streamErrors.WithLabelValues(serr.Condition).Inc()
			b = serr.element().Bytes()
		}
		s.closeQueue(append(b, "</stream:stream>"...))
		// Give the writer a moment to send the error, then cut.
		go func() {
			select {
			case <-s.writeDone:
			case <-time.After(2 * time.Second):
			}
			_ = c.raw.Close()
		}()
		return
	}
	c.fail(serr)
	_ = c.raw.Close()
}

// endSession is the orderly end of a bound session.
func (c *conn) endSession(closing []byte) { c.srv.endBound(c.sess, closing, c.logger()) }

// endBound ends a bound session: unavailable presence to whoever saw it
// online, the closing bytes queued, the writer drained, and the messages
// its client did not acknowledge (stream management) stored offline.
func (srv *Server) endBound(s *session, closing []byte, log *slog.Logger) {
	s.mu.Lock()
	id := s.sm.id
	s.sm.id = ""
	s.mu.Unlock()
	srv.sm.remove(id, s)
	srv.router.unbind(s)
	// Nothing reaches the session any more: what its client did not
	// acknowledge is final.
	srv.smRescue(s)
	if srv.muc != nil {
		srv.muc.leaveAll(s)
	}
	srv.presenceGone(s)
	s.closeQueue(closing)
	select {
	case <-s.writeDone:
	case <-time.After(srv.cfg.WriteTimeout):
	}
	srv.metrics.sessions.Dec()
	srv.liveSessions.Add(-1)
	log.Info("logout", "proto", "xmpp")
}

// newSessionRate is a bound session's own stanza rate.
func newSessionRate(srv *Server) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(srv.cfg.StanzaRate), srv.cfg.StanzaBurst)
}
