// Package sip is Parley's SIP front door (RFC 3261), built on
// github.com/emiago/sipgo: UDP and TCP (RFC 3261 §18), TLS, OPTIONS
// (§11), request validation, and a registrar (§10) that authenticates with
// HTTP digest (RFC 8760: SHA-256 and MD5, qop=auth) against the same
// accounts as XMPP, from the HA1 values stored when a password is set.
//
// Bindings live in the node's memory and expire (§10.3); they are lost on
// restart, and clients register again within their expiry.
//
// Rooms are served in pager mode (RFC 3428, rooms.go): a MESSAGE to
// sip:ROOM@conference.DOMAIN is a post to the room engine, or a command
// when it starts with "/" or "#"; joined SIP occupants get the room's
// posts as MESSAGEs from the room URI, as text/plain or message/cpim
// (cpim.go). A SUBSCRIBE to a room with Event: conference gets its roster
// in NOTIFYs (RFC 4575, subscribe.go). WebSocketHandler serves SIP over
// WebSocket (RFC 7118) on an HTTP server (websocket.go).
package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// Defaults for the zero values of Config.
const (
	DefaultMinExpires     = 60 * time.Second
	DefaultMaxExpires     = time.Hour
	DefaultExpires        = time.Hour
	DefaultMaxContacts    = 16
	DefaultNonceLifetime  = 5 * time.Minute
	pruneInterval         = 30 * time.Second
	allowedMethods        = "REGISTER, OPTIONS"
	allowedWithRooms      = "REGISTER, OPTIONS, MESSAGE, SUBSCRIBE"
	acceptedContentTypes  = "text/plain, message/cpim"
	supportedExtensions   = "outbound"
	defaultUserAgentName  = "Parley"
	maxUnparseableReplies = 1 << 10 // bytes of a request echoed in a stateless 400
)

// DefaultDigestAlgorithms is the digest offer when Config names none: MD5
// first, which the SIP endpoints in Debian need — sipp 3.6 answers only
// the first challenge and only with MD5, and many desk phones do the same
// — and SHA-256 after it for clients that answer every challenge they can
// (Linphone), whose SHA-256 answer is then the one checked.
const DefaultDigestAlgorithms = auth.DigestMD5 + "," + auth.DigestSHA256

// Accounts is what the registrar needs of storage.Accounts.
type Accounts interface {
	DigestCredential(ctx context.Context, username, realm, algorithm string) (storage.DigestCredential, error)
}

