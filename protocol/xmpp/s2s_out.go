package xmpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/internal/tlspolicy"
)

// An outbound link: the stream this server opens to another to send it
// stanzas from one of our domains (RFC 6120 §13, the "initiating
// server"). One goroutine owns it: it looks the peer up, connects,
// requires STARTTLS, authenticates with SASL EXTERNAL when offered and
// Server Dialback otherwise, then writes the queue until the link is idle
// for S2SConfig.IdleTimeout. Stanzas queue (bounded) from the moment the
// link is asked for; if it cannot be set up they bounce to their senders.

// s2sOut is one outbound link.
type s2sOut struct {
	f    *federation
	key  linkKey
	wake chan struct{} // something was queued, or stop was asked
	quit chan struct{} // closed by stop: flush and close

	written  atomic.Int64  // stanzas written to the peer
	received atomic.Int64  // stanzas the peer sent back (XEP-0288)
	heard    chan struct{} // the peer sent a stanza back: not idle

	mu       sync.Mutex
	queue    [][]byte
	closed   bool // no more stanzas are taken
	ready    bool
	bidi     bool // the peer sends its stanzas for us over this link (XEP-0288)
	auth     string
	since    time.Time
	stopOnce sync.Once
	c        *s2sConn // once connected, for cut
}

func newS2SOut(f *federation, k linkKey) *s2sOut {
	return &s2sOut{f: f, key: k, wake: make(chan struct{}, 1), quit: make(chan struct{}), heard: make(chan struct{}, 1), since: time.Now()}
}

type enqueueResult int

const (
	queued enqueueResult = iota
	queueFull
	linkClosed
)

// enqueue adds a stanza to the link's queue. It never blocks (a room's
// fan-out calls it under the room's lock); batch goes past the bound.
func (l *s2sOut) enqueue(data []byte, batch bool) enqueueResult {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return linkClosed
	case !l.f.reserveQueue(l.key.remote, 1, batch):
		// QueueLength is per remote domain, over every link to it.
		l.mu.Unlock()
		return queueFull
	}
	l.queue = append(l.queue, data)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return queued
}

// stop asks the link to write what is queued and close.
func (l *s2sOut) stop() { l.stopOnce.Do(func() { close(l.quit) }) }

// cut closes the link's socket at once (shutdown past its deadline).
func (l *s2sOut) cut() {
	l.mu.Lock()
	c := l.c
	l.mu.Unlock()
	if c != nil {
		_ = c.raw.Close()
	}
}

func (l *s2sOut) describe() S2SLink {
	l.mu.Lock()
	defer l.mu.Unlock()
	state := "connecting"
	if l.ready {
		state = "authenticated"
	}
	return S2SLink{Direction: "out", Local: l.key.local, Remote: l.key.remote, State: state, Auth: l.auth, Queued: len(l.queue), Since: l.since,
		Out: l.written.Load(), In: l.received.Load(), DirectTLS: l.c != nil && l.c.directTLS}
}

// run sets the link up and serves it until it closes.
func (l *s2sOut) run(ctx context.Context) {
	f := l.f
	log := f.log.With("direction", "out", "local", l.key.local, "remote", l.key.remote)
	c, auth, err := l.connect(ctx)
	f.m.links.WithLabelValues("out", "connecting").Dec()
	if err != nil {
		log.Info("outbound link failed", "err", err)
		serr := errRemoteServerNotFound(err.Error())
		if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			serr = errRemoteServerTimeout(err.Error())
		}
		l.close(ctx, serr)
		return
	}
	f.m.links.WithLabelValues("out", "authenticated").Inc()
	defer f.m.links.WithLabelValues("out", "authenticated").Dec()
	f.m.auth.WithLabelValues("out", auth).Inc()
	l.mu.Lock()
	l.ready, l.auth, l.since, l.c = true, auth, time.Now(), c
	l.mu.Unlock()
	log.Info("outbound link up", "auth", auth, "peer", c.raw.RemoteAddr().String())
	err = l.serve(ctx, c, l.watch(ctx, c), nil)
	_ = c.raw.SetReadDeadline(time.Now()) // ends the reader
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		log.Info("outbound link ended", "err", err)
	}
	var serr *StreamError
	errors.As(err, &serr) // a stanza the peer sent back broke the rules (s2s_bidi.go)
	c.fail(serr)
	c.close()
	l.close(ctx, errRemoteServerTimeout("the link to "+l.key.remote+" closed"))
}

