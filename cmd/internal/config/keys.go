package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/internal/realip"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/pool"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/sip"
	"github.com/parleychat/parley/protocol/xmpp"
)

// key is one setting: its flag and file key name, the flag's usage text
// (the word in back quotes names the argument, as for package flag), its
// default as text, and how to apply a value to a Config.
type key struct {
	name  string
	usage string
	def   string
	set   setter
}

// setter parses a value given as text and stores it in a Config field.
type setter struct {
	apply func(c *Config, v string) error
	// value returns the field, to compare two configurations (Changes).
	value func(c *Config) any
	// boolean flags may be given without a value: --channel-binding.
	boolean bool
	// live keys take a new value from the config file on SIGHUP, with no
	// restart (parleyd's reload applies them).
	live bool
	// list flags may be repeated on the command line: the values are
	// joined with commas (--s2s-route a=h:1 --s2s-route b=h:2).
	list bool
}

// live marks a key's setter as applied on reload.
func live(s setter) setter {
	s.live = true
	return s
}

// keys is every setting. Adding a setting is adding one line here (and a
// field to Config); the flag, the file key, the usage text and the
// README table all come from it.
var keys = []key{
	{"data", "keep the embedded database and the generated certificate in `DIR`", "./data", str(func(c *Config) *string { return &c.Data })},
	{"domain", "serve the XMPP domain `NAME`", "localhost", str(func(c *Config) *string { return &c.Domain })},
	{"storage", "content database `DSN`: sqlite:PATH or mysql:USER@tcp(HOST:PORT)/DB; list a primary and its replicas as tcp(HOST:PORT,HOST:PORT) to write to whichever is writable (default sqlite:DATA/parley.db)", "", str(func(c *Config) *string { return &c.Storage })},
	{"xmpp-c2s", "listen for XMPP clients (STARTTLS) on `ADDR`; empty disables", ":5222", str(func(c *Config) *string { return &c.XMPPC2S })},
	{"xmpp-tls", "listen for XMPP clients with direct TLS (XEP-0368) on `ADDR`; empty disables", ":5223", str(func(c *Config) *string { return &c.XMPPTLS })},
	{"sip", "listen for SIP over UDP and TCP on `ADDR`; empty disables", ":5060", str(func(c *Config) *string { return &c.SIP })},
	{"sip-tls", "listen for SIP over TLS on `ADDR`, with the server's certificate; empty disables", ":5061", str(func(c *Config) *string { return &c.SIPTLS })},
	{"sip-digest", "offer the SIP digest algorithms in `LIST`, in this order (RFC 8760): MD5 first suits clients that answer only the first challenge and only with MD5 (sipp 3.6, many desk phones); a client answering several is checked on its strongest answer; baresip before 3.12 and SIP.js are offered MD5 alone", sip.DefaultDigestAlgorithms, str(func(c *Config) *string { return &c.SIPDigest })},
	{"sip-send-queue", "queue up to `N` MESSAGEs per SIP user for their contacts, then drop more (an XMPP sender gets resource-constraint back)", strconv.Itoa(sip.DefaultSendQueue), count(func(c *Config) *int { return &c.SIPSendQueue })},
	{"sip-source-rate", "answer at most `N` SIP requests per second from each source address (a burst of --sip-source-burst); beyond it 503 with Retry-After", strconv.Itoa(sip.DefaultSourceRate), perSecond(func(c *Config) *float64 { return &c.SIPSourceRate })},
	{"sip-source-burst", "let a source address send `N` SIP requests at once before --sip-source-rate applies", strconv.Itoa(sip.DefaultSourceBurst), count(func(c *Config) *int { return &c.SIPSourceBurst })},
	{"sip-user-rate", "answer at most `N` authenticated SIP requests per second from each user (a burst of --sip-user-burst); beyond it 503 with Retry-After", strconv.Itoa(sip.DefaultUserRate), perSecond(func(c *Config) *float64 { return &c.SIPUserRate })},
	{"sip-user-burst", "let a SIP user send `N` authenticated requests at once before --sip-user-rate applies", strconv.Itoa(sip.DefaultUserBurst), count(func(c *Config) *int { return &c.SIPUserBurst })},
	{"sip-max-subscriptions", "allow `N` conference roster subscriptions (SUBSCRIBE, RFC 4575) per SIP user", strconv.Itoa(sip.DefaultMaxSubscriptions), count(func(c *Config) *int { return &c.SIPMaxSubscriptions })},
	{"sip-route", "send MESSAGEs for users of the SIP `DOMAIN=HOST:PORT` there (over UDP, or TCP with HOST:PORT;transport=tcp) instead of where DNS says (RFC 3263: NAPTR, SRV _sip._udp and _sip._tcp, then port 5060), XMPP users' chat messages to DOMAIN too; repeatable or comma-separated", "", setter{apply: sipRoutes, list: true, value: func(c *Config) any { return c.SIPRoutes }}},
	{"sip-trusted-peers", "take MESSAGEs from users of other SIP domains, without digest authentication, only from the peers in `LIST` (comma-separated): source addresses (IP addresses or ADDR/BITS), or domains, whose server is known on SIP over TLS by a certificate naming the domain of the MESSAGE's From (verified against the system's CAs and --s2s-ca); empty refuses them all", "", setter{apply: sipTrustedPeers, list: true, value: func(c *Config) any { return trustedPeersValue(c) }}},
	{"strict-listeners", "stop at start-up when any listener cannot open; by default an optional listener (direct TLS, server-to-server, SIP, SIP TLS, HTTP, HTTPS, admin HTTP) whose port is taken is skipped with a warning", "false", boolean(func(c *Config) *bool { return &c.StrictListeners })},
	{"xmpp-s2s", "accept other XMPP servers (federation: RFC 6120 server-to-server with STARTTLS, dialback or certificates) on `ADDR`; empty turns federation off both ways", ":5269", str(func(c *Config) *string { return &c.XMPPS2S })},
	{"xmpp-s2s-tls", "accept other XMPP servers with direct TLS (XEP-0368, ALPN xmpp-server; publish it as _xmpps-server._tcp) on `ADDR`, besides --xmpp-s2s; empty disables", "", str(func(c *Config) *string { return &c.XMPPS2STLS })},
	{"s2s-secure-auth", "require every federated server to present a certificate that verifies for its domain (RFC 6125, against the system's CAs and --s2s-ca); dialback alone is then refused", "false", boolean(func(c *Config) *bool { return &c.S2SSecureAuth })},
	{"s2s-bidi", "on the links this server opens, ask federated servers whose certificate verifies for their domain to send their stanzas back over the same link (XEP-0288) instead of opening their own; servers that ask for it on their links are served either way", "false", boolean(func(c *Config) *bool { return &c.S2SBidi })},
	{"s2s-ca", "trust the CA certificates in PEM `FILE` too for federated servers' certificates (SASL EXTERNAL, --s2s-secure-auth; SIP servers of the domains in --sip-trusted-peers)", "", str(func(c *Config) *string { return &c.S2SCA })},
	{"s2s-route", "reach federated `DOMAIN=HOST:PORT` there instead of through DNS (SRV _xmpp-server._tcp, then port 5269); repeatable or comma-separated", "", setter{apply: s2sRoutes, list: true, value: func(c *Config) any { return c.S2SRoutes }}},
	{"s2s-allow", "federate only with the domains in `LIST` (comma-separated, sub-domains included); empty allows every domain not denied", "", domainList(func(c *Config) *[]string { return &c.S2SAllow })},
	{"s2s-deny", "never federate with the domains in `LIST` (comma-separated, sub-domains included): their links are refused and nothing is sent to them", "", domainList(func(c *Config) *[]string { return &c.S2SDeny })},
	{"s2s-idle-timeout", "close a link with another server that carried nothing for `DURATION`", xmpp.DefaultS2SIdleTimeout.String(), duration(func(c *Config) *time.Duration { return &c.S2SIdleTimeout })},
	{"s2s-connect-timeout", "give up setting up a link to another server after `DURATION`; what waited for it bounces with remote-server-timeout", xmpp.DefaultS2SConnectTimeout.String(), duration(func(c *Config) *time.Duration { return &c.S2SConnectTimeout })},
	{"s2s-queue", "queue up to `N` stanzas for each other server (over all links to its domain) while the links are set up or slow, then bounce more (resource-constraint)", strconv.Itoa(xmpp.DefaultS2SQueueLength), count(func(c *Config) *int { return &c.S2SQueue })},
	{"s2s-max-links", "let each other server's domain hold at most `N` inbound links at once; one more is closed with policy-violation", strconv.Itoa(xmpp.DefaultS2SMaxLinks), count(func(c *Config) *int { return &c.S2SMaxLinks })},
	{"s2s-stanza-rate", "read at most `N` stanzas per second from each other server's domain, over all its inbound links; beyond it the links are read more slowly", strconv.Itoa(xmpp.DefaultS2SStanzaRate), perSecond(func(c *Config) *float64 { return &c.S2SStanzaRate })},
	{"s2s-stanza-burst", "let each other server's domain send `N` stanzas at once before --s2s-stanza-rate applies", strconv.Itoa(xmpp.DefaultS2SStanzaBurst), count(func(c *Config) *int { return &c.S2SStanzaBurst })},
	{"http", "serve /healthz, file upload, SIP over WebSocket (/sip) and, to loopback clients (a TLS proxy on the host), XMPP over WebSocket and BOSH over plain HTTP on `ADDR`; empty disables", "127.0.0.1:5280", str(func(c *Config) *string { return &c.HTTP })},
	{"https", "serve the web client (/), XMPP over WebSocket (/xmpp-websocket) and BOSH (/http-bind), file upload and SIP over WebSocket (/sip) over HTTPS on `ADDR`, with the server's certificate; empty disables", ":5281", str(func(c *Config) *string { return &c.HTTPS })},
	{"http-trusted-proxies", "take the client's address from `X-Forwarded-For` on requests from the reverse proxies in `LIST` (comma-separated IP addresses or CIDR networks, such as 127.0.0.1), so that per-address limits count each client rather than the proxy; empty: no proxy is trusted", "", trustedProxies},
	{"http-allowed-origins", "let web pages from the origins in `LIST` (comma-separated scheme://host[:port], or *) open XMPP sessions over WebSocket and BOSH and SIP over WebSocket; pages the server itself serves are always allowed", "", originList(func(c *Config) *[]string { return &c.HTTPAllowedOrigins })},
	{"max-web-sessions-per-ip", "allow `N` XMPP web sessions (WebSocket connections and BOSH sessions together) per IP address", strconv.Itoa(xmpp.DefaultMaxWebSessionsPerIP), count(func(c *Config) *int { return &c.MaxWebSessionsPerIP })},
	{"admin-http", "serve the operators' endpoints over HTTP on `ADDR`: /metrics (Prometheus), /healthz, /readyz and pprof (/debug/pprof/); keep it on loopback or a private network; empty disables", "127.0.0.1:5282", str(func(c *Config) *string { return &c.AdminHTTP })},
	{"tls-cert", "TLS certificate chain in PEM `FILE` (default self-signed, kept in DATA/tls)", "", live(str(func(c *Config) *string { return &c.TLSCert }))},
	{"tls-key", "TLS private key in PEM `FILE` (with --tls-cert)", "", live(str(func(c *Config) *string { return &c.TLSKey }))},
	{"log-level", "log at `LEVEL` and above: debug, info, warn or error", "info", live(setter{apply: logLevel, value: func(c *Config) any { return c.LogLevel }})},
	{"log-format", "write the log as `FORMAT` text (key=value, logfmt) or json (one object per line)", "text", choice("log format", func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{"pool", "join a pool of nodes (MySQL storage only): accept the other nodes on `ADDR`, the seed's TCP 8011 (e.g. :8011); empty runs a single node", "", str(func(c *Config) *string { return &c.Pool })},
	{"pool-peers", "the other nodes' pool addresses: `LIST` of host:port, comma-separated", "", setter{apply: poolPeers, value: func(c *Config) any { return c.PoolPeers }}},
	{"node", "this node's `NAME` in the pool, unique (default the host name)", "", str(func(c *Config) *string { return &c.Node })},
	{"node-role", "this node's `ROLE` in the pool: active, or standby (promoted when an active node is lost)", "active", choice("node role", func(c *Config) *string { return &c.NodeRole }, "active", "standby")},
	{"pool-max-active", "let at most `N` nodes of the pool be active at once", strconv.Itoa(pool.DefaultMaxActive), count(func(c *Config) *int { return &c.PoolMaxActive })},
	{"pool-secret", "`SECRET` every node of the pool shares (16 characters or more): it authenticates and encrypts the pool links; or give --pool-cert, --pool-key and --pool-ca", "", str(func(c *Config) *string { return &c.PoolSecret })},
	{"pool-cert", "this node's pool link certificate in PEM `FILE` (instead of --pool-secret)", "", str(func(c *Config) *string { return &c.PoolCert })},
	{"pool-key", "the private key of --pool-cert in PEM `FILE`", "", str(func(c *Config) *string { return &c.PoolKey })},
	{"pool-ca", "the CA that signs every node's --pool-cert, in PEM `FILE`", "", str(func(c *Config) *string { return &c.PoolCA })},
	{"pool-nats", "use the external NATS cluster at `URL` as the pool bus instead of the embedded one", "", str(func(c *Config) *string { return &c.PoolNATS })},
	{"pool-node-timeout", "count a pool node lost after `DURATION` without its heartbeat (sent 6 times as often); its rooms then move", pool.DefaultNodeTimeout.String(), duration(func(c *Config) *time.Duration { return &c.PoolNodeTimeout })},
	{"pool-client-addr", "where XMPP clients reach this node, as `HOST:PORT`, for redirects from other nodes (default the --pool host and the --xmpp-c2s port)", "", str(func(c *Config) *string { return &c.PoolClientAddr })},
	{"max-stanza-size", "refuse stanzas larger than `BYTES` (262144 or 256KiB)", fmt.Sprintf("%dKiB", xmpp.DefaultMaxStanzaSize>>10), live(size(func(c *Config) *int64 { return &c.MaxStanzaSize }))},
	{"max-unauth-per-ip", "allow `N` unauthenticated connections per IP address", strconv.Itoa(xmpp.DefaultMaxUnauthPerIP), count(func(c *Config) *int { return &c.MaxUnauthPerIP })},
	{"unauth-timeout", "close connections not authenticated within `DURATION`", xmpp.DefaultUnauthTimeout.String(), live(duration(func(c *Config) *time.Duration { return &c.UnauthTimeout }))},
	{"max-auth-failures", "close a connection after `N` failed logins", strconv.Itoa(xmpp.DefaultMaxAuthFailures), live(count(func(c *Config) *int { return &c.MaxAuthFailures }))},
	{"auth-failure-delay", "wait `DURATION` after a failed login, doubled per further failure", xmpp.DefaultAuthFailureDelay.String(), live(duration(func(c *Config) *time.Duration { return &c.AuthFailureDelay }))},
	{"max-roster-items", "let a roster hold at most `N` contacts: a subscription request or roster set adding one more is refused with policy-violation", strconv.Itoa(xmpp.DefaultMaxRosterItems), count(func(c *Config) *int { return &c.MaxRosterItems })},
	{"max-pending-subscriptions", "keep at most `N` unanswered subscription requests per user: a request from one more contact is dropped until the user answers some (a repeated request is never delivered twice)", strconv.Itoa(xmpp.DefaultMaxPendingRequests), count(func(c *Config) *int { return &c.MaxPendingSubscriptions })},
	{"max-offline-messages", "store up to `N` messages per offline user", strconv.Itoa(xmpp.DefaultMaxOfflineMessages), live(count(func(c *Config) *int { return &c.MaxOfflineMessages }))},
	{"send-queue", "queue up to `N` stanzas per session; beyond N the client must keep reading (--slow-consumer-time, --slow-consumer-rate) or be cut off as too slow", strconv.Itoa(xmpp.DefaultSendQueueLength), count(func(c *Config) *int { return &c.SendQueue })},
	{"sm-resume-timeout", "keep a session whose connection was lost resumable for `DURATION` (XEP-0198 stream management); then it ends and the messages its client did not acknowledge are stored offline", xmpp.DefaultSMResumeTimeout.String(), duration(func(c *Config) *time.Duration { return &c.SMResumeTimeout })},
	{"sm-max-resumable", "let an account hold at most `N` resumable sessions on a node; more are enabled without resumption", strconv.Itoa(xmpp.DefaultSMMaxResumable), count(func(c *Config) *int { return &c.SMMaxResumable })},
	{"sm-max-queue", "keep at most `N` stanzas a session's client has not acknowledged (XEP-0198); one more ends the session (a detached one's messages go to offline storage)", strconv.Itoa(xmpp.DefaultSMMaxQueue), count(func(c *Config) *int { return &c.SMMaxQueue })},
	{"fast-token-lifetime", "let a FAST token (XEP-0484: a phone's password-less reconnect) be used for `DURATION` after it is issued; a login with it may ask for a new one, and `parleyctl user tokens revoke` ends them", xmpp.DefaultFastTokenLifetime.String(), duration(func(c *Config) *time.Duration { return &c.FastTokenLifetime })},
	{"push-interval", "send an app server at most one push notification (XEP-0357) per registration every `DURATION`; messages meanwhile are counted into the next", xmpp.DefaultPushInterval.String(), duration(func(c *Config) *time.Duration { return &c.PushInterval })},
	{"push-max-errors", "disable a push registration after `N` notifications in a row that its app server answered with an error (or not at all)", strconv.Itoa(xmpp.DefaultPushMaxErrors), count(func(c *Config) *int { return &c.PushMaxErrors })},
	{"push-body", "put the message body in a push notification when the client's publish-options ask for it (by default never: the app server and the phone vendor's push service would read it)", "false", boolean(func(c *Config) *bool { return &c.PushBody })},
	{"send-queue-bytes", "cut a session off when more than `BYTES` wait in its send queue, however fast it reads", fmt.Sprintf("%dMiB", xmpp.DefaultSendQueueBytes>>20), size(func(c *Config) *int64 { return &c.SendQueueBytes })},
	{"socket-send-buffer", "give each XMPP connection a kernel send buffer of `BYTES` (SO_SNDBUF) instead of the kernel's autotuning, which lets a client that stops reading hold up to 4 MiB (tcp_wmem) before --send-queue and the slow-consumer rule see it; 0: the kernel's choice", "0", sizeOrZero(func(c *Config) *int64 { return &c.SocketSendBuffer })},
	{"slow-consumer-time", "cut a session off when, with more than --send-queue stanzas waiting, it read less than --slow-consumer-rate over `DURATION`", xmpp.DefaultSlowConsumerTime.String(), duration(func(c *Config) *time.Duration { return &c.SlowConsumerTime })},
	{"slow-consumer-rate", "the least a session with more than --send-queue stanzas waiting must read, in `BYTES` per second", fmt.Sprintf("%dKiB", xmpp.DefaultSlowConsumerRate>>10), size(func(c *Config) *int64 { return &c.SlowConsumerRate })},
	{"stanza-rate", "read at most `N` stanzas per second from each session (a stanza counts once, plus once per full 4 KiB); beyond it the session is read more slowly", strconv.Itoa(xmpp.DefaultStanzaRate), perSecond(func(c *Config) *float64 { return &c.StanzaRate })},
	{"stanza-burst", "let a session send `N` stanzas at once before --stanza-rate applies", strconv.Itoa(xmpp.DefaultStanzaBurst), count(func(c *Config) *int { return &c.StanzaBurst })},
	{"user-stanza-rate", "read at most `N` stanzas per second from all sessions of one account together", strconv.Itoa(xmpp.DefaultUserStanzaRate), perSecond(func(c *Config) *float64 { return &c.UserStanzaRate })},
	{"user-stanza-burst", "let one account's sessions send `N` stanzas at once before --user-stanza-rate applies", strconv.Itoa(xmpp.DefaultUserStanzaBurst), count(func(c *Config) *int { return &c.UserStanzaBurst })},
	{"ip-stanza-rate", "read at most `N` stanzas per second from all sessions from one IP address together", strconv.Itoa(xmpp.DefaultIPStanzaRate), perSecond(func(c *Config) *float64 { return &c.IPStanzaRate })},
	{"ip-stanza-burst", "let the sessions from one IP address send `N` stanzas at once before --ip-stanza-rate applies", strconv.Itoa(xmpp.DefaultIPStanzaBurst), count(func(c *Config) *int { return &c.IPStanzaBurst })},
	{"max-resources", "allow `N` simultaneous sessions per account", strconv.Itoa(xmpp.DefaultMaxResourcesPerUser), live(count(func(c *Config) *int { return &c.MaxResources }))},
	{"max-rooms-per-user", "let each user create at most `N` rooms (those still existing; the administrator is not limited); beyond them a creation is refused with policy-violation (SIP 403)", strconv.Itoa(muc.DefaultMaxRoomsPerUser), count(func(c *Config) *int { return &c.MaxRoomsPerUser })},
	{"group-commit-wait", "while the node is busy (its last history transaction carried more than one post or event), let the next transaction gather posts for `DURATION` before it commits: fewer, larger transactions cost less CPU per post; 0: commit at once", muc.DefaultGroupCommitWait.String(), durationOrZero(func(c *Config) *time.Duration { return &c.GroupCommitWait })},
	{"joins-per-minute", "let each user join rooms at most `N` times a minute (a burst of N, then N a minute); beyond it a join is refused with resource-constraint", strconv.Itoa(muc.DefaultJoinsPerMinute), count(func(c *Config) *int { return &c.JoinsPerMinute })},
	{"archive-queries-per-minute", "let each user query room archives (MAM, SIP /history) at most `N` times a minute; beyond it resource-constraint", strconv.Itoa(muc.DefaultArchiveQueriesPerMinute), count(func(c *Config) *int { return &c.ArchiveQueriesPerMinute })},
	{"searches-per-minute", "let each user run at most `N` full-text searches of room archives a minute; beyond it resource-constraint", strconv.Itoa(muc.DefaultSearchesPerMinute), count(func(c *Config) *int { return &c.SearchesPerMinute })},
	{"room-change-poll", "read the room change log every `DURATION`: when parleyctl or another pool node removes a member, bans, walls off or closes a room, the occupants it shuts out of this node's rooms are removed within about that time", "250ms", duration(func(c *Config) *time.Duration { return &c.RoomChangePoll })},
	{"admins", "let the accounts in `LIST` (comma-separated usernames of this domain) administer the server: the web admin console (/admin on --https) and its API, parleyctl --server, and the service administration commands (XEP-0133: add, delete and change the password of users, list online users, announce) from an XMPP client", "", live(setter{list: true, apply: admins, value: func(c *Config) any { return c.Admins }})},
	{"allow-registration", "let anyone create an account from an XMPP client with in-band registration (XEP-0077) before logging in; a logged-in user may always change their password that way", "false", boolean(func(c *Config) *bool { return &c.AllowRegistration })},
	{"contact-address", "publish `KIND=URI` as a contact address of the server in its service discovery (XEP-0157; KIND is abuse, admin, feedback, sales, security, status or support; e.g. admin=mailto:ops@example.com); repeatable or comma-separated", "", setter{list: true, apply: contactAddresses, value: func(c *Config) any { return c.ContactAddresses }}},
	{"external-service", "tell clients of the STUN or TURN server at `URI` for calls (XEP-0215): stun:HOST[:PORT], turn:HOST[:PORT] or turns:HOST[:PORT], optionally ?transport=udp or tcp; repeatable or comma-separated", "", setter{list: true, apply: externalServices, value: func(c *Config) any { return c.ExternalServices }}},
	{"external-service-secret", "give clients short-lived credentials for the --external-service TURN servers, derived from `SECRET`, the TURN server's shared secret (coturn's static-auth-secret)", "", str(func(c *Config) *string { return &c.ExternalServiceSecret })},
	{"channel-binding", "offer SCRAM -PLUS mechanisms with channel binding (slixmpp 1.8 cannot log in then)", "false", boolean(func(c *Config) *bool { return &c.ChannelBinding })},
	{"auth", "check passwords with `BACKEND`: internal (the accounts' stored SCRAM verifiers) or ldap (bind to the --ldap-url directory as the user; XMPP clients are then offered SASL PLAIN over TLS only)", "internal", choice("auth backend", func(c *Config) *string { return &c.Auth }, "internal", "ldap")},
	{"ldap-url", "with --auth ldap, the directory servers as `LIST` of ldaps://HOST[:PORT] or ldap://HOST[:PORT] (StartTLS is then required), tried in order; repeatable or comma-separated", "", setter{list: true, apply: ldapURLs, value: func(c *Config) any { return c.LDAPURLs }}},
	{"ldap-ca", "trust the CA certificates in PEM `FILE` for the directory servers' certificates (default the system's)", "", str(func(c *Config) *string { return &c.LDAPCA })},
	{"ldap-bind-dn", "search the directory for users as `DN` (a service account); empty searches anonymously", "", str(func(c *Config) *string { return &c.LDAPBindDN })},
	{"ldap-bind-password", "the `PASSWORD` of --ldap-bind-dn (better in the config file than on the command line)", "", str(func(c *Config) *string { return &c.LDAPBindPassword })},
	{"ldap-user-base", "search for users under `DN` (the whole subtree)", "", str(func(c *Config) *string { return &c.LDAPUserBase })},
	{"ldap-user-filter", "find a user's entry with `FILTER`, where %u is the username (escaped): (uid=%u), or (sAMAccountName=%u) for Active Directory", "(uid=%u)", str(func(c *Config) *string { return &c.LDAPUserFilter })},
	{"ldap-group-base", "search for the groups a user is in under `DN` (the whole subtree), for policy entries group:NAME (a group's cn under DN) and group:DN; empty: only the users' memberOf attribute names their groups", "", str(func(c *Config) *string { return &c.LDAPGroupBase })},
	{"ldap-group-attr", "the group attribute that lists its members, `ATTR`: member or uniqueMember (members' DNs; nested groups are followed) or memberUid (posixGroup: members' usernames)", ldapauth.DefaultGroupAttr, str(func(c *Config) *string { return &c.LDAPGroupAttr })},
	{"ldap-cache-ttl", "remember a good directory login (a salted verifier, never the password) and a user's groups for `DURATION`: while the directory is down, users who logged in within it still can (a wrong password is still refused); group changes in the directory hold within about it; 0 remembers nothing", ldapauth.DefaultCacheTTL.String(), durationOrZero(func(c *Config) *time.Duration { return &c.LDAPCacheTTL })},
	{"ldap-pool-size", "keep up to `N` idle connections to the directory, bound as --ldap-bind-dn, for logins and group lookups", strconv.Itoa(ldapauth.DefaultPoolSize), count(func(c *Config) *int { return &c.LDAPPoolSize })},
	{"ldap-timeout", "give up a login's talk with the directory (all --ldap-url servers together) after `DURATION`; the client is told to try again later", ldapauth.DefaultTimeout.String(), duration(func(c *Config) *time.Duration { return &c.LDAPTimeout })},
	{"upload-max-size", "refuse HTTP File Upload (XEP-0363) slots for files larger than `BYTES`", fmt.Sprintf("%dMiB", muc.DefaultMaxFileSize>>20), live(size(func(c *Config) *int64 { return &c.UploadMaxSize }))},
	{"http-request-rate", "answer at most `N` HTTP requests per second from each client address on the public HTTP and HTTPS listeners (a burst of --http-request-burst); beyond it 429 with Retry-After", "20", perSecond(func(c *Config) *float64 { return &c.HTTPRequestRate })},
	{"http-request-burst", "let a client address send `N` HTTP requests at once before --http-request-rate applies", "200", count(func(c *Config) *int { return &c.HTTPRequestBurst })},
	{"http-header-timeout", "close an HTTP connection whose request headers have not all arrived within `DURATION` (slowloris)", "10s", duration(func(c *Config) *time.Duration { return &c.HTTPHeaderTimeout })},
	{"http-read-timeout", "close an HTTP connection whose request, body included, has not arrived within `DURATION`; an upload gets longer, by its size", "30s", duration(func(c *Config) *time.Duration { return &c.HTTPReadTimeout })},
	{"http-write-timeout", "give up on an HTTP response not written within `DURATION`; a download or a held BOSH request gets longer", "30s", duration(func(c *Config) *time.Duration { return &c.HTTPWriteTimeout })},
	{"http-idle-timeout", "close a kept-alive HTTP connection idle for `DURATION`", "2m", duration(func(c *Config) *time.Duration { return &c.HTTPIdleTimeout })},
	{"admin-logins-per-minute", "let each client address fail `N` logins a minute to the admin console and API (as many at once; a login that is not an administrator's counts as failed); then 429 until the minute has passed", strconv.Itoa(admin.DefaultLoginsPerMinute), count(func(c *Config) *int { return &c.AdminLoginsPerMinute })},
	{"admin-session-idle", "end an admin console or API session unused for `DURATION`", admin.DefaultSessionIdle.String(), duration(func(c *Config) *time.Duration { return &c.AdminSessionIdle })},
	{"admin-max-sessions", "keep at most `N` admin console and API sessions open (the least recently used is ended)", strconv.Itoa(admin.DefaultMaxSessions), count(func(c *Config) *int { return &c.AdminMaxSessions })},
	{"upload-slots-per-hour", "give each user at most `N` upload slots an hour (a burst of N, refilled over the hour); beyond it resource-constraint", strconv.Itoa(muc.DefaultSlotsPerHour), count(func(c *Config) *int { return &c.UploadSlotsPerHour })},
	{"upload-bytes-per-hour", "give each user upload slots for at most `BYTES` an hour; beyond it resource-constraint", fmt.Sprintf("%dGiB", muc.DefaultBytesPerHour>>30), size(func(c *Config) *int64 { return &c.UploadBytesPerHour })},
	{"upload-quota", "let each user keep at most `BYTES` of uploaded files", fmt.Sprintf("%dGiB", muc.DefaultUploadQuota>>30), live(size(func(c *Config) *int64 { return &c.UploadQuota }))},
	{"upload-url", "give out upload and download URLs under `URL`, the HTTPS listener as clients reach it (default https://DOMAIN:PORT of --https, else http://DOMAIN:PORT of --http)", "", str(func(c *Config) *string { return &c.UploadURL })},
	{"compliance", "copy the events captured for compliance into the compliance database (one node of a pool at a time); false pauses the copy, events wait in the outbox", "true", boolean(func(c *Config) *bool { return &c.Compliance })},
	{"compliance-storage", "compliance database `DSN`: sqlite:PATH or mysql:USER@tcp(HOST:PORT)/DB (several servers as for --storage), another database or server (default sqlite:DATA/compliance.db)", "", str(func(c *Config) *string { return &c.ComplianceStorage })},
	{"compliance-adapter", "write the captured events as files for an archive: `FORMAT` xml, jsonl or none (on the node holding the compliance lease)", "xml", choice("compliance adapter", func(c *Config) *string { return &c.ComplianceAdapter }, "xml", "jsonl", "none")},
	{"compliance-output", "write the compliance adapter's files into `DIR` (default DATA/compliance)", "", str(func(c *Config) *string { return &c.ComplianceOutput })},
	{"compliance-interval", "run the compliance adapter every `DURATION`: one file per interval", compliance.DefaultAdapterInterval.String(), duration(func(c *Config) *time.Duration { return &c.ComplianceInterval })},
	{"compliance-retention", "keep compliance events for `DURATION`, then purge them (except what a legal hold covers); 0 keeps them forever", "0s", setter{apply: complianceRetention, value: func(c *Config) any { return c.ComplianceRetention }}},
	{"archive-retention", "keep each account's own archive of 1:1 messages (XEP-0313) for `DURATION`, then purge it (except what a legal hold covers; runs with the compliance worker); 0 keeps it forever", "0s", setter{apply: archiveRetention, value: func(c *Config) any { return c.ArchiveRetention }}},
	{"compliance-per-room", "write one compliance XML file per room and interval instead of one per interval", "false", boolean(func(c *Config) *bool { return &c.CompliancePerRoom })},
	{"compliance-file-events", "write at most `N` events per compliance adapter file (per window): a larger backlog becomes several files; the adapter holds one window's events in memory, about 2 kB each", strconv.Itoa(compliance.DefaultAdapterMaxBatch), count(func(c *Config) *int { return &c.ComplianceFileEvents })},
}

// complianceRetention sets how long compliance events are kept: a
// duration, 0 for forever; days are accepted as "30d".
func complianceRetention(c *Config, v string) error {
	d, err := retention("compliance", v)
	c.ComplianceRetention = d
	return err
}

// archiveRetention sets how long the accounts' own archives keep a
// message, as complianceRetention.
func archiveRetention(c *Config, v string) error {
	d, err := retention("archive", v)
	c.ArchiveRetention = d
	return err
}

// retention parses a retention: a duration, 0 for forever; days are
// accepted as "30d".
func retention(what, v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid %s retention %q: want for example 2160h or 90d, or 0 for forever", what, v)
	}
	return d, nil
}

// s2sRoutes sets the routes to federated domains: DOMAIN=HOST:PORT,
// comma-separated.
func s2sRoutes(c *Config, v string) error {
	routes, err := parseRoutes("s2s", v)
	c.S2SRoutes = routes
	return err
}

// sipRoutes sets the routes to other SIP domains, as s2sRoutes.
func sipRoutes(c *Config, v string) error {
	routes, err := parseRoutes("sip", v)
	for d, r := range routes {
		addr, params, ok := strings.Cut(r, ";")
		if !ok {
			continue
		}
		tp, isTransport := strings.CutPrefix(strings.ToLower(strings.TrimSpace(params)), "transport=")
		if !isTransport || (tp != "udp" && tp != "tcp") {
			return fmt.Errorf("invalid sip route %s=%s: only ;transport=udp or ;transport=tcp may follow HOST:PORT", d, r)
		}
		routes[d] = addr + ";transport=" + tp
	}
	c.SIPRoutes = routes
	return err
}

// parseRoutes parses DOMAIN=HOST:PORT, comma-separated; nil for none.
func parseRoutes(what, v string) (map[string]string, error) {
	var routes map[string]string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		domain, addr, ok := strings.Cut(r, "=")
		domain = strings.ToLower(strings.TrimSpace(domain))
		hostPort, _, _ := strings.Cut(addr, ";") // a SIP route may add ;transport= (sipRoutes)
		if _, _, err := net.SplitHostPort(strings.TrimSpace(hostPort)); !ok || domain == "" || err != nil || (what != "sip" && hostPort != addr) {
			return nil, fmt.Errorf("invalid %s route %q: want DOMAIN=HOST:PORT", what, r)
		}
		if routes == nil {
			routes = make(map[string]string)
		}
		routes[domain] = strings.TrimSpace(addr)
	}
	return routes, nil
}

