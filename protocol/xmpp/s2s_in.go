package xmpp

import (
	"context"
	"crypto/hmac"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
)

// An inbound link: a stream another server opened to one of our domains
// (RFC 6120 §13, we are the "receiving server"). Its goroutine negotiates
// STARTTLS (required), then authenticates the peer's domain, by SASL
// EXTERNAL or by dialback (XEP-0220: db:result, checked with the peer's
// authoritative server on a connection of our own; also answered at once
// when the certificate verifies, XEP-0344), answers verification requests
// for keys we made (db:verify), and hands each stanza whose 'from' is in
// an authenticated domain to the mux. A stanza from any other domain ends
// the stream with <invalid-from/> (RFC 6120 §4.9.3.10).

// maxPendingVerifications bounds the dialback verifications one inbound
// link may have in flight: each opens a connection of ours.
const maxPendingVerifications = 8

// s2sIn is one inbound link.
type s2sIn struct {
	f     *federation
	c     *s2sConn
	log   *slog.Logger
	since time.Time

	directTLS bool // TLS from the first byte (XEP-0368), not STARTTLS
	secure    bool
	peerCerts []*x509.Certificate
	local     string // our domain the current stream was opened to
	peer      string // the domain the stream header claims (not yet verified)

	remoteIP  string
	countedIP bool // holds a slot in the per-address unauthenticated count

	mu        sync.Mutex
	authed    map[string]string // remote domain → how it authenticated
	verifying int               // dialback verifications in flight
	ended     bool              // the stream is over (closing): no longer one of its domains' links
	bidi      *linkKey          // XEP-0288: the peer takes our stanzas for this pair (s2s_bidi.go)
	gone      chan struct{}     // closed when the link has ended
	killOnce  sync.Once

	verifications sync.WaitGroup
	received      atomic.Int64 // stanzas taken from the peer
}

// ServeS2S accepts server-to-server connections on ln (RFC 6120 §13,
// port 5269). It returns nil when ln is closed by Shutdown.
func (s *Server) ServeS2S(ln net.Listener) error {
	if s.fed == nil {
		return errors.New("xmpp: ServeS2S: federation is not configured (Config.S2S)")
	}
	return s.acceptLoop(ln, func(raw net.Conn) bool { return s.fed.serveIn(s.ctx, raw, false) })
}

// ServeS2STLS accepts server-to-server connections that start with TLS
// (XEP-0368 direct TLS, the _xmpps-server._tcp SRV records; ALPN
// "xmpp-server") on ln. It returns nil when ln is closed by Shutdown.
func (s *Server) ServeS2STLS(ln net.Listener) error {
	if s.fed == nil {
		return errors.New("xmpp: ServeS2STLS: federation is not configured (Config.S2S)")
	}
	return s.acceptLoop(ln, func(raw net.Conn) bool { return s.fed.serveIn(s.ctx, raw, true) })
}

// alpnS2S is the ALPN protocol of a direct TLS server-to-server
// connection (XEP-0368 §4).
const alpnS2S = "xmpp-server"

// serveIn starts an inbound link on raw, with TLS from the first byte if
// directTLS; false when the server is shutting down.
func (f *federation) serveIn(ctx context.Context, raw net.Conn, directTLS bool) bool {
	in := &s2sIn{
		f:         f,
		directTLS: directTLS,
		c:         newS2SConn(raw, f.srv.limit().MaxStanzaSize, f.srv.cfg.WriteTimeout),
		log:       f.log.With("direction", "in", "remote_addr", raw.RemoteAddr().String()),
		since:     time.Now(),
		authed:    make(map[string]string),
		gone:      make(chan struct{}),
	}
	in.c.handshaking = directTLS // before kill can see in
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return false
	}
	f.in[in] = struct{}{}
	f.wg.Add(1)
	f.mu.Unlock()
	f.m.links.WithLabelValues("in", "connecting").Inc()
	go func() {
		defer f.wg.Done()
		in.serve(ctx)
	}()
	return true
}

// hostOf is the IP address of a connection's remote end.
func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// releaseIP gives back the link's slot in its address's count of
// unauthenticated streams (Config.MaxUnauthPerIP), once.
func (in *s2sIn) releaseIP() {
	in.mu.Lock()
	counted := in.countedIP
	in.countedIP = false
	in.mu.Unlock()
	if counted {
		in.f.srv.limits.releaseUnauth(in.remoteIP)
	}
}