// close takes no more stanzas and bounces what is still queued with serr.
func (l *s2sOut) close(ctx context.Context, serr *StanzaError) {
	l.mu.Lock()
	l.closed = true
	rest := l.queue
	l.queue = nil
	l.mu.Unlock()
	l.f.releaseQueue(l.key.remote, len(rest))
	l.f.forget(l)
	if len(rest) > 0 {
		l.f.bounce(ctx, l.key.remote, rest, serr)
	}
}

// connect finds the peer, opens the stream, secures it and authenticates,
// all within S2SConfig.ConnectTimeout. It returns the authentication
// method used.
func (l *s2sOut) connect(ctx context.Context) (*s2sConn, string, error) {
	f := l.f
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
	defer cancel()
	tryExternal := true
	for {
		c, feats, err := f.dialSecure(ctx, l.key)
		if err != nil {
			return nil, "", err
		}
		bidi, err := l.askBidi(c, feats) // XEP-0288 (s2s_bidi.go)
		if err != nil {
			c.fail(nil)
			c.close()
			return nil, "", err
		}
		l.mu.Lock()
		l.c, l.bidi = c, bidi
		l.mu.Unlock()
		method, err := l.authenticate(ctx, c, feats, tryExternal)
		if errors.Is(err, errExternalRefused) && feats.dialback {
			// Some servers (ejabberd 23) offer EXTERNAL before looking
			// at the certificate and, once it failed, leave dialback on
			// that stream unanswered: dialback on a new connection.
			c.fail(nil)
			c.close()
			tryExternal = false
			continue
		}
		if err != nil {
			c.fail(nil)
			c.close()
			return nil, "", err
		}
		_ = c.raw.SetDeadline(time.Time{})
		return c, method, nil
	}
}

// errExternalRefused is SASL EXTERNAL answered with <failure/>.
var errExternalRefused = errors.New("SASL EXTERNAL refused")

// dialSecure connects to remote, opens a stream from local and secures it:
// with direct TLS where the SRV records offer it (XEP-0368), else with
// STARTTLS (required: RFC 6120 §5.3.1 lets us refuse a peer without it).
// It returns the stream's features after TLS; the connection's deadline
// is ctx's.
func (f *federation) dialSecure(ctx context.Context, k linkKey) (*s2sConn, features, error) {
	targets, err := f.resolve(ctx, k.remote)
	if err != nil {
		return nil, features{}, err
	}
	var raw net.Conn
	var to target
	d := net.Dialer{Resolver: f.cfg.Resolver}
	for _, t := range targets {
		raw, err = d.DialContext(ctx, "tcp", t.addr)
		if err == nil {
			to = t
			break
		}
	}
	if raw == nil {
		return nil, features{}, fmt.Errorf("connecting to %s: %w", k.remote, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	c := newS2SConn(raw, f.srv.limit().MaxStanzaSize, f.srv.cfg.WriteTimeout)
	cfg := tlspolicy.Apply(&tls.Config{
		ServerName:           k.remote,
		GetClientCertificate: f.clientCertificate(k.local),
		// The certificate is checked for the domain by certVerifies: it
		// decides between EXTERNAL or dialback, not whether TLS is up
		// (RFC 6120 §13.7.2.1).
		InsecureSkipVerify: true,
	})
	var feats features
	if to.directTLS {
		cfg.NextProtos = []string{alpnS2S}
		c.directTLS = true
		err = c.startTLS(ctx, cfg, false)
	} else {
		err = f.startTLS(ctx, c, k, cfg)
	}
	if err == nil && f.cfg.SecureAuth && !certVerifies(c.tls.PeerCertificates, f.cfg.Roots, k.remote) {
		f.m.refused.WithLabelValues("certificate").Inc()
		err = fmt.Errorf("the certificate of %s does not verify and --s2s-secure-auth requires it", k.remote)
	}
	if err == nil {
		feats, err = f.openStream(c, k)
	}
	if err != nil {
		c.fail(nil)
		c.close()
		return nil, features{}, err
	}
	return c, feats, nil
}

// startTLS opens a stream on c and upgrades it with STARTTLS.
func (f *federation) startTLS(ctx context.Context, c *s2sConn, k linkKey, cfg *tls.Config) error {
	feats, err := f.openStream(c, k)
	if err == nil && !feats.starttls {
		err = fmt.Errorf("%s does not offer STARTTLS; every link must be encrypted", k.remote)
	}
	if err == nil {
		err = c.writeElement(NewElement(nsTLS, "starttls"))
	}
	if err == nil {
		var el *Element
		if el, err = c.next(); err == nil && (el.Name.Space != nsTLS || el.Name.Local != "proceed") {
			err = fmt.Errorf("%s answered STARTTLS with {%s}%s", k.remote, el.Name.Space, el.Name.Local)
		}
	}
	if err != nil {
		return err
	}
	return c.startTLS(ctx, cfg, false)
}

// clientCertificate gives the peer our certificate for local (for SASL
// EXTERNAL and XEP-0344): the server's own, as its TLS configuration holds
// it now (it may be replaced at run time).
func (f *federation) clientCertificate(local string) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cfg := f.srv.cfg.TLS
		if cfg.GetCertificate != nil {
			return cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: local})
		}
		if len(cfg.Certificates) > 0 {
			return &cfg.Certificates[0], nil
		}
		return &tls.Certificate{}, nil // none: dialback only
	}
}