// sipTrustedPeers sets whom other SIP domains' MESSAGEs are taken from:
// source addresses (IP addresses or CIDR prefixes) and domains, whose
// servers are known by their certificates on SIP over TLS;
// comma-separated.
func sipTrustedPeers(c *Config, v string) error {
	c.SIPTrustedPeers, c.SIPTrustedPeerNames = nil, nil
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, aerr := netip.ParseAddr(a)
			if aerr != nil {
				name, nerr := identity.DomainJID(a)
				if nerr != nil || strings.ContainsAny(a, ":/") || strings.Trim(a, "0123456789.") == "" {
					return fmt.Errorf("invalid SIP trusted peer %q: want an IP address, ADDR/BITS or a domain", a)
				}
				c.SIPTrustedPeerNames = append(c.SIPTrustedPeerNames, name)
				continue
			}
			p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		c.SIPTrustedPeers = append(c.SIPTrustedPeers, p.Masked())
	}
	return nil
}

// domainList sets a list of domains, comma-separated (the flag may be
// repeated).
func domainList(field func(c *Config) *[]string) setter {
	return setter{list: true, value: func(c *Config) any { return *field(c) }, apply: func(c *Config, v string) error {
		var out []string
		for _, d := range strings.Split(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "":
				continue
			case strings.ContainsAny(d, "@/ "):
				return fmt.Errorf("invalid domain %q", d)
			}
			out = append(out, d)
		}
		*field(c) = out
		return nil
	}}
}

