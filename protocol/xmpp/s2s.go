package xmpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"mellium.im/xmpp/jid"
)

// Federation: server-to-server streams (RFC 6120 §13 with XEP-0220 Server
// Dialback, XEP-0185 keys, XEP-0178 SASL EXTERNAL and XEP-0344), so that
// users of other servers reach this server's users and rooms and ours
// reach theirs. Files:
//
//	s2s.go        the federation: configuration, policy, links by domain,
//	              routing a stanza to another domain, bounces, metrics
//	s2s_out.go    a link we open: DNS, STARTTLS, authentication, its queue
//	s2s_in.go     a link another server opens: negotiation, dialback
//	              answers, and its stanzas into the one mux (mux.go)
//	s2s_conn.go   the stream wire both share
//	s2s_auth.go   dialback keys and certificate checks
//	s2s_remote.go what arrives from other servers beyond routing: inbound
//	              presence and subscriptions, probes, remote room occupants
//
// A stanza from another server enters Server.dispatch with an s2s origin
// (s2sOrigin) whose sender is the stanza's checked 'from'; handlers answer
// through the origin, which sends over this server's own link to that
// domain (RFC 6120 streams are one-way).

// Defaults for S2SConfig fields left at their zero value.
const (
	DefaultS2SIdleTimeout    = 10 * time.Minute
	DefaultS2SConnectTimeout = 20 * time.Second
	DefaultS2SQueueLength    = 1024
	DefaultS2SMaxLinks       = 4
	DefaultS2SStanzaRate     = 500
	DefaultS2SStanzaBurst    = 2000
	defaultS2SPort           = 5269
)

// S2SConfig configures federation with other XMPP servers. A nil
// Config.S2S turns it off: stanzas to other domains bounce with
// remote-server-not-found.
type S2SConfig struct {
	// DialbackSecret keys Server Dialback (XEP-0185); every node of a
	// pool must have the same (parleyd keeps it in the database).
	// Required.
	DialbackSecret []byte
	// SecureAuth requires every peer to present a certificate that
	// verifies for its domain (RFC 6125 against Roots); dialback alone
	// is then refused. Off, dialback authenticates peers whose
	// certificate does not verify (self-signed), as Prosody's default.
	SecureAuth bool
	// Roots verify peer certificates; nil means the system's roots.
	Roots *x509.CertPool
	// Routes maps a remote domain to the host:port to connect to,
	// instead of looking it up in DNS (private deployments, tests).
	Routes map[string]string
	// Allow, when not empty, is the only domains (and their
	// sub-domains) this server federates with; Deny are domains it never
	// federates with, whatever Allow says.
	Allow, Deny []string
	// IdleTimeout closes a link, either way, that carried no stanza for
	// that long.
	IdleTimeout time.Duration
	// ConnectTimeout bounds setting up an outbound link: DNS, TCP, TLS
	// and authentication; stanzas waiting for it then bounce with
	// remote-server-timeout.
	ConnectTimeout time.Duration
	// QueueLength bounds the stanzas waiting to be sent to one remote
	// domain, over all our outbound links to it (while they are set up,
	// or behind a slow peer); beyond it stanzas bounce with
	// resource-constraint.
	QueueLength int
	// MaxLinksPerDomain bounds the inbound links one remote domain may
	// hold authenticated at once (on this node); one more is closed with
	// policy-violation when it authenticates.
	MaxLinksPerDomain int
	// StanzaRate and StanzaBurst are a token bucket per remote domain
	// (per second, and at once) shared by its inbound links: past it the
	// links are not read until tokens come back, so TCP slows the peer
	// down; nothing is dropped.
	StanzaRate  float64
	StanzaBurst int
	// Resolver looks up SRV and address records; nil is the system's.
	Resolver *net.Resolver
	// Bidi asks, on the links this server opens, peers that offer it
	// and whose certificate verifies for their domain to send their
	// stanzas for us back over the same link (XEP-0288, s2s_bidi.go).
	// Peers that ask for it on their links are served either way.
	Bidi bool
}

