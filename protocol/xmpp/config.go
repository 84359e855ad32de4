package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultMaxStanzaSize       = 256 << 10
	DefaultMaxUnauthPerIP      = 20
	DefaultUnauthTimeout       = 30 * time.Second
	DefaultMaxAuthFailures     = 3
	DefaultAuthFailureDelay    = time.Second
	DefaultMaxOfflineMessages  = 1000
	DefaultSendQueueLength     = 1024
	DefaultSendQueueBytes      = 16 << 20
	DefaultSMResumeTimeout     = 5 * time.Minute
	DefaultSMMaxResumable      = 10
	DefaultSMMaxQueue          = 5000
	DefaultFastTokenLifetime   = 14 * 24 * time.Hour
	DefaultPushInterval        = 10 * time.Second
	DefaultPushMaxErrors       = 5
	DefaultSlowConsumerTime    = 10 * time.Second
	DefaultSlowConsumerRate    = 1 << 10
	DefaultWriteTimeout        = 30 * time.Second
	DefaultMaxResourcesPerUser = 32
	DefaultMaxRosterItems      = 1000
	DefaultMaxPendingRequests  = 500

	// The senders' stanza rates: enough for a client that logs in,
	// joins its rooms and pastes a few hundred lines at once.
	DefaultStanzaRate      = 20
	DefaultStanzaBurst     = 200
	DefaultUserStanzaRate  = 40
	DefaultUserStanzaBurst = 400
	// Generous, so that the users of one office behind one NAT address
	// do not slow each other down.
	DefaultIPStanzaRate  = 2000
	DefaultIPStanzaBurst = 20000
)