// originList sets a list of web origins (RFC 6454), comma-separated (the
// flag may be repeated): scheme://host[:port] each, or *.
func originList(field func(c *Config) *[]string) setter {
	return setter{list: true, value: func(c *Config) any { return *field(c) }, apply: func(c *Config, v string) error {
		var out []string
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimRight(strings.TrimSpace(o), "/")
			if o == "" {
				continue
			}
			if o != "*" {
				u, err := url.Parse(o)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
					return fmt.Errorf("invalid origin %q: want scheme://host[:port], such as https://chat.example.org", o)
				}
			}
			out = append(out, o)
		}
		*field(c) = out
		return nil
	}}
}

// trustedProxies sets the reverse proxies whose X-Forwarded-For is
// believed.
var trustedProxies = setter{list: true, value: func(c *Config) any {
	out := make([]string, len(c.HTTPTrustedProxies))
	for i, p := range c.HTTPTrustedProxies {
		out[i] = p.String()
	}
	return out
}, apply: func(c *Config, v string) error {
	p, err := realip.ParseProxies(v)
	c.HTTPTrustedProxies = p
	return err
}}

// admins sets the server administrators' usernames.
func admins(c *Config, v string) error {
	c.Admins = nil
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if strings.ContainsAny(a, "@/ ") {
			return fmt.Errorf("invalid admin %q: give the username, without @domain", a)
		}
		c.Admins = append(c.Admins, a)
	}
	return nil
}