// openStream sends our header, reads the peer's header and features, and
// returns the features with the stream id in c's last header.
func (f *federation) openStream(c *s2sConn, k linkKey) (features, error) {
	if err := c.sendHeader(k.local, k.remote, ""); err != nil {
		return features{}, err
	}
	h, err := c.readHeader()
	if err != nil {
		return features{}, err
	}
	if serr := h.check(); serr != nil {
		return features{}, serr
	}
	el, err := c.next()
	if err != nil {
		return features{}, err
	}
	if el.Name.Space == nsStreams && el.Name.Local == "error" {
		return features{}, fmt.Errorf("%s: stream error %s", k.remote, streamErrorOf(el))
	}
	feats, err := parseFeatures(el)
	if err == nil && !feats.dialback && h.dialback {
		feats.dialback = true // XEP-0220 §2.1.1: the db: namespace declared
	}
	c.streamID = h.id
	return feats, err
}

// authenticate proves our domain to the peer: SASL EXTERNAL with our
// certificate when the peer offers it (XEP-0178: it does when our
// certificate verified for it) and tryExternal, else Server Dialback. A
// refused EXTERNAL is errExternalRefused: the caller tries dialback on a
// new connection.
func (l *s2sOut) authenticate(ctx context.Context, c *s2sConn, feats features, tryExternal bool) (string, error) {
	if feats.external && tryExternal {
		ok, err := l.external(c)
		switch {
		case err != nil:
			return "", err
		case ok:
			return "certificate", nil
		}
		// Refused: dialback may still do (XEP-0178 §2 leaves it open),
		// on a new stream.
		return "", errExternalRefused
	}
	if !feats.dialback {
		return "", fmt.Errorf("%s offers neither SASL EXTERNAL for our certificate nor dialback", l.key.remote)
	}
	return "dialback", l.dialback(c)
}

// external runs SASL EXTERNAL (XEP-0178 §3) and restarts the stream on
// success.
func (l *s2sOut) external(c *s2sConn) (bool, error) {
	auth := NewElement(nsSASL, "auth", "mechanism", "EXTERNAL").AppendText(base64.StdEncoding.EncodeToString([]byte(l.key.local)))
	if err := c.writeElement(auth); err != nil {
		return false, err
	}
	el, err := c.next()
	if err != nil {
		return false, err
	}
	if el.Name.Space != nsSASL || el.Name.Local != "success" {
		return false, nil
	}
	// RFC 6120 §6.4.6: the stream restarts; the features after it
	// need nothing more of us.
	_, err = l.f.openStream(c, l.key)
	return err == nil, err
}