func (c *S2SConfig) applyDefaults() error {
	if len(c.DialbackSecret) < 16 {
		return errors.New("xmpp: config: S2S.DialbackSecret must be at least 16 bytes")
	}
	setDefault(&c.IdleTimeout, DefaultS2SIdleTimeout)
	setDefault(&c.ConnectTimeout, DefaultS2SConnectTimeout)
	setDefault(&c.QueueLength, DefaultS2SQueueLength)
	setDefault(&c.MaxLinksPerDomain, DefaultS2SMaxLinks)
	setDefault(&c.StanzaRate, DefaultS2SStanzaRate)
	setDefault(&c.StanzaBurst, DefaultS2SStanzaBurst)
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return nil
}

// linkKey names an outbound link: from one of our domains (the server's,
// or a service's such as conference.DOMAIN) to a remote domain. Each pair
// authenticates on its own (XEP-0220 §2: dialback proves one originating
// domain to one receiving domain), so each has its own link.
type linkKey struct{ local, remote string }

// federation is the server's side of server-to-server: every link, in and
// out.
type federation struct {
	srv        *Server
	cfg        S2SConfig
	log        *slog.Logger
	secretHash []byte
	tlsServer  *tls.Config // our certificate; asks for the peer's
	tlsDirect  *tls.Config // tlsServer, with ALPN xmpp-server (XEP-0368)
	m          *s2sMetrics

	rates *stanzaBuckets // inbound stanzas, by remote domain

	mu      sync.Mutex
	out     map[linkKey]*s2sOut
	in      map[*s2sIn]struct{}
	pending map[string]linkKey // our outbound streams' ids while their dialback is verified
	queued  map[string]int     // stanzas waiting for each remote domain, over its outbound links
	closing bool
	wg      sync.WaitGroup
}

func newFederation(s *Server, cfg S2SConfig) (*federation, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	for _, d := range append(slices.Clone(cfg.Allow), cfg.Deny...) {
		if j, err := jid.Parse(d); err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
			return nil, fmt.Errorf("xmpp: config: %q in the s2s allow or deny list is not a domain", d)
		}
	}
	for d, addr := range cfg.Routes {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("xmpp: config: s2s route for %s: %q is not host:port", d, addr)
		}
	}
	ts := s.cfg.TLS.Clone()
	ts.ClientAuth = tls.RequestClientCert // checked per domain (certVerifies), not by crypto/tls
	td := ts.Clone()
	td.NextProtos = []string{alpnS2S}
	return &federation{
		tlsDirect:  td,
		srv:        s,
		cfg:        cfg,
		log:        s.log.With("component", "s2s"),
		secretHash: dialbackSecretHash(cfg.DialbackSecret),
		tlsServer:  ts,
		m:          newS2SMetrics(s.cfg.Registerer),
		out:        make(map[linkKey]*s2sOut),
		in:         make(map[*s2sIn]struct{}),
		pending:    make(map[string]linkKey),
		queued:     make(map[string]int),
		rates:      newStanzaBuckets(cfg.StanzaRate, cfg.StanzaBurst),
	}, nil
}

// reserveQueue takes n places in remote's queue (QueueLength, over all
// our outbound links to it); force takes them past the bound (a batch).
func (f *federation) reserveQueue(remote string, n int, force bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !force && f.queued[remote]+n > f.cfg.QueueLength {
		return false
	}
	f.queued[remote] += n
	return true
}

// releaseQueue gives back n places in remote's queue: written or bounced.
func (f *federation) releaseQueue(remote string, n int) {
	if n == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queued[remote] <= n {
		delete(f.queued, remote)
	} else {
		f.queued[remote] -= n
	}
}

// inboundLinks counts the open inbound links that authenticated domain,
// other than except.
func (f *federation) inboundLinks(domain string, except *s2sIn) int {
	f.mu.Lock()
	ins := slices.Collect(maps.Keys(f.in))
	f.mu.Unlock()
	n := 0
	for _, in := range ins {
		if in != except && in.holds(domain) {
			n++
		}
	}
	return n
}