// ldapURLs sets the directory servers, comma-separated.
func ldapURLs(c *Config, v string) error {
	c.LDAPURLs = nil
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if !strings.HasPrefix(u, "ldaps://") && !strings.HasPrefix(u, "ldap://") {
			return fmt.Errorf("invalid LDAP URL %q: want ldaps://HOST[:PORT] or ldap://HOST[:PORT]", u)
		}
		c.LDAPURLs = append(c.LDAPURLs, u)
	}
	return nil
}

// externalServices sets the XEP-0215 STUN and TURN URIs.
func externalServices(c *Config, v string) error {
	c.ExternalServices = nil
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if err := xmpp.CheckExternalService(a); err != nil {
			return err
		}
		c.ExternalServices = append(c.ExternalServices, a)
	}
	return nil
}

// contactAddresses sets the XEP-0157 addresses, each KIND=URI.
func contactAddresses(c *Config, v string) error {
	c.ContactAddresses = nil
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		kind, uri, ok := strings.Cut(a, "=")
		if !ok || !slices.Contains(xmpp.ContactKinds, kind) || !strings.Contains(uri, ":") {
			return fmt.Errorf("invalid contact address %q: want KIND=URI, KIND one of %s", a, strings.Join(xmpp.ContactKinds, ", "))
		}
		c.ContactAddresses = append(c.ContactAddresses, a)
	}
	return nil
}