// dialback sends our key (XEP-0220 §2.1.1) and waits for the peer's
// verdict (§2.4), which it gives once our authoritative server, this one,
// confirmed the key on a connection of its own (s2s_in.go answers it).
func (l *s2sOut) dialback(c *s2sConn) error {
	if c.streamID == "" {
		return fmt.Errorf("%s gave the stream no id: dialback needs one", l.key.remote)
	}
	key := dialbackKey(l.f.secretHash, l.key.remote, l.key.local, c.streamID)
	l.f.rememberPending(c.streamID, l.key)
	defer l.f.forgetPending(c.streamID)
	res := NewElement(nsDialback, "result", "from", l.key.local, "to", l.key.remote).AppendText(key)
	if err := c.writeElement(res); err != nil {
		return err
	}
	for {
		el, err := c.next()
		if err != nil {
			return err
		}
		switch {
		case el.Name.Space == nsStreams && el.Name.Local == "error":
			return fmt.Errorf("%s: stream error %s", l.key.remote, streamErrorOf(el))
		case el.Name.Space != nsDialback || el.Name.Local != "result":
			continue
		}
		switch el.AttrValue("type") {
		case "valid":
			return nil
		case "invalid":
			return fmt.Errorf("%s found our dialback key invalid", l.key.remote)
		}
		return fmt.Errorf("%s refused dialback: %s", l.key.remote, stanzaErrorCondition(el))
	}
}

// stanzaErrorCondition reads the defined condition of an element's
// <error/> child.
func stanzaErrorCondition(el *Element) string {
	if e := el.Child(nsClient, "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Name.Space == nsStanzas && c.Name.Local != "text" {
				return c.Name.Local
			}
		}
	}
	if e := el.Child(nsDialback, "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Name.Space == nsStanzas {
				return c.Name.Local
			}
		}
	}
	return "undefined-condition"
}

// watch starts a reader goroutine that watches the peer's side of an
// outbound link (stream errors, its </stream:stream>; RFC 6120 streams
// carry nothing else back, but a bidirectional one its stanzas for us,
// s2s_bidi.go); it reports how that side ended and ends with the
// connection (or its read deadline).
func (l *s2sOut) watch(ctx context.Context, c *s2sConn) <-chan error {
	readErr := make(chan error, 1)
	l.mu.Lock()
	bidi := l.bidi
	l.mu.Unlock()
	go func() {
		for {
			el, err := c.next()
			if err != nil {
				readErr <- err
				return
			}
			if el.Name.Space == nsStreams && el.Name.Local == "error" {
				readErr <- fmt.Errorf("stream error %s from %s", streamErrorOf(el), l.key.remote)
				return
			}
			if bidi {
				if err := l.stanzaBack(ctx, el); err != nil {
					readErr <- err
					return
				}
			}
		}
	}()
	return readErr
}

// serve writes the queue to the peer until the link is idle, stopped, or
// the peer's side ends: readErr reports it for a link of ours (watch),
// gone for one over the peer's inbound link (s2s_bidi.go).
func (l *s2sOut) serve(ctx context.Context, c *s2sConn, readErr <-chan error, gone <-chan struct{}) error {
	bw := bufio.NewWriterSize(c.rw, 4096)
	idle := time.NewTimer(l.f.cfg.IdleTimeout)
	defer idle.Stop()
	stopping := false
	for {
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		if len(batch) == 0 && stopping {
			l.closed = true
		}
		l.mu.Unlock()
		if len(batch) > 0 {
			if err := l.write(c, bw, batch); err != nil {
				l.requeue(batch)
				return err
			}
			idle.Reset(l.f.cfg.IdleTimeout)
			continue
		}
		if stopping {
			return nil
		}
		select {
		case <-l.wake:
		case <-l.quit:
			stopping = true
		case <-ctx.Done():
			stopping = true
		case err := <-readErr:
			return err
		case <-gone:
			return errInboundEnded
		case <-l.heard:
			idle.Reset(l.f.cfg.IdleTimeout) // the peer's stanzas keep a bidirectional link up
		case <-idle.C:
			l.mu.Lock()
			if len(l.queue) == 0 {
				l.closed = true // checked under the lock: nothing slips in
			}
			l.mu.Unlock()
			stopping = true
		}
	}
}

// write writes one batch through bw and flushes it.
func (l *s2sOut) write(c *s2sConn, bw *bufio.Writer, batch [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.rw.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	for _, b := range batch {
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	l.f.releaseQueue(l.key.remote, len(batch))
	l.written.Add(int64(len(batch)))
	l.f.m.stanzas.WithLabelValues("out").Add(float64(len(batch)))
	return nil
}

// requeue puts a batch that could not be written back in front of the
// queue, to bounce with the rest when the link closes.
func (l *s2sOut) requeue(batch [][]byte) {
	l.mu.Lock()
	l.queue = append(batch, l.queue...)
	l.mu.Unlock()
}