// Config configures a Server.
type Config struct {
	// Domain is the SIP domain, the XMPP domain, and the digest realm.
	Domain   string
	Accounts Accounts
	Logger   *slog.Logger
	// WebAllowedOrigins lists the origins (scheme://host[:port], or "*")
	// of web pages, besides the server's own, that may open SIP over
	// WebSocket (package weborigin; --http-allowed-origins).
	WebAllowedOrigins []string
	// MinExpires, MaxExpires and DefaultExpires bound registrations
	// (RFC 3261 §10.2.8, §10.3 step 7); zero means the Default values.
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// MaxContacts bounds the bindings of one address of record.
	MaxContacts int
	// NonceLifetime is how long a digest nonce may be used.
	NonceLifetime time.Duration
	// DigestAlgorithms are the algorithms challenges offer, in this
	// order: RFC 8760 clients answer the first they support, older ones
	// the first (MD5 only), some every one they can (the strongest
	// answer is checked). Nil means DefaultDigestAlgorithms. A client
	// known to fail on any algorithm but MD5 is offered MD5 alone
	// (md5OnlyAgent).
	DigestAlgorithms []string
	// Version goes into the Server header.
	Version string
	// Rooms is the room engine behind sip:ROOM@RoomHost; nil means no
	// rooms over SIP.
	Rooms muc.Rooms
	// RoomHost is the rooms' host; "" means "conference." + Domain, the
	// XMPP MUC service's.
	RoomHost string
	// IM carries 1:1 MESSAGEs to sip:USER@Domain to the user's other
	// front doors, and theirs to registered contacts (im.go); nil means
	// no 1:1 messages.
	IM *interop.Router
	// SendQueue bounds the MESSAGEs waiting to go to one user's contacts
	// (and the NOTIFYs to one subscription); more are dropped with a log.
	// Zero means DefaultSendQueue.
	SendQueue int
	// MaxSubscriptions bounds one user's conference subscriptions; zero
	// means DefaultMaxSubscriptions. Their expiry is bounded like
	// registrations' (MinExpires, MaxExpires, DefaultExpires).
	MaxSubscriptions int
	// SourceRate and SourceBurst are the token bucket of requests per
	// second one source address may send, UserRate and UserBurst one
	// authenticated user's (ratelimit.go); zero means the Default….
	SourceRate  float64
	SourceBurst int
	UserRate    float64
	UserBurst   int
	// Routes sends MESSAGEs to users of other domains to these servers
	// (domain: "host:port", or "host:port;transport=tcp") instead of the
	// one DNS names (federation.go, rfc3263.go).
	Routes map[string]string
	// DNSServer is the DNS server (host:port) RFC 3263 lookups of other
	// domains ask (NAPTR, SRV, A); empty is the system's.
	DNSServer string
	// TrustedPeers are the source addresses MESSAGEs from users of other
	// domains are taken from; none means such MESSAGEs are refused.
	TrustedPeers []netip.Prefix
	// TrustedPeerNames are the domains whose servers MESSAGEs from their
	// users are taken from over SIP over TLS, when the server's
	// certificate, verified against PeerRoots, names the domain of the
	// MESSAGE's From (tlspeer.go). Lower-case.
	TrustedPeerNames []string
	// PeerRoots verify the certificates of TrustedPeerNames' servers;
	// nil means the system's.
	PeerRoots *x509.CertPool
	// Registerer receives the front door's Prometheus metrics
	// (metrics.go); nil means none are registered.
	Registerer prometheus.Registerer
}

// Server is the SIP front door. Create it with NewServer, serve listeners
// with ServeUDP, ServeTCP and ServeTLS, and stop it with Close.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	auth *authenticator
	// sources and users are the request rates (ratelimit.go).
	sources, users *requestBuckets
	reg            *registrar
	metrics        *metrics
	out            *sender // MESSAGEs to registered contacts

	drainMu sync.Mutex // one delivery of stored messages at a time (im.go)

	joinedMu sync.Mutex
	joined   map[string]bool // AORs that joined a room since they last left all

	subsMu    sync.Mutex
	subs      map[string]*subscription // conference subscriptions by dialog id
	subsByAOR map[string]int

	mu  sync.Mutex
	udp map[string]net.PacketConn // by local address: answers to unparseable datagrams

	tlsPeers tlsPeers // verified identities of SIP over TLS peers (tlspeer.go)

	ws     *wsListener   // WebSocket connections from WebSocketHandler
	wsDone chan struct{} // closed when serveWS returns

	stop      chan struct{}
	pruneDone chan struct{}
	closeOnce sync.Once
}