// serve runs the link until it ends.
func (in *s2sIn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	f := in.f
	_ = in.c.raw.SetDeadline(time.Now().Add(f.srv.limit().UnauthTimeout))
	// Until it authenticates, a link holds one of its address's slots
	// for unauthenticated streams, as a client stream does: a peer that
	// opens links and never authenticates cannot hold more.
	var err error
	in.remoteIP = hostOf(in.c.raw.RemoteAddr())
	if f.srv.limits.acquireUnauth(in.remoteIP) {
		in.countedIP = true
		if err = in.handshakeDirect(ctx); err == nil {
			err = in.run(ctx)
		}
	} else {
		f.srv.metrics.unauthRefused.Inc()
		f.m.refused.WithLabelValues("policy").Inc()
		_ = in.c.sendHeader(f.srv.cfg.Domain, "", randomID(12))
		err = &StreamError{Condition: "policy-violation", Text: "too many unauthenticated connections from your address"}
	}
	in.mu.Lock()
	in.ended = true
	in.mu.Unlock()
	close(in.gone)
	in.releaseIP()
	in.finish(err)
	cancel()
	in.verifications.Wait()
	in.c.close()
	f.mu.Lock()
	delete(f.in, in)
	f.mu.Unlock()
	state := "connecting"
	if in.authenticated() {
		state = "authenticated"
	}
	f.m.links.WithLabelValues("in", state).Dec()
}

// handshakeDirect runs the TLS handshake of a direct TLS link (XEP-0368)
// before any stream: the link is then as secure as after STARTTLS.
func (in *s2sIn) handshakeDirect(ctx context.Context) error {
	if !in.directTLS {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, in.f.srv.limit().UnauthTimeout)
	defer cancel()
	if err := in.c.startTLS(hctx, in.f.tlsDirect, true); err != nil {
		return err
	}
	in.secure, in.peerCerts, in.c.directTLS = true, in.c.tls.PeerCertificates, true
	return nil
}

// run negotiates each stream of the connection (a new one after STARTTLS
// and after SASL, RFC 6120 §5.4.3.3, §6.4.6) and reads its elements.
func (in *s2sIn) run(ctx context.Context) error {
	for {
		if err := in.open(); err != nil {
			return err
		}
		restart, err := in.elements(ctx)
		if err != nil || !restart {
			return err
		}
	}
}

// finish ends the stream after the reader stopped with err: a stream
// error when there is one to give, </stream:stream> in any case.
func (in *s2sIn) finish(err error) {
	var serr *StreamError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case in.c.inHandshake():
		// No stream error can be sent (s2sConn.handshaking).
		in.log.Debug("inbound link ended in the TLS handshake", "err", err)
	case errors.As(err, &serr):
	case isTimeout(err) && in.authenticated():
		// Idle for S2SConfig.IdleTimeout: a normal close.
	default:
		serr = readErrorToStreamError(err)
		if serr == nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			in.log.Debug("inbound link ended", "err", err)
		}
	}
	if serr != nil {
		in.f.m.refused.WithLabelValues("stream-error").Inc()
		in.f.srv.metrics.streamErrors.WithLabelValues(serr.Condition).Inc()
		in.log.Info("inbound link closed with a stream error", "condition", serr.Condition, "text", serr.Text, "peer", in.peer)
	}
	in.c.fail(serr)
}

// kill ends the link from another goroutine (shutdown).
func (in *s2sIn) kill(serr *StreamError) {
	in.killOnce.Do(func() {
		in.c.fail(serr)
		_ = in.c.raw.Close()
	})
}

func (in *s2sIn) authenticated() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.authed) > 0
}

// holds reports whether the link is open and authenticated domain.
func (in *s2sIn) holds(domain string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.authed[domain]
	return ok && !in.ended
}

func (in *s2sIn) isAuthed(domain string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.authed[domain]
	return ok
}