// Config is everything the XMPP front door needs. Zero values of the limits
// mean "use the default" (see the Default* constants).
type Config struct {
	// Domain is the XMPP domain this server hosts, e.g. "localhost".
	Domain string
	// TLS is the server certificate configuration used for STARTTLS on the
	// c2s port and for direct TLS (XEP-0368). Required.
	TLS *tls.Config
	// Store holds accounts, rosters and offline messages. Required.
	Store storage.Store
	// Verifier checks passwords instead of the stored SCRAM credentials
	// (an LDAP directory, package ldapauth); nil means the stored ones.
	// With it only SASL PLAIN is offered.
	Verifier auth.Verifier
	// Rooms is the room engine behind the MUC service at
	// conference.DOMAIN (XEP-0045); nil means no MUC service.
	Rooms muc.Rooms
	// Files is the file service behind HTTP File Upload (XEP-0363) at
	// upload.DOMAIN; nil means no upload service. UploadURL is the
	// base URL of the HTTP listener as clients reach it, e.g.
	// "http://localhost:5280" (required with Files).
	Files     *muc.Files
	UploadURL string
	// IM carries 1:1 messages to and from the domain's users on other
	// front doors (SIP; interworking.go); nil means XMPP sessions only.
	IM *interop.Router
	// SIPDomains are other domains reached over SIP (SIP federation,
	// parleyd's --sip-route): a chat or normal message with a body to one
	// goes to IM, whose SIP front door sends it, not over s2s.
	SIPDomains []string
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the front door's Prometheus metrics; nil means
	// none are registered.
	Registerer prometheus.Registerer

	// MaxStanzaSize, UnauthTimeout, MaxAuthFailures, AuthFailureDelay,
	// MaxOfflineMessages and MaxResourcesPerUser are the server's first
	// LiveLimits (SetLiveLimits changes them while it runs).
	//
	// MaxStanzaSize is the largest top-level element, in bytes of XML, a
	// client may send; a larger one ends the stream with policy-violation
	// (RFC 6120 §4.9.3.14).
	MaxStanzaSize int64
	// MaxUnauthPerIP is how many not yet authenticated streams one IP
	// address may hold open at once.
	MaxUnauthPerIP int
	// UnauthTimeout is how long a stream may take from connect to
	// successful authentication and resource binding.
	UnauthTimeout time.Duration
	// MaxAuthFailures is how many failed SASL attempts one stream may make
	// before it is closed (RFC 6120 §6.4.5 asks for 2 to 5).
	MaxAuthFailures int
	// AuthFailureDelay is the delay before answering the first failed SASL
	// attempt; it doubles with each further failure from the same IP
	// address (capped at 30 s) and decays after a successful login.
	AuthFailureDelay time.Duration
	// MaxOfflineMessages is how many messages are stored for one offline
	// user; beyond it senders get service-unavailable.
	MaxOfflineMessages int
	// SendQueueLength bounds each session's outbound queue, in stanzas.
	// The queue grows past it only while the client keeps draining it:
	// a session over the bound whose socket took less than
	// SlowConsumerRate bytes a second over SlowConsumerTime is
	// disconnected (a slow consumer) rather than allowed to stall its
	// senders, and so is one with more than SendQueueBytes pending.
	SendQueueLength int
	// Stream management (XEP-0198, sm.go): a session whose connection
	// is lost stays resumable for SMResumeTimeout; an account keeps at
	// most SMMaxResumable resumable sessions on this node (more are
	// enabled without resumption), and a session at most SMMaxQueue
	// stanzas its client has not acknowledged.
	SMResumeTimeout time.Duration
	SMMaxResumable  int
	SMMaxQueue      int
	// FastTokenLifetime is how long a FAST token (XEP-0484, fast.go)
	// stays valid after it is issued.
	FastTokenLifetime time.Duration
	// Push notifications (XEP-0357, push.go): at most one publish per
	// registration every PushInterval (what comes meanwhile is counted
	// into the next); a registration whose app server answers
	// PushMaxErrors publishes in a row with errors is disabled; the
	// message body goes to the app server only when PushBody allows it
	// and the client's publish-options ask for it.
	PushInterval   time.Duration
	PushMaxErrors  int
	PushBody       bool
	SendQueueBytes int64
	// SocketSendBuffer, when above 0, is each accepted connection's
	// kernel send buffer (SO_SNDBUF) in bytes, instead of the kernel's
	// autotuning (which lets a client that stops reading hold up to
	// net.ipv4.tcp_wmem's maximum, 4 MiB on Linux, before the session's
	// own queue and slow-consumer rule see it).
	SocketSendBuffer int
	SlowConsumerTime time.Duration
	SlowConsumerRate int64
	// StanzaRate and StanzaBurst are the token bucket (stanzas per
	// second, and how many may come at once) each session's stanzas are
	// read through; UserStanzaRate/Burst is one bucket shared by all of
	// an account's sessions on this node, IPStanzaRate/Burst one shared
	// by all sessions from one IP address. A stanza counts one token,
	// plus one per full 4 KiB. A session over a rate is not read from
	// until its tokens come back (TCP then slows the sender down); a
	// stanza that would wait longer than 5 s is refused with
	// policy-violation (type wait).
	StanzaRate      float64
	StanzaBurst     int
	UserStanzaRate  float64
	UserStanzaBurst int
	IPStanzaRate    float64
	IPStanzaBurst   int
	// WriteTimeout bounds each write to a client socket.
	WriteTimeout time.Duration
	// MaxResourcesPerUser bounds the number of simultaneous sessions of one
	// account.
	MaxResourcesPerUser int
	// MaxRosterItems is the most contacts one roster holds; a subscription
	// request or roster set adding one more is refused with
	// policy-violation. MaxPendingRequests is the most unanswered
	// subscription requests kept for one user; a request from one more
	// contact is dropped (roster.Limits).
	MaxRosterItems     int
	MaxPendingRequests int
	// ChannelBinding offers the SCRAM -PLUS mechanisms (RFC 5802 §6) with
	// the tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929)
	// channel bindings, advertised with XEP-0440. When on, a client that
	// says it supports channel binding but picks a non-PLUS mechanism (the
	// gs2 "y" flag) is refused, as RFC 5802 requires. Off by default:
	// slixmpp 1.8 (Debian 12) binds only with tls-unique, which TLS 1.3
	// does not define, so with -PLUS offered it can log in neither with
	// -PLUS nor, because it then sends "y", without.
	ChannelBinding bool
	// Version is reported by XEP-0092 software version.
	Version string
	// Remote, when set, reaches the domain's sessions on the other nodes
	// of a pool (DESIGN §4): presence broadcasts, directed presence and
	// subscription stanzas go there too, and a new session's contacts'
	// presence is also asked of the other nodes. nil on a single node.
	Remote Remote
	// Redirect, when set, is asked at each new client stream where the
	// client should rather connect (a pool node that is a standby or
	// above its share, DESIGN §4): a non-empty host:port answers the
	// stream with <see-other-host/> (RFC 6120 §4.9.3.19).
	Redirect func() string
	// Admins are the usernames (localparts) of this domain's server
	// administrators: they may run the service administration commands
	// (XEP-0133, admin_commands.go).
	Admins []string
	// AllowRegistration lets anyone create an account with in-band
	// registration (XEP-0077) before authenticating. Logged-in users may
	// change their password that way whatever it says (register.go).
	AllowRegistration bool
	// ContactAddresses are the server's contact addresses (XEP-0157), each
	// KIND=URI with KIND one of ContactKinds, published in the server's
	// disco#info (contact_addresses.go).
	ContactAddresses []string
	// ExternalServices are STUN and TURN servers for clients' calls
	// (XEP-0215), as stun:/turn:/turns:HOST[:PORT][?transport=udp|tcp];
	// with ExternalServiceSecret (a TURN server's shared secret) TURN
	// entries carry short-lived credentials (external_services.go).
	ExternalServices      []string
	ExternalServiceSecret string
	// S2S, when set, federates with other XMPP servers (s2s.go): ServeS2S
	// accepts their links and stanzas to other domains go out over ours.
	// nil: stanzas to other domains bounce with remote-server-not-found.
	S2S *S2SConfig
	// WebAllowedOrigins lists the origins (scheme://host[:port]) of the
	// web pages allowed to open XMPP web sessions (WebSocket, BOSH)
	// besides the server's own; "*" allows any (web.go).
	WebAllowedOrigins []string
	// MaxWebSessionsPerIP bounds the WebSocket connections and BOSH
	// sessions one IP address may hold open together.
	MaxWebSessionsPerIP int
}

