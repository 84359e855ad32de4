package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/internal/tlspolicy"
	"github.com/parleychat/parley/pep"
	"github.com/parleychat/parley/roster"
)

const tlsVersion13 = tls.VersionTLS13

// Server is the XMPP client-to-server front door (RFC 6120, RFC 6121): it
// accepts client connections, negotiates streams, and routes stanzas
// between local sessions and the handlers registered for IQ payloads.
type Server struct {
	// liveSessions counts bound sessions, for pool load reports.
	liveSessions atomic.Int64
	cfg          Config
	log          *slog.Logger
	metrics      *metrics
	limits       *ipLimits
	web          *webLimits
	bosh         *boshSessions
	router       *router
	mux          *mux
	certHash     []byte // tls-server-end-point binding data, or nil
	// tlsConf is the configuration of client handshakes and
	// servedCerts the certificate each handshake under way was served
	// (conn.go clientTLSConfig).
	tlsOnce     sync.Once
	tlsConf     *tls.Config
	servedCerts sync.Map // net.Conn -> []byte
	live        atomic.Pointer[LiveLimits]
	admins      atomic.Pointer[[]string] // Config.Admins, then SetAdmins
	muc         *mucService              // nil when no room engine is configured
	fed         *federation              // nil when federation is off (Config.S2S)
	// rosters applies roster sets and subscription stanzas, one
	// transaction each (package roster); this package only speaks them.
	rosters *roster.Rosters
	// pep applies the rules of personal eventing (package pep); caps
	// is the entity capabilities cache that filters its notifications.
	pep  *pep.Service
	caps *capsCache
	// iqs are the IQs the server sent to sessions, awaiting answers.
	iqs serverIQs
	// caps0 is the server's own capabilities, for stream features
	// (stream_caps.go).
	caps0 serverCaps
	// features are the stream features and stream-level elements
	// registered by feature files (stream_features.go).
	features streamFeatures
	// sm holds the resumable sessions (XEP-0198, sm.go).
	sm smRegistry
	// pushes is the state of the push registrations in use (XEP-0357,
	// push.go).
	pushes pushes
	// adminSessions are the service administration commands waiting
	// for their form (admin_commands.go).
	adminSessions commandSessions
	// presenceHooks see a session's broadcast presence before it goes
	// out (caps.go, vcard.go); they may add to it.
	presenceHooks []presenceHook
	// privateHooks and pepHooks keep other forms of the same data in
	// step with a private XML key or a PEP node (bookmarks.go, vcard.go).
	privateHooks map[string]privateHook
	pepHooks     map[string]pepHook
	// offline serialises, per user, reading and deleting their offline
	// messages: an XMPP login and a SIP REGISTER must not both take them
	// (interworking.go).
	offline offlineLocks

	// userRates and ipRates are the stanza rates shared by an account's
	// sessions and by an address's (limits.go).
	userRates *stanzaBuckets
	ipRates   *stanzaBuckets

	// tickets are the TLS session ticket keys (tickets.go).
	tickets ticketKeys

	ctx    context.Context // ends at Shutdown
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// NewServer checks cfg and returns a server ready to serve listeners.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	d, err := jid.Parse(cfg.Domain)
	if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("xmpp: config: invalid domain %q", cfg.Domain)
	}
	cfg.Domain = d.Domainpart()
	// Whatever the caller gave, the listeners follow the one TLS policy.
	cfg.TLS = tlspolicy.Apply(cfg.TLS.Clone())
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "xmpp"),
		metrics:      newMetrics(cfg.Registerer),
		limits:       newIPLimits(cfg.MaxUnauthPerIP),
		web:          newWebLimits(cfg.MaxWebSessionsPerIP, cfg.Registerer),
		bosh:         newBOSHSessions(),
		userRates:    newStanzaBuckets(cfg.UserStanzaRate, cfg.UserStanzaBurst),
		ipRates:      newStanzaBuckets(cfg.IPStanzaRate, cfg.IPStanzaBurst),
		router:       newRouter(),
		mux:          newMux(),
		rosters:      roster.NewLimited(cfg.Store, roster.Limits{MaxItems: cfg.MaxRosterItems, MaxPendingIn: cfg.MaxPendingRequests}),
		pep:          pep.New(cfg.Store, cfg.Domain),
		caps:         newCapsCache(),
		privateHooks: make(map[string]privateHook),
		pepHooks:     make(map[string]pepHook),
		ctx:          ctx,
		cancel:       cancel,
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*conn]struct{}),
	}
	s.metrics.setLimits(&cfg)
	s.SetAdmins(cfg.Admins)
	if err := s.SetLiveLimits(cfg.liveLimits()); err != nil {
		cancel()
		return nil, err
	}
	if len(cfg.TLS.Certificates) > 0 && len(cfg.TLS.Certificates[0].Certificate) > 0 {
		s.certHash = serverEndPointHash(cfg.TLS.Certificates[0].Certificate[0])
	}
	if cfg.Rooms != nil {
		s.muc = &mucService{srv: s, engine: cfg.Rooms, domain: defaultMUCHost + "." + cfg.Domain}
	}
	if cfg.S2S != nil {
		if s.fed, err = newFederation(s, *cfg.S2S); err != nil {
			cancel()
			return nil, err
		}
	}
	s.registerHandlers()
	if err := s.mux.err(); err != nil {
		return nil, err
	}
	s.startTicketKeys()
	return s, nil
}