// authenticate records that domain proved itself on this link, unless
// the domain holds MaxLinksPerDomain other links already: then the link
// is to close with policy-violation.
func (in *s2sIn) authenticate(domain, method string) *StreamError {
	if max := in.f.cfg.MaxLinksPerDomain; in.f.inboundLinks(domain, in) >= max {
		in.f.m.limited.WithLabelValues("links").Inc()
		in.log.Info("inbound link refused: the domain holds as many links as allowed", "domain", domain, "max", max)
		return &StreamError{Condition: "policy-violation", Text: fmt.Sprintf("%s has %d links to this server already, the most allowed", domain, max)}
	}
	in.mu.Lock()
	first := len(in.authed) == 0
	_, again := in.authed[domain]
	in.authed[domain] = method
	in.mu.Unlock()
	if first {
		in.releaseIP()
		in.f.m.links.WithLabelValues("in", "connecting").Dec()
		in.f.m.links.WithLabelValues("in", "authenticated").Inc()
	}
	if !again {
		in.f.m.auth.WithLabelValues("in", method).Inc()
		in.log.Info("inbound link authenticated", "domain", domain, "method", method, "local", in.local)
	}
	return nil
}

func (in *s2sIn) describe() S2SLink {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := S2SLink{Direction: "in", Local: in.local, Remote: in.peer, State: "connecting", Since: in.since, In: in.received.Load(), DirectTLS: in.directTLS}
	if len(in.authed) > 0 {
		domains := make([]string, 0, len(in.authed))
		for d := range in.authed {
			domains = append(domains, d)
		}
		slices.Sort(domains)
		l.Remote, l.State, l.Auth = strings.Join(domains, ","), "authenticated", in.authed[domains[0]]
	}
	return l
}

// open reads the peer's stream header and answers with ours and the
// features (RFC 6120 §4.2, §4.3.2).
func (in *s2sIn) open() error {
	f := in.f
	h, err := in.c.readHeader()
	if err != nil {
		var serr *StreamError
		if errors.As(err, &serr) {
			// Our header first: every stream error follows one (RFC
			// 6120 §4.9.1.2).
			_ = in.c.sendHeader(f.srv.cfg.Domain, "", randomID(12))
		}
		return err
	}
	in.c.streamID = randomID(12)
	local := h.to
	if local == "" {
		local = f.srv.cfg.Domain // RFC 6120 §4.7.2: we may pick our default
	}
	ourName := local
	if !f.srv.hosts(local) {
		ourName = f.srv.cfg.Domain
	}
	// Our header goes first: every stream error must follow one (RFC
	// 6120 §4.9.1.2).
	if err := in.c.sendHeader(ourName, h.from, in.c.streamID); err != nil {
		return err
	}
	if serr := h.check(); serr != nil {
		return serr
	}
	if !f.srv.hosts(local) {
		return &StreamError{Condition: "host-unknown", Text: "this server hosts " + f.srv.cfg.Domain}
	}
	if h.from != "" {
		j, err := jid.Parse(h.from)
		if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
			return &StreamError{Condition: "invalid-from", Text: "the stream's 'from' is not a domain"}
		}
		if !f.permitted(j.Domainpart()) {
			f.m.refused.WithLabelValues("policy").Inc()
			return &StreamError{Condition: "policy-violation", Text: "this server does not federate with " + j.Domainpart()}
		}
		in.peer = j.Domainpart()
	}
	in.local = local
	feats := NewElement(nsStreams, "features")
	if !in.secure {
		feats.Append(NewElement(nsTLS, "starttls").Append(NewElement(nsTLS, "required")))
	} else {
		if !in.authenticated() && certVerifies(in.peerCerts, f.cfg.Roots, in.peer) {
			// XEP-0178: EXTERNAL only for a certificate that proves
			// the domain the header claims.
			feats.Append(NewElement(nsSASL, "mechanisms").Append(NewElement(nsSASL, "mechanism").AppendText("EXTERNAL")))
		}
		// XEP-0220 §2.5, with dialback errors understood.
		feats.Append(NewElement(nsDialbackFeat, "dialback").Append(NewElement(nsDialbackFeat, "errors")))
		if !in.authenticated() {
			feats.Append(bidiFeature()) // XEP-0288 (s2s_bidi.go)
		}
	}
	return in.c.writeElement(feats)
}