// permitted applies --s2s-allow and --s2s-deny to a remote domain: a
// listed domain covers its sub-domains (conference.example.org is
// example.org's).
func (f *federation) permitted(domain string) bool {
	covered := func(list []string) bool {
		return slices.ContainsFunc(list, func(d string) bool { return domain == d || strings.HasSuffix(domain, "."+d) })
	}
	return !covered(f.cfg.Deny) && (len(f.cfg.Allow) == 0 || covered(f.cfg.Allow))
}

// hosts reports whether domain is one this server serves: its own, the
// MUC service's or the upload service's.
func (s *Server) hosts(domain string) bool {
	return domain == s.cfg.Domain || (s.muc != nil && domain == s.muc.domain) || (s.cfg.Files != nil && domain == s.uploadDomain())
}

// isRemote reports whether j is at another server.
func (s *Server) isRemote(j jid.JID) bool { return !s.hosts(j.Domainpart()) }

// sendRemote routes a stanza to another domain: from the domain of its
// 'from' (one of ours) over the link to the domain of its 'to'. The error
// is what to bounce at once (federation off, a domain the policy refuses,
// a full queue); failures later bounce from the link.
func (s *Server) sendRemote(el *Element) *StanzaError {
	from, err1 := jid.Parse(el.AttrValue("from"))
	to, err2 := jid.Parse(el.AttrValue("to"))
	if err1 != nil || err2 != nil || !s.hosts(from.Domainpart()) {
		return errJIDMalformed("")
	}
	return s.sendRemoteBytes(from.Domainpart(), to.Domainpart(), el.Bytes(), false)
}

// sendRemoteBytes queues a serialised stanza from local (one of our
// domains) to remote. batch is a server-made burst (a join snapshot, a MAM
// page) queued past the bound.
func (s *Server) sendRemoteBytes(local, remote string, data []byte, batch bool) *StanzaError {
	f := s.fed
	if f == nil {
		return errRemoteServerNotFound("this server does not federate with other servers")
	}
	if !f.permitted(remote) {
		f.m.bounced.WithLabelValues("not-allowed").Inc()
		return errNotAllowed("this server does not federate with " + remote)
	}
	for range 2 {
		l, err := f.link(local, remote)
		if err != nil {
			return errRemoteServerNotFound(err.Error())
		}
		switch l.enqueue(data, batch) {
		case queued:
			return nil
		case queueFull:
			f.m.bounced.WithLabelValues("resource-constraint").Inc()
			f.m.limited.WithLabelValues("queue").Inc()
			return errResourceConstraint("too many stanzas waiting for " + remote)
		}
		// The link just closed (idle, or the peer went): forget it and
		// make another.
		f.forget(l)
	}
	return errRemoteServerTimeout("the link to " + remote + " keeps closing")
}

// link returns the outbound link from local to remote, starting one if
// there is none.
func (f *federation) link(local, remote string) (*s2sOut, error) {
	k := linkKey{local, remote}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil, errors.New("this server is shutting down")
	}
	if l := f.out[k]; l != nil {
		return l, nil
	}
	l := newS2SOut(f, k)
	f.out[k] = l
	f.m.links.WithLabelValues("out", "connecting").Inc()
	f.wg.Add(1)
	in := f.bidiLinkLocked(k) // the peer's own link, if it asked to take ours (XEP-0288)
	go func() {
		defer f.wg.Done()
		if in != nil {
			l.runOver(f.srv.ctx, in)
			return
		}
		l.run(f.srv.ctx)
	}()
	return l, nil
}

// forget removes a closed outbound link from the table (if it is still
// the one there).
func (f *federation) forget(l *s2sOut) {
	f.mu.Lock()
	if f.out[l.key] == l {
		delete(f.out, l.key)
	}
	f.mu.Unlock()
}

// errRemoteServerTimeout is RFC 6120 §8.3.3.16.
func errRemoteServerTimeout(text string) *StanzaError {
	return &StanzaError{Type: "wait", Condition: "remote-server-timeout", Text: text}
}