// NewServer checks cfg and starts the Server's housekeeping (expiring
// bindings and nonces), which Close stops.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		return nil, errors.New("sip: no domain")
	}
	if cfg.Accounts == nil {
		return nil, errors.New("sip: no accounts")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinExpires <= 0 {
		cfg.MinExpires = DefaultMinExpires
	}
	if cfg.MaxExpires <= 0 {
		cfg.MaxExpires = DefaultMaxExpires
	}
	if cfg.DefaultExpires <= 0 {
		cfg.DefaultExpires = DefaultExpires
	}
	if cfg.MaxExpires < cfg.MinExpires {
		return nil, fmt.Errorf("sip: MaxExpires %v is below MinExpires %v", cfg.MaxExpires, cfg.MinExpires)
	}
	cfg.DefaultExpires = min(max(cfg.DefaultExpires, cfg.MinExpires), cfg.MaxExpires)
	if cfg.MaxContacts <= 0 {
		cfg.MaxContacts = DefaultMaxContacts
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = DefaultNonceLifetime
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.SourceRate <= 0 {
		cfg.SourceRate = DefaultSourceRate
	}
	if cfg.SourceBurst <= 0 {
		cfg.SourceBurst = DefaultSourceBurst
	}
	if cfg.UserRate <= 0 {
		cfg.UserRate = DefaultUserRate
	}
	if cfg.UserBurst <= 0 {
		cfg.UserBurst = DefaultUserBurst
	}
	if cfg.RoomHost == "" {
		cfg.RoomHost = "conference." + cfg.Domain
	}
	cfg.RoomHost = strings.ToLower(cfg.RoomHost)
	log := cfg.Logger.With("protocol", "sip")
	if cfg.DigestAlgorithms == nil {
		cfg.DigestAlgorithms = strings.Split(DefaultDigestAlgorithms, ",")
	}
	seen := map[string]bool{}
	for i, alg := range cfg.DigestAlgorithms {
		alg = strings.TrimSpace(alg)
		if auth.DigestHash(alg) == nil || seen[alg] {
			return nil, fmt.Errorf("sip: digest algorithms %q: want MD5 and SHA-256, each at most once", cfg.DigestAlgorithms)
		}
		seen[alg] = true
		cfg.DigestAlgorithms[i] = alg
	}
	if len(cfg.DigestAlgorithms) == 0 {
		return nil, errors.New("sip: no digest algorithm")
	}
	authn, err := newAuthenticator(strings.ToLower(cfg.Domain), cfg.DigestAlgorithms, cfg.Accounts, cfg.NonceLifetime, time.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		auth:      authn,
		sources:   newRequestBuckets(cfg.SourceRate, cfg.SourceBurst),
		users:     newRequestBuckets(cfg.UserRate, cfg.UserBurst),
		reg:       newRegistrar(cfg, time.Now),
		udp:       make(map[string]net.PacketConn),
		joined:    make(map[string]bool),
		subs:      make(map[string]*subscription),
		subsByAOR: make(map[string]int),
		tlsPeers:  tlsPeers{byKey: make(map[string]*tlsPeerConn)},
		stop:      make(chan struct{}),
		pruneDone: make(chan struct{}),
		ws:        newWSListener(),
		wsDone:    make(chan struct{}),
	}
	s.metrics = newMetrics(cfg.Registerer, s)
	name := defaultUserAgentName
	if cfg.Version != "" {
		name += "/" + cfg.Version
	}
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(name),
		sipgo.WithUserAgentHostname(cfg.Domain),
		// sipgo logs with log/slog (v1.7.3): its layers log through ours.
		// A few places in its sip package use sip.DefaultLogger, which
		// parleyd sets once at start (sip.SetDefaultLogger).
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.readFilter),
			sip.WithTransportLayerLogger(log.With("component", "sipgo"))),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log.With("component", "sipgo"))),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(log.With("component", "sipgo")))
	if err != nil {
		s.ua.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	for _, m := range []sip.RequestMethod{sip.REGISTER, sip.OPTIONS, sip.INVITE, sip.ACK, sip.CANCEL,
		sip.BYE, sip.MESSAGE, sip.SUBSCRIBE, sip.NOTIFY, sip.REFER, sip.INFO, sip.PRACK, sip.UPDATE, sip.PUBLISH} {
		s.srv.OnRequest(m, s.handle)
	}
	s.srv.OnNoRoute(s.handle)
	client, err := sipgo.NewClient(s.ua, sipgo.WithClientLogger(log.With("component", "sipgo")))
	if err != nil {
		s.ua.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	s.out = newSender(s, client, cfg.SendQueue)
	go s.prune()
	go s.serveWS()
	return s, nil
}

// ServeUDP serves SIP over UDP on pc until pc is closed.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	s.mu.Lock()
	s.udp[pc.LocalAddr().String()] = pc
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.udp, pc.LocalAddr().String())
		s.mu.Unlock()
	}()
	return s.srv.ServeUDP(pc)
}