func (c *Config) applyDefaults() error {
	if c.Domain == "" {
		return errors.New("xmpp: config: Domain is required")
	}
	if c.TLS == nil {
		return errors.New("xmpp: config: TLS is required")
	}
	if c.Verifier != nil && c.AllowRegistration {
		return errors.New("xmpp: config: in-band registration with a password Verifier (--auth ldap): the accounts are the directory's")
	}
	if c.Store == nil {
		return errors.New("xmpp: config: Store is required")
	}
	if c.Files != nil && c.UploadURL == "" {
		return errors.New("xmpp: config: UploadURL is required with Files")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	// The live limits (live.go) take their defaults in SetLiveLimits.
	setDefault(&c.MaxUnauthPerIP, DefaultMaxUnauthPerIP)
	setDefault(&c.MaxWebSessionsPerIP, DefaultMaxWebSessionsPerIP)
	setDefault(&c.SendQueueLength, DefaultSendQueueLength)
	setDefault(&c.SendQueueBytes, DefaultSendQueueBytes)
	setDefault(&c.SMResumeTimeout, DefaultSMResumeTimeout)
	setDefault(&c.SMMaxResumable, DefaultSMMaxResumable)
	setDefault(&c.SMMaxQueue, DefaultSMMaxQueue)
	setDefault(&c.FastTokenLifetime, DefaultFastTokenLifetime)
	setDefault(&c.PushInterval, DefaultPushInterval)
	setDefault(&c.PushMaxErrors, DefaultPushMaxErrors)
	setDefault(&c.SlowConsumerTime, DefaultSlowConsumerTime)
	setDefault(&c.SlowConsumerRate, DefaultSlowConsumerRate)
	setDefault(&c.StanzaRate, DefaultStanzaRate)
	setDefault(&c.StanzaBurst, DefaultStanzaBurst)
	setDefault(&c.UserStanzaRate, DefaultUserStanzaRate)
	setDefault(&c.UserStanzaBurst, DefaultUserStanzaBurst)
	setDefault(&c.IPStanzaRate, DefaultIPStanzaRate)
	setDefault(&c.IPStanzaBurst, DefaultIPStanzaBurst)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxRosterItems, DefaultMaxRosterItems)
	setDefault(&c.MaxPendingRequests, DefaultMaxPendingRequests)
	if c.Version == "" {
		c.Version = "dev"
	}
	return nil
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Remote reaches this domain's client sessions on other pool nodes.
type Remote interface {
	// Send hands stanza, already addressed to to (a bare or full JID of
	// this domain), to the other nodes, each of which delivers it as
	// Server.DeliverLocal does. It does not wait.
	Send(to string, stanza []byte)
	// Presences returns, from the other nodes, the presence of the
	// available sessions of each bare JID, addressed to to (as
	// Server.LocalPresences does).
	Presences(ctx context.Context, bares []string, to string) [][]byte
	// SendNotify hands a PEP event addressed to to (a bare JID of this
	// domain) to the other nodes, each of which delivers it as
	// Server.DeliverNotify does: to the sessions asking for node's
	// notifications. It does not wait.
	SendNotify(to, node string, stanza []byte)
	// DialbackPending asks the other nodes whether one of them opened
	// the server-to-server stream id from local to remote and waits for
	// its dialback key to be verified (as Server.DialbackPending
	// answers): another server may ask any node of the pool to verify a
	// key (XEP-0220 §2.3), since it finds the authoritative server in
	// DNS.
	DialbackPending(ctx context.Context, id, local, remote string) bool
	// DeliverIQ hands an IQ request for a full JID of this domain whose
	// session is not on this node to the other nodes, one of which
	// delivers it as Server.DeliverIQ does, and reports whether one did.
	DeliverIQ(ctx context.Context, to string, stanza []byte) bool
}