// bounce answers stanzas that could not be delivered to another domain
// with serr (RFC 6120 §8.3.1), to their local senders: each error enters
// the mux as if the remote domain had sent it, so it takes the way any
// error from there takes (a session, a room that then drops the occupant
// it could not reach). Errors and IQ results are not answered.
func (f *federation) bounce(ctx context.Context, remote string, stanzas [][]byte, serr *StanzaError) {
	for _, data := range stanzas {
		el := parseStored(data)
		if el == nil {
			continue
		}
		switch el.AttrValue("type") {
		case "error", "result":
			continue
		}
		f.m.bounced.WithLabelValues(serr.Condition).Inc()
		reply := errorReply(el, serr, "")
		from, err := jid.Parse(reply.AttrValue("from"))
		if err != nil || from.Domainpart() != remote {
			continue
		}
		to, err := jid.Parse(reply.AttrValue("to"))
		if err != nil || !f.srv.hosts(to.Domainpart()) {
			continue
		}
		if f.srv.muc != nil && to.Domainpart() == f.srv.muc.domain {
			// A room could not reach an occupant of that server: the
			// occupant is gone (XEP-0045 §7.2: an error from an
			// occupant takes them out), from every room.
			f.srv.muc.engine.LeaveAll(ctx, from.String())
			continue
		}
		f.srv.dispatch(ctx, s2sOrigin{f: f, from: from, local: to.Domainpart()}, reply)
	}
}

// target is one place a remote domain's server listens: STARTTLS on
// connecting, or direct TLS (XEP-0368).
type target struct {
	addr      string
	directTLS bool
}

// resolve lists where remote's server listens, in the order to try them
// (RFC 6120 §3.2, XEP-0368 §3): a configured route; else the
// _xmpp-server._tcp (STARTTLS) and _xmpps-server._tcp (direct TLS) SRV
// records together, by priority (direct TLS first on a tie) and weight;
// else the domain's own address on 5269 (§3.2.2, when there are no SRV
// records). A SRV target "." means the domain offers no such service
// (§3.2.1).
func (f *federation) resolve(ctx context.Context, remote string) ([]target, error) {
	if addr, ok := f.cfg.Routes[remote]; ok {
		return []target{{addr: addr}}, nil
	}
	type rec struct {
		srv    *net.SRV
		direct bool
	}
	var recs []rec
	refused := 0
	for _, direct := range []bool{true, false} {
		service := "xmpp-server"
		if direct {
			service = "xmpps-server"
		}
		_, srvs, err := f.cfg.Resolver.LookupSRV(ctx, service, "tcp", remote)
		switch {
		case err == nil && len(srvs) == 1 && (srvs[0].Target == "." || srvs[0].Target == ""):
			refused++
		case err == nil:
			for _, r := range srvs {
				recs = append(recs, rec{r, direct})
			}
		case ctx.Err() != nil:
			return nil, fmt.Errorf("looking up _%s._tcp.%s: %w", service, remote, ctx.Err())
		}
	}
	if len(recs) == 0 && refused > 0 {
		return nil, fmt.Errorf("%s offers no XMPP server-to-server service (SRV target \".\")", remote)
	}
	if len(recs) > 0 {
		// Each lookup is in priority and weight order already; merging
		// by priority alone keeps it, direct TLS first on a tie.
		slices.SortStableFunc(recs, func(a, b rec) int { return int(a.srv.Priority) - int(b.srv.Priority) })
		out := make([]target, len(recs))
		for i, r := range recs {
			out[i] = target{addr: net.JoinHostPort(strings.TrimSuffix(r.srv.Target, "."), strconv.Itoa(int(r.srv.Port))), directTLS: r.direct}
		}
		return out, nil
	}
	// No SRV record, or the lookups failed: the domain's own address
	// records (§3.2.1 step 5), which the dialer looks up.
	return []target{{addr: net.JoinHostPort(remote, strconv.Itoa(defaultS2SPort))}}, nil
}