// elements handles the stream's elements until it restarts (true) or ends.
func (in *s2sIn) elements(ctx context.Context) (restart bool, err error) {
	f := in.f
	for {
		if in.authenticated() {
			_ = in.c.raw.SetReadDeadline(time.Now().Add(f.cfg.IdleTimeout))
		}
		el, err := in.c.next()
		if err != nil {
			return false, err
		}
		switch {
		case el.Name.Space == nsTLS && el.Name.Local == "starttls":
			if in.secure {
				return false, &StreamError{Condition: "policy-violation", Text: "TLS is already established"}
			}
			if err := in.c.proceed(); err != nil {
				return false, err
			}
			hctx, cancel := context.WithTimeout(ctx, f.srv.limit().UnauthTimeout)
			err := in.c.startTLS(hctx, f.tlsServer, true)
			cancel()
			if err != nil {
				return false, err
			}
			in.secure, in.peerCerts = true, in.c.tls.PeerCertificates
			return true, nil
		case !in.secure:
			// RFC 6120 §5.3.1: TLS is mandatory-to-negotiate here.
			return false, &StreamError{Condition: "policy-violation", Text: "STARTTLS first: every link to this server is encrypted"}
		case el.Name.Space == nsSASL && el.Name.Local == "auth":
			ok, err := in.external(el)
			if err != nil || ok {
				return ok, err
			}
		case el.Name.Space == nsDialback && el.Name.Local == "result":
			if err := in.dialbackResult(ctx, el); err != nil {
				return false, err
			}
		case el.Name.Space == nsBidi && el.Name.Local == "bidi":
			in.requestBidi() // XEP-0288 (s2s_bidi.go)
		case el.Name.Space == nsDialback && el.Name.Local == "verify":
			if err := in.dialbackVerify(ctx, el); err != nil {
				return false, err
			}
		case el.Name.Space == nsClient && (el.Name.Local == "iq" || el.Name.Local == "message" || el.Name.Local == "presence"):
			if err := in.stanza(ctx, el); err != nil {
				return false, err
			}
		default:
			return false, &StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Space + " " + el.Name.Local}
		}
	}
}

// external answers SASL EXTERNAL (XEP-0178 §3): the authorization
// identity, or the header's 'from' when it is empty ("="), must be a
// domain the peer's certificate verifies for.
func (in *s2sIn) external(el *Element) (bool, error) {
	fail := func(cond string) (bool, error) {
		in.f.m.refused.WithLabelValues("certificate").Inc()
		return false, in.c.writeElement(NewElement(nsSASL, "failure").Append(NewElement(nsSASL, cond)))
	}
	if in.authenticated() {
		return false, &StreamError{Condition: "policy-violation", Text: "already authenticated"}
	}
	if el.AttrValue("mechanism") != "EXTERNAL" {
		return fail("invalid-mechanism")
	}
	domain := in.peer
	if text := strings.TrimSpace(el.Text()); text != "" && text != "=" {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return fail("incorrect-encoding")
		}
		domain = string(b)
	}
	if domain == "" || !in.f.permitted(domain) || !certVerifies(in.peerCerts, in.f.cfg.Roots, domain) {
		return fail("not-authorized")
	}
	if serr := in.authenticate(domain, "certificate"); serr != nil {
		return false, serr
	}
	if err := in.c.writeElement(NewElement(nsSASL, "success")); err != nil {
		return false, err
	}
	in.peer = domain
	return true, nil
}