// Domain is the domain this server hosts.
func (s *Server) Domain() string { return s.cfg.Domain }

// SessionCount is the number of bound client sessions.
func (s *Server) SessionCount() int { return int(s.liveSessions.Load()) }

// ServeC2S accepts client connections on ln, where STARTTLS is offered and
// required before authentication (RFC 6120 §5). It returns nil when ln is
// closed by Shutdown.
func (s *Server) ServeC2S(ln net.Listener) error { return s.serve(ln, false) }

// ServeDirectTLS accepts client connections on ln that start with a TLS
// handshake (XEP-0368). ln is a plain TCP listener: the server does the
// handshake itself. It returns nil when ln is closed by Shutdown.
func (s *Server) ServeDirectTLS(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, directTLS bool) error {
	return s.acceptLoop(ln, func(raw net.Conn) bool {
		return s.startConn(newConn(s, raw), directTLS)
	})
}

// startConn serves c on a goroutine of its own, tracked for Shutdown; it
// reports false when the server is closing.
func (s *Server) startConn(c *conn, directTLS bool) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	c.handshaking = directTLS // before kill can see c
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve(s.ctx, directTLS)
	}()
	return true
}

// acceptLoop accepts connections on ln until Shutdown closes it and hands
// each to start, which reports false when the server is closing (the
// connection is then closed and the loop ends).
func (s *Server) acceptLoop(ln net.Listener, start func(net.Conn) bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("xmpp: server is shut down")
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait and retry
			// rather than spin or die (as net/http does).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.tuneSocket(raw)
		if !start(raw) {
			_ = raw.Close()
			return nil
		}
	}
}

// tuneSocket gives an accepted TCP connection the configured kernel send
// buffer (Config.SocketSendBuffer), so that a client that stops reading
// holds at most that much kernel memory before its session's queue and the
// slow-consumer rule take over.
func (s *Server) tuneSocket(raw net.Conn) {
	tc, ok := raw.(*net.TCPConn)
	if !ok || s.cfg.SocketSendBuffer <= 0 {
		return
	}
	if err := tc.SetWriteBuffer(s.cfg.SocketSendBuffer); err != nil {
		s.log.Warn("setting the socket send buffer", "remote", raw.RemoteAddr(), "err", err)
	}
}

