package xmpp

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// XEP-0288 bidirectional server-to-server links, the receiving side. An
// inbound link is offered <bidi xmlns='urn:xmpp:features:bidi'/> once it
// is secure and not yet authenticated (§2); a peer that answers
// <bidi xmlns='urn:xmpp:bidi'/> takes stanzas back over the same stream.
// Once the domain its stream header named has authenticated, a stanza from
// the domain the stream was opened to, for that domain, goes over this
// link instead of a link of ours: f.link makes the outbound link an
// s2sOut that writes into the inbound connection (runOver), with the same
// queue, bound and bounces as any outbound link, and no reader of its
// own. It closes when idle, or with the inbound link; the next stanza
// then takes a new link. Parley does not ask for bidirectional links on
// the links it opens: those carry one direction, as RFC 6120 has it.

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