// dialbackResult takes a peer's dialback key for a domain it claims
// (XEP-0220 §2.1.2) and answers it (§2.4): at once when its certificate
// verifies for the domain (XEP-0344), refused when --s2s-secure-auth wants
// such a certificate, otherwise once the domain's authoritative server
// confirmed the key on a connection of ours (verifyKey).
func (in *s2sIn) dialbackResult(ctx context.Context, el *Element) error {
	f := in.f
	from, to, key := el.AttrValue("from"), el.AttrValue("to"), strings.TrimSpace(el.Text())
	answerErr := func(cond, typ string) error {
		res := NewElement(nsDialback, "result", "from", to, "to", from, "type", "error")
		e := NewElement(nsClient, "error", "type", typ).Append(NewElement(nsStanzas, cond))
		return in.c.writeElement(res.Append(e))
	}
	fj, err := jid.Parse(from)
	if err != nil || fj.Localpart() != "" || fj.Resourcepart() != "" {
		return &StreamError{Condition: "invalid-from", Text: "a dialback request names a domain in 'from'"}
	}
	if !f.srv.hosts(to) {
		return answerErr("item-not-found", "cancel")
	}
	if !f.permitted(from) {
		f.m.refused.WithLabelValues("policy").Inc()
		return &StreamError{Condition: "policy-violation", Text: "this server does not federate with " + from}
	}
	if key == "" {
		return answerErr("bad-request", "modify")
	}
	if in.secure && certVerifies(in.peerCerts, f.cfg.Roots, from) {
		if serr := in.authenticate(from, "certificate"); serr != nil {
			return serr
		}
		return in.c.writeElement(NewElement(nsDialback, "result", "from", to, "to", from, "type", "valid"))
	}
	if f.cfg.SecureAuth {
		f.m.refused.WithLabelValues("certificate").Inc()
		in.log.Info("dialback refused: the certificate does not verify for the domain and --s2s-secure-auth is on", "domain", from)
		return answerErr("not-authorized", "auth")
	}
	in.mu.Lock()
	busy := in.verifying >= maxPendingVerifications
	if !busy {
		in.verifying++
	}
	in.mu.Unlock()
	if busy {
		return answerErr("resource-constraint", "wait")
	}
	id := in.c.streamID
	in.verifications.Add(1)
	go func() {
		defer in.verifications.Done()
		defer func() {
			in.mu.Lock()
			in.verifying--
			in.mu.Unlock()
		}()
		valid, err := f.verifyKey(ctx, linkKey{local: to, remote: from}, id, key)
		switch {
		case err != nil:
			in.log.Info("dialback: could not reach the authoritative server", "domain", from, "err", err)
			_ = answerErr("remote-server-not-found", "cancel")
		case valid:
			if serr := in.authenticate(from, "dialback"); serr != nil {
				in.kill(serr)
				return
			}
			_ = in.c.writeElement(NewElement(nsDialback, "result", "from", to, "to", from, "type", "valid"))
		default:
			f.m.refused.WithLabelValues("dialback-invalid").Inc()
			in.log.Info("dialback: key invalid", "domain", from)
			_ = in.c.writeElement(NewElement(nsDialback, "result", "from", to, "to", from, "type", "invalid"))
		}
	}()
	return nil
}

// verifyKey asks remote's authoritative server whether key is the one it
// made for our stream id (XEP-0220 §2.3), over a connection of our own,
// secured with STARTTLS, closed after the answer.
func (f *federation) verifyKey(ctx context.Context, k linkKey, id, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
	defer cancel()
	c, _, err := f.dialSecure(ctx, k)
	if err != nil {
		return false, err
	}
	defer c.close()
	defer c.fail(nil)
	v := NewElement(nsDialback, "verify", "from", k.local, "to", k.remote, "id", id).AppendText(key)
	if err := c.writeElement(v); err != nil {
		return false, err
	}
	for {
		el, err := c.next()
		if err != nil {
			return false, err
		}
		switch {
		case el.Name.Space == nsStreams && el.Name.Local == "error":
			return false, errors.New("stream error " + streamErrorOf(el))
		case el.Name.Space != nsDialback || el.Name.Local != "verify" || el.AttrValue("id") != id:
			continue
		}
		switch el.AttrValue("type") {
		case "valid":
			return true, nil
		case "invalid":
			return false, nil
		}
		return false, errors.New("verification refused: " + stanzaErrorCondition(el))
	}
}

// dialbackVerify answers a verification request (XEP-0220 §2.3.2): we
// are the authoritative server of 'to'. The key is valid if we made it
// for that stream — one we opened to 'from' and are authenticating now,
// on this node or, in a pool, on another (the peer found this node in
// DNS; Config.Remote asks the others). Requests for streams we never
// opened are invalid, whatever the key.
func (in *s2sIn) dialbackVerify(ctx context.Context, el *Element) error {
	f := in.f
	from, to, id, key := el.AttrValue("from"), el.AttrValue("to"), el.AttrValue("id"), strings.TrimSpace(el.Text())
	if from == "" || to == "" || id == "" {
		return &StreamError{Condition: "improper-addressing", Text: "db:verify needs from, to and id"}
	}
	want := dialbackKey(f.secretHash, from, to, id)
	valid := f.srv.hosts(to) && hmac.Equal([]byte(key), []byte(want)) && f.pendingAnywhere(ctx, id, linkKey{local: to, remote: from})
	typ := "invalid"
	if valid {
		typ = "valid"
	} else {
		f.m.refused.WithLabelValues("dialback-invalid").Inc()
		in.log.Info("dialback: a verification request for a stream we did not open, or a wrong key: invalid", "from", from, "to", to, "id", id)
	}
	return in.c.writeElement(NewElement(nsDialback, "verify", "from", to, "to", from, "id", id, "type", typ))
}

// dialbackPoolTimeout bounds asking the other nodes of a pool about a
// stream one of them opened.
const dialbackPoolTimeout = 5 * time.Second