// forget removes a closed connection from the server's set.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// MoveSessions ends every client stream with <see-other-host/> naming to
// (RFC 6120 §4.9.3.19), or with system-shutdown when to is empty: a pool
// node that stops serving (cut off from the majority, or a standby
// stepping back) sends its clients to an active node. With leaveRooms,
// room occupants leave their rooms first, as at shutdown (a node cut off
// from the pool cannot reach the rooms' hosts: they have already removed
// its occupants). It returns how many streams it ended.
func (s *Server) MoveSessions(ctx context.Context, to string, leaveRooms bool) int {
	serr := &StreamError{Condition: "system-shutdown", Text: "this node stops serving clients"}
	if to != "" {
		serr = &StreamError{Condition: "see-other-host", Content: to, Text: "this node stops serving clients; connect to " + to}
	}
	return s.endStreams(ctx, serr, leaveRooms)
}

// endStreams ends every client stream with serr; with leaveRooms, room
// occupants first learn they leave their rooms because the service goes
// (XEP-0045 status 332).
func (s *Server) endStreams(ctx context.Context, serr *StreamError, leaveRooms bool) int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.muc != nil && leaveRooms {
		for _, sess := range s.router.all() {
			s.muc.shutdownSession(ctx, sess)
		}
		s.muc.shutdownRemote(ctx)
	}
	for _, c := range conns {
		c.kill(serr)
	}
	return len(conns)
}

// Shutdown stops accepting, closes every stream with </stream:stream> after
// flushing what is queued for it, and returns when all connections are
// closed or ctx ends (then the rest are cut).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	s.smExpireAll()
	s.pushes.stop()
	s.stopTicketKeys()
	s.endStreams(ctx, &StreamError{Condition: "system-shutdown"}, true)
	if s.fed != nil {
		s.fed.shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.raw.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// stanzaLoop reads stanzas from a bound session until the stream ends,
// each through its sender's stanza rates (conn.admit).
func (c *conn) stanzaLoop(ctx context.Context) error {
	for {
		if c.idle() {
			return errIdle // park.go
		}
		c.br.awaitInput()
		before := c.br.total
		tok, err := nextToken(c.dec, c.br)
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			return nil // </stream:stream>
		}
		el, err := readElement(c.dec, start, c.scope)
		if err != nil {
			return err
		}
		if h := c.srv.nonza(el.Name); h != nil {
			if err := h(ctx, c, el); err != nil {
				return err
			}
			continue
		}
		c.srv.metrics.stanzasIn.Inc()
		if el.Name.Space != nsClient {
			if el.Name.Space == nsStreams || el.Name.Space == "jabber:server" {
				return &StreamError{Condition: "invalid-namespace", Text: el.Name.Space}
			}
			return &StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Space + " " + el.Name.Local}
		}
		// RFC 6120 §8.1.2.1: the server stamps the full JID; a client
		// may only claim its own.
		if from := el.AttrValue("from"); from != "" && from != c.sess.jid.String() && from != c.sess.bare {
			return &StreamError{Condition: "invalid-from", Text: "from must be your own JID"}
		}
		el.SetAttr("from", c.sess.jid.String())
		if ok, err := c.admit(ctx, c.br.total-before); err != nil {
			return err
		} else if !ok {
			c.refuse(el)
			c.sess.smHandled()
			continue
		}
		switch el.Name.Local {
		case "iq", "message", "presence":
			c.srv.dispatch(ctx, c.sess, el)
			c.sess.smHandled()
		default:
			return &StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Local}
		}
	}
}

// MUCDomain is the domain of the MUC service, or "" if there is none.
func (s *Server) MUCDomain() string {
	if s.muc == nil {
		return ""
	}
	return s.muc.domain
}

// accountExists reports whether a local account exists.
func (s *Server) accountExists(ctx context.Context, local string) (bool, error) {
	_, err := s.cfg.Store.Account(ctx, local)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, err
}