// ServeTCP serves SIP over TCP on ln until ln is closed.
func (s *Server) ServeTCP(ln net.Listener) error {
	return s.srv.ServeTCP(ln)
}

// ServeTLS serves SIP over TLS (RFC 3261 §26.2) on ln with config until ln
// is closed. With Config.TrustedPeerNames, peers are asked for a
// certificate (not required: phones have none), which may make another
// domain's server trusted (tlspeer.go).
func (s *Server) ServeTLS(ln net.Listener, config *tls.Config) error {
	if len(s.cfg.TrustedPeerNames) > 0 && config.ClientAuth == tls.NoClientCert {
		config = config.Clone()
		config.ClientAuth = tls.RequestClientCert
	}
	return s.srv.ServeTLS(&tlsPeerListener{Listener: tls.NewListener(ln, config), s: s})
}

// Close stops the housekeeping and sipgo's transaction and transport
// layers, closing their connections. The callers close their listeners.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.pruneDone
		s.ws.Close()
		<-s.wsDone
		s.closeSubscriptions()
		s.out.close()
		err = s.ua.Close()
	})
	return err
}

// prune drops expired bindings and nonce counters until Close.
func (s *Server) prune() {
	defer close(s.pruneDone)
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.reg.prune(now)
			s.auth.prune(now)
			s.leaveUnreachable()
			if s.cfg.Rooms != nil {
				ctx, cancel := context.WithTimeout(context.Background(), pruneInterval)
				s.recheckSubscriptions(ctx)
				cancel()
			}
		}
	}
}

// RoomHost is the host of the rooms' URIs, sip:ROOM@RoomHost.
func (s *Server) RoomHost() string { return s.cfg.RoomHost }

// Bindings returns the unexpired contacts registered for the address of
// record sip:user@DOMAIN.
func (s *Server) Bindings(user string) []Binding {
	return s.reg.bindings(s.aor(user))
}

func (s *Server) aor(user string) string {
	return "sip:" + user + "@" + strings.ToLower(s.cfg.Domain)
}

// handle is sipgo's request handler: every request arrives here.
func (s *Server) handle(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, after := s.respond(ctx, req)
	s.metrics.request(req, res)
	if res != nil && tx != nil {
		if err := tx.Respond(res); err != nil {
			s.log.Debug("sending a response", "status", res.StatusCode, "method", string(req.Method), "err", err)
		}
	}
	if after != nil {
		after() // what follows the response: a command's answer
	}
}

// Respond returns the final response to a parsed request, or nil for an
// ACK. It is the one entry point every request goes through after sipgo's
// parser: validation, OPTIONS, authentication, then the method's handler.
func (s *Server) Respond(ctx context.Context, req *sip.Request) *sip.Response {
	res, after := s.respond(ctx, req)
	s.metrics.request(req, res)
	if after != nil {
		after()
	}
	return res
}