// pendingAnywhere reports whether this node, or another node of the pool,
// opened stream id for k and waits for its key to be verified.
func (f *federation) pendingAnywhere(ctx context.Context, id string, k linkKey) bool {
	if f.isPending(id, k) {
		return true
	}
	if f.srv.cfg.Remote == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, dialbackPoolTimeout)
	defer cancel()
	if !f.srv.cfg.Remote.DialbackPending(ctx, id, k.local, k.remote) {
		return false
	}
	f.log.Info("dialback: a key for a stream another node opened: valid", "local", k.local, "remote", k.remote, "id", id)
	return true
}

// DialbackPending reports whether this node opened the server-to-server
// stream id from local to remote and waits for its dialback key to be
// verified: what another pool node asks when a peer's verification
// request reached it (Remote.DialbackPending).
func (s *Server) DialbackPending(id, local, remote string) bool {
	return s.fed != nil && s.fed.isPending(id, linkKey{local: local, remote: remote})
}

// stanza checks a stanza's addresses against the link and dispatches it:
// 'from' in a domain this link authenticated (else <invalid-from/>), 'to'
// at one of our domains (else <host-unknown/>), both present (else
// <improper-addressing/>, RFC 6120 §8.1.1.1, §8.1.2.1).
func (in *s2sIn) stanza(ctx context.Context, el *Element) error {
	f := in.f
	fromAttr, toAttr := el.AttrValue("from"), el.AttrValue("to")
	if fromAttr == "" || toAttr == "" {
		return &StreamError{Condition: "improper-addressing", Text: "a stanza between servers has 'from' and 'to'"}
	}
	if !in.authenticated() {
		return &StreamError{Condition: "not-authorized", Text: "authenticate the domain first"}
	}
	from, err := jid.Parse(fromAttr)
	if err != nil || !in.isAuthed(from.Domainpart()) {
		f.m.refused.WithLabelValues("invalid-from").Inc()
		return &StreamError{Condition: "invalid-from", Text: "'from' " + fromAttr + " is not in a domain this link authenticated"}
	}
	local := in.local
	if to, err := jid.Parse(toAttr); err == nil {
		if !f.srv.hosts(to.Domainpart()) {
			return &StreamError{Condition: "host-unknown", Text: to.Domainpart() + " is not served here"}
		}
		local = to.Domainpart()
	}
	if err := in.pace(ctx, from.Domainpart()); err != nil {
		return err
	}
	in.received.Add(1)
	f.m.stanzas.WithLabelValues("in").Inc()
	f.srv.dispatch(ctx, s2sOrigin{f: f, from: from, local: local}, el)
	return nil
}

// pace takes a token from the sending domain's bucket (StanzaRate,
// StanzaBurst, shared by its inbound links) and, when there is none, waits
// for it without reading the link, so that TCP slows the peer down as the
// client streams' rates do (limits.go).
func (in *s2sIn) pace(ctx context.Context, domain string) error { return in.f.pace(ctx, domain) }

// pace waits for a token of domain's bucket (StanzaRate, StanzaBurst),
// shared by every link its stanzas come in on.
func (f *federation) pace(ctx context.Context, domain string) error {
	now := time.Now()
	delay := f.rates.reserve(domain, 0, now).DelayFrom(now)
	if delay == 0 {
		return nil
	}
	f.m.limited.WithLabelValues("rate").Inc()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// s2sOrigin is the origin (mux.go) of a stanza from another server: its
// sender is the stanza's 'from', checked against the link; answers go
// over our own link to that domain, from the domain of ours the stanza
// was sent to. A remote room occupant's events take the same way
// (s2s_remote.go).
type s2sOrigin struct {
	f     *federation
	from  jid.JID
	local string
}

func (o s2sOrigin) fullJID() jid.JID     { return o.from }
func (o s2sOrigin) bareJID() string      { return o.from.Bare().String() }
func (o s2sOrigin) session() *session    { return nil }
func (o s2sOrigin) remoteDomain() string { return o.from.Domainpart() }

func (o s2sOrigin) send(data []byte) bool {
	return o.f.srv.sendRemoteBytes(o.local, o.from.Domainpart(), data, false) == nil
}

func (o s2sOrigin) sendBatch(batch [][]byte) {
	for _, b := range batch {
		o.f.srv.sendRemoteBytes(o.local, o.from.Domainpart(), b, true)
	}
}
