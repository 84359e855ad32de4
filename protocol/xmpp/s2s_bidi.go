package xmpp

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"mellium.im/xmpp/jid"
)

// XEP-0288 bidirectional server-to-server links.
//
// The receiving side, always on. An inbound link is offered <bidi xmlns='urn:xmpp:features:bidi'/> once it
// is secure and not yet authenticated (§2); a peer that answers
// <bidi xmlns='urn:xmpp:bidi'/> takes stanzas back over the same stream.
// Once the domain its stream header named has authenticated, a stanza from
// the domain the stream was opened to, for that domain, goes over this
// link instead of a link of ours: f.link makes the outbound link an
// s2sOut that writes into the inbound connection (runOver), with the same
// queue, bound and bounces as any outbound link, and no reader of its
// own. It closes when idle, or with the inbound link; the next stanza
// then takes a new link.
//
// The initiating side, with S2SConfig.Bidi: on a link of ours whose peer
// offers bidi and whose certificate verifies for its domain (the peer's
// identity must be proven to take its stanzas: dialback proves only ours
// to it), askBidi sends <bidi/> before authenticating, and the link's
// reader (watch) takes the peer's stanzas from its domain to ours
// (stanzaBack) as an inbound link would.

const (
	nsBidiFeature = "urn:xmpp:features:bidi" // XEP-0288 §2 stream feature
	nsBidi        = "urn:xmpp:bidi"          // XEP-0288 §2 request
)

// bidiFeature is the stream feature an inbound link is offered.
func bidiFeature() *Element { return NewElement(nsBidiFeature, "bidi") }

// requestBidi records the peer's <bidi/> (XEP-0288 §2), which counts only
// before it authenticates, for the stream's domains.
func (in *s2sIn) requestBidi() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.authed) == 0 && in.peer != "" {
		in.bidi = &linkKey{local: in.local, remote: in.peer}
		in.log.Debug("bidirectional link asked for (XEP-0288)", "local", in.local, "remote", in.peer)
	}
}

// carries reports whether the link is open, bidirectional and
// authenticated for the pair k: stanzas from k.local to k.remote may go
// over it.
func (in *s2sIn) carries(k linkKey) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.authed[k.remote]
	return ok && !in.ended && in.bidi != nil && *in.bidi == k
}

// bidiLinkLocked returns an inbound link that carries k, or nil. f.mu is
// held.
func (f *federation) bidiLinkLocked(k linkKey) *s2sIn {
	for in := range f.in {
		if in.carries(k) {
			return in
		}
	}
	return nil
}

// runOver serves l over the inbound link in until l is idle or stopped,
// or in ends.
func (l *s2sOut) runOver(ctx context.Context, in *s2sIn) {
	f := l.f
	f.m.links.WithLabelValues("out", "connecting").Dec()
	f.m.links.WithLabelValues("out", "authenticated").Inc()
	defer f.m.links.WithLabelValues("out", "authenticated").Dec()
	l.mu.Lock()
	l.ready, l.auth, l.since, l.c = true, authBidi, time.Now(), in.c
	l.mu.Unlock()
	f.log.Info("outbound link over a bidirectional inbound link (XEP-0288)", "local", l.key.local, "remote", l.key.remote)
	err := l.serve(ctx, in.c, nil, in.gone)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, errInboundEnded) {
		f.log.Info("outbound link over an inbound link ended", "local", l.key.local, "remote", l.key.remote, "err", err)
	}
	l.close(ctx, errRemoteServerTimeout("the link to "+l.key.remote+" closed"))
}

// authBidi is the Auth of an outbound link over a bidirectional inbound
// one: the peer authenticated there, and asked for our stanzas.
const authBidi = "bidi"

// errInboundEnded ends an outbound link whose inbound link ended.
var errInboundEnded = errors.New("the bidirectional inbound link ended")

// askBidi sends <bidi/> on a link of ours after TLS, before
// authentication (XEP-0288 §2), when S2SConfig.Bidi is set, the peer
// offers it, and the peer's certificate verifies for its domain. It
// reports whether it did.
func (l *s2sOut) askBidi(c *s2sConn, feats features) (bool, error) {
	f := l.f
	if !f.cfg.Bidi || !feats.bidi || c.tls == nil || !certVerifies(c.tls.PeerCertificates, f.cfg.Roots, l.key.remote) {
		return false, nil
	}
	if err := c.writeElement(NewElement(nsBidi, "bidi")); err != nil {
		return false, err
	}
	return true, nil
}

// stanzaBack takes a stanza the peer sent back over a bidirectional link
// of ours, as an inbound link takes one (s2sIn.stanza): 'from' in the
// peer's domain (else <invalid-from/>), 'to' in ours on this link (else
// <host-unknown/>), paced by the domain's bucket, then dispatched.
func (l *s2sOut) stanzaBack(ctx context.Context, el *Element) error {
	f := l.f
	if el.Name.Space != nsClient || (el.Name.Local != "iq" && el.Name.Local != "message" && el.Name.Local != "presence") {
		return &StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Space + " " + el.Name.Local}
	}
	from, err1 := jid.Parse(el.AttrValue("from"))
	to, err2 := jid.Parse(el.AttrValue("to"))
	switch {
	case err1 != nil || err2 != nil:
		return &StreamError{Condition: "improper-addressing", Text: "a stanza between servers has 'from' and 'to'"}
	case from.Domainpart() != l.key.remote:
		f.m.refused.WithLabelValues("invalid-from").Inc()
		return &StreamError{Condition: "invalid-from", Text: "'from' " + from.String() + " is not in " + l.key.remote}
	case to.Domainpart() != l.key.local:
		return &StreamError{Condition: "host-unknown", Text: "this link is for " + l.key.local}
	}
	if err := f.pace(ctx, from.Domainpart()); err != nil {
		return err
	}
	l.received.Add(1)
	f.m.stanzas.WithLabelValues("in").Inc()
	select {
	case l.heard <- struct{}{}:
	default:
	}
	f.srv.dispatch(ctx, s2sOrigin{f: f, from: from, local: l.key.local}, el)
	return nil
}