// respond is Respond, with what is to be done once the response is sent.
func (s *Server) respond(ctx context.Context, req *sip.Request) (*sip.Response, func()) {
	if req.IsAck() {
		return nil, nil // RFC 3261 §17.2.1: an ACK gets no response
	}
	if !s.sources.allow(sourceHost(req), time.Now()) {
		return s.overRate(req, "source"), nil
	}
	if err := validate(req); err != nil {
		s.log.Debug("bad request", "err", err, "source", req.Source())
		return s.response(req, sip.StatusBadRequest, "Bad Request"), nil
	}
	if req.Recipient.Scheme != "sip" && req.Recipient.Scheme != "sips" {
		res := s.response(req, 416, "Unsupported URI Scheme")
		return res, nil
	}
	switch req.Method {
	case sip.OPTIONS:
		return s.options(req), nil
	case sip.CANCEL:
		// Nothing here is long-running, so no transaction is left to cancel.
		return s.response(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist"), nil
	}
	from := req.From().Address
	if !strings.EqualFold(from.Host, s.cfg.Domain) {
		return s.fromPeer(ctx, req) // another domain's user (federation.go)
	}
	if from.User == "" {
		return s.response(req, sip.StatusForbidden, "Forbidden: not a user of "+s.cfg.Domain), nil
	}
	// RFC 3261 §22.3: a registrar challenges with 401, anything acting
	// for the domain otherwise with 407.
	proxy := req.Method != sip.REGISTER
	user := from.User
	if req.Method == sip.REGISTER {
		user = req.To().Address.User
	}
	switch v := s.auth.verify(ctx, req, user, proxy); v.outcome {
	case authOK:
		if !s.users.allow(user, time.Now()) {
			return s.overRate(req, "user"), nil
		}
	case authChallenge:
		return s.challenge(req, proxy, v.stale), nil
	case authForbidden:
		s.metrics.digestFailure.Inc()
		s.log.Info("digest authentication failed", "user", user, "source", req.Source(), "reason", v.reason)
		return s.response(req, sip.StatusForbidden, "Forbidden"), nil
	case authMalformed:
		s.log.Debug("malformed credentials", "source", req.Source(), "reason", v.reason)
		return s.response(req, sip.StatusBadRequest, "Bad Request: "+v.reason), nil
	default:
		s.log.Error("digest authentication", "user", user, "err", v.err)
		return s.response(req, sip.StatusInternalServerError, "Server Internal Error"), nil
	}
	switch req.Method {
	case sip.REGISTER:
		had := len(s.Bindings(user)) > 0
		res := s.register(req)
		if res.StatusCode == sip.StatusOK {
			s.leaveUnreachable()
			if !had && len(s.Bindings(user)) > 0 {
				return res, s.deliverStored(user) // im.go
			}
		}
		return res, nil
	case sip.MESSAGE:
		if s.cfg.IM != nil && s.isUserAddress(req.Recipient) {
			return s.im(ctx, req, user), nil
		}
		if s.foreignDomain(req.Recipient) && req.Recipient.User != "" {
			return s.toPeer(ctx, req, user), nil // federation.go
		}
		if s.cfg.Rooms != nil {
			return s.message(ctx, req, user)
		}
	case sip.SUBSCRIBE:
		if s.cfg.Rooms != nil {
			return s.subscribe(ctx, req, user)
		}
	}
	res := s.response(req, sip.StatusMethodNotAllowed, "Method Not Allowed")
	res.AppendHeader(sip.NewHeader("Allow", s.allowed()))
	return res, nil
}

// options answers OPTIONS (RFC 3261 §11.2) with what this server accepts.
func (s *Server) options(req *sip.Request) *sip.Response {
	res := s.response(req, sip.StatusOK, "OK")
	res.AppendHeader(sip.NewHeader("Allow", s.allowed()))
	res.AppendHeader(sip.NewHeader("Accept", acceptedContentTypes))
	res.AppendHeader(sip.NewHeader("Supported", supportedExtensions))
	if s.cfg.Rooms != nil {
		res.AppendHeader(sip.NewHeader("Allow-Events", eventConference))
	}
	return res
}

func (s *Server) challenge(req *sip.Request, proxy, stale bool) *sip.Response {
	code, reason, header := sip.StatusUnauthorized, "Unauthorized", "WWW-Authenticate"
	if proxy {
		code, reason, header = sip.StatusProxyAuthRequired, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := s.response(req, code, reason)
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	for _, c := range s.auth.challenges(stale, ua) {
		res.AppendHeader(sip.NewHeader(header, c))
	}
	return res
}

func (s *Server) response(req *sip.Request, code int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.ua.Name()))
	return res
}

// allowed is the Allow header value: MESSAGE only with rooms.
func (s *Server) allowed() string {
	if s.cfg.Rooms != nil || s.cfg.IM != nil {
		return allowedWithRooms
	}
	return allowedMethods
}