// rememberPending notes the id of an outbound stream whose dialback key
// we sent, so that a verification request for it (db:verify) is answered
// valid, and only then (the issue: "verification requests for domains we
// never contacted are answered invalid").
func (f *federation) rememberPending(id string, k linkKey) {
	f.mu.Lock()
	f.pending[id] = k
	f.mu.Unlock()
}

func (f *federation) forgetPending(id string) {
	f.mu.Lock()
	delete(f.pending, id)
	f.mu.Unlock()
}

func (f *federation) isPending(id string, k linkKey) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	got, ok := f.pending[id]
	return ok && got == k
}

// shutdown closes every link: outbound ones after writing what is queued,
// inbound ones with system-shutdown; it waits for them until ctx ends.
func (f *federation) shutdown(ctx context.Context) {
	f.mu.Lock()
	f.closing = true
	f.mu.Unlock()
	outs, ins := f.links()
	for _, l := range outs {
		l.stop()
	}
	for _, c := range ins {
		c.kill(&StreamError{Condition: "system-shutdown"})
	}
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range ins {
			_ = c.c.raw.Close()
		}
		for _, l := range outs {
			l.cut()
		}
		<-done
	}
}

// links returns every link now, outbound and inbound.
func (f *federation) links() ([]*s2sOut, []*s2sIn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Values(f.out)), slices.Collect(maps.Keys(f.in))
}

// S2SLink describes one server-to-server link, for status and tests.
type S2SLink struct {
	Direction string // "in" or "out"
	Local     string // our domain on the link
	Remote    string // the peer's authenticated domain(s), comma-separated
	State     string // "connecting" or "authenticated"
	Auth      string // "dialback", "certificate" (SASL EXTERNAL or XEP-0344), "bidi" (over the peer's inbound link, XEP-0288), or ""
	Queued    int    // stanzas waiting (outbound)
	Since     time.Time
	// In and Out count the stanzas the link carried: received (an
	// inbound link) or written (an outbound one).
	In, Out int64
	// DirectTLS is set for a link that started with TLS (XEP-0368)
	// rather than STARTTLS.
	DirectTLS bool
}

// S2SLinks lists the server's links, outbound first.
func (s *Server) S2SLinks() []S2SLink {
	if s.fed == nil {
		return nil
	}
	outs, ins := s.fed.links()
	var list []S2SLink
	for _, l := range outs {
		list = append(list, l.describe())
	}
	for _, c := range ins {
		list = append(list, c.describe())
	}
	return list
}

// s2sMetrics are federation's instruments, prefixed parley_xmpp_s2s_.
type s2sMetrics struct {
	links   *prometheus.GaugeVec   // direction, state
	stanzas *prometheus.CounterVec // direction
	auth    *prometheus.CounterVec // direction, method
	bounced *prometheus.CounterVec // condition
	refused *prometheus.CounterVec // reason
	limited *prometheus.CounterVec // limit
}

func newS2SMetrics(reg prometheus.Registerer) *s2sMetrics {
	m := &s2sMetrics{
		links: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parley_xmpp_s2s_links", Help: "Server-to-server links now, by direction (in, out) and state (connecting, authenticated)."},
			[]string{"direction", "state"}),
		stanzas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_s2s_stanzas_total", Help: "Stanzas received from (in) and written to (out) other servers."},
			[]string{"direction"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_s2s_authentications_total", Help: "Server-to-server authentications, by direction and method (dialback, certificate)."},
			[]string{"direction", "method"}),
		bounced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_s2s_bounced_total", Help: "Stanzas to other servers bounced to their senders, by stanza error condition."},
			[]string{"condition"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_s2s_refused_total", Help: "Server-to-server streams ended or authentications refused, by reason (policy, invalid-from, dialback-invalid, certificate, stream-error)."},
			[]string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_s2s_limited_total", Help: "Per-remote-domain limits applied: links closed past --s2s-max-links (links), stanzas bounced past --s2s-queue (queue), inbound stanzas delayed by --s2s-stanza-rate (rate)."},
			[]string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.links, m.stanzas, m.auth, m.bounced, m.refused, m.limited)
	}
	return m
}