// poolPeers sets the other nodes' pool addresses.
func poolPeers(c *Config, v string) error {
	c.PoolPeers = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return fmt.Errorf("invalid pool peer %q: want host:port", p)
		}
		c.PoolPeers = append(c.PoolPeers, p)
	}
	return nil
}

// choice sets a string field to one of options, ignoring case; what names
// the setting in the error ("invalid node role "x": want active or
// standby").
func choice(what string, field func(*Config) *string, options ...string) setter {
	return setter{apply: func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		if slices.Contains(options, v) {
			*field(c) = v
			return nil
		}
		want := strings.Join(options[:len(options)-1], ", ") + " or " + options[len(options)-1]
		return fmt.Errorf("invalid %s %q: want %s", what, v, want)
	}, value: func(c *Config) any { return *field(c) }}
}

// lookup returns the key called name, or nil.
func lookup(name string) *key {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// str sets a string field; every string is valid.
func str(field func(*Config) *string) setter {
	return setter{apply: func(c *Config, v string) error {
		*field(c) = v
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// boolean sets a bool field from true/false (also 1/0, t/f).
func boolean(field func(*Config) *bool) setter {
	return setter{boolean: true, apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid boolean %q: want true or false", v)
		}
		*field(c) = b
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// count sets an int field from a positive decimal number.
func count(field func(*Config) *int) setter {
	return setter{apply: func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid number %q: want a positive integer", v)
		}
		*field(c) = n
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// perSecond sets a float64 field from a positive rate per second ("20",
// "0.5").
func perSecond(field func(*Config) *float64) setter {
	return setter{apply: func(c *Config, v string) error {
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("invalid rate %q: want a positive number per second", v)
		}
		*field(c) = r
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// duration sets a time.Duration field from Go duration syntax ("30s",
// "1m30s").
// durationOrZero is duration where 0 (off) is allowed.
func durationOrZero(field func(*Config) *time.Duration) setter {
	return setter{apply: func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("invalid duration %q: want 0 or for example 30s or 5m", v)
		}
		*field(c) = d
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

func duration(field func(*Config) *time.Duration) setter {
	return setter{apply: func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid duration %q: want for example 30s or 1m30s", v)
		}
		if d <= 0 {
			return fmt.Errorf("invalid duration %q: must be positive", v)
		}
		*field(c) = d
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// size sets an int64 field from a byte count.
func size(field func(*Config) *int64) setter {
	return setter{apply: func(c *Config, v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}, value: func(c *Config) any { return *field(c) }}
}

// sizeOrZero is size that also takes "0": the setting is off.
func sizeOrZero(field func(*Config) *int64) setter {
	set := size(field)
	return setter{apply: func(c *Config, v string) error {
		if strings.TrimSpace(v) == "0" {
			*field(c) = 0
			return nil
		}
		return set.apply(c, v)
	}, value: set.value}
}

func logLevel(c *Config, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return fmt.Errorf("invalid log level %q: want debug, info, warn or error", v)
	}
	return nil
}

// sizeUnits are the suffixes ParseSize accepts, matched case-insensitively.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseSize reads a positive byte count: a plain number ("262144") or a
// number with a unit ("256KiB", "256 KiB", "1MiB"; KiB/MiB/GiB and K/M/G are
// powers of 1024, kB/MB/GB powers of 1000).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	factor := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			factor = u.factor
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/factor {
		return 0, fmt.Errorf("invalid size %q: want bytes such as 262144 or 256KiB", s)
	}
	return n * factor, nil
}

// trustedPeersValue is --sip-trusted-peers as set: addresses, then names.
func trustedPeersValue(c *Config) []string {
	var out []string
	for _, p := range c.SIPTrustedPeers {
		out = append(out, p.String())
	}
	return append(out, c.SIPTrustedPeerNames...)
}
