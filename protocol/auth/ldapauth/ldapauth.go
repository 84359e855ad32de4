// Package ldapauth checks passwords against an LDAP directory (OpenLDAP,
// Active Directory) with github.com/go-ldap/ldap/v3: search for the user's
// entry (as the service account, or anonymously), then bind as that entry
// with the password given. It is an auth.Verifier: the XMPP front door then
// offers SASL PLAIN over TLS only, since SCRAM needs verifiers Parley does
// not have for directory users.
//
// Every connection to the directory is encrypted: ldaps:// URLs use TLS,
// ldap:// URLs must accept StartTLS (RFC 4513 §3). The URLs are tried in
// order; one that cannot be reached or does not answer within the timeout
// is skipped for the next. A directory user logging in for the first time
// gets an account (with no stored credentials) so that the rest of the
// server knows them.
package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/internal/tlspolicy"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one login's talk with the directory.
	DefaultTimeout = 5 * time.Second
	// DefaultCacheTTL is how long a good login and a user's groups are
	// remembered.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultPoolSize is how many idle search connections are kept.
	DefaultPoolSize = 4
	// DefaultGroupAttr is the attribute of a group entry that lists its
	// members' DNs (groupOfNames; AD's group).
	DefaultGroupAttr = "member"
	// MaxGroupDepth bounds how deep nested groups are followed.
	MaxGroupDepth = 8
)

// Config is a directory to check passwords against.
type Config struct {
	// URLs are the directory servers, tried in order: ldaps://HOST[:PORT]
	// or ldap://HOST[:PORT] (with StartTLS).
	URLs []string
	// CAFile is a PEM file of CA certificates to trust for the servers'
	// certificates; empty means the system's.
	CAFile string
	// BindDN and BindPassword are the service account that searches for
	// users; an empty BindDN searches anonymously.
	BindDN       string
	BindPassword string
	// UserBase is the DN under which users are searched (subtree), and
	// UserFilter the filter, where %u stands for the username (escaped,
	// RFC 4515 §3): e.g. (uid=%u) or (sAMAccountName=%u).
	UserBase   string
	UserFilter string
	// Timeout bounds one login (all servers together); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// GroupBase is the DN under which groups are searched (subtree) for
	// the groups a user is in; empty means only the user's memberOf
	// attribute tells. A group named by NAME in policy ("group:NAME") is
	// the group with that cn under GroupBase.
	GroupBase string
	// GroupAttr is the group attribute that lists its members: member or
	// uniqueMember (the members' DNs, nested groups followed), or
	// memberUid (posixGroup: the members' usernames). Empty means
	// DefaultGroupAttr.
	GroupAttr string
	// CacheTTL is how long a good login is remembered for when the
	// directory is down (cache.go) and how long a user's groups are
	// cached; zero remembers nothing.
	CacheTTL time.Duration
	// PoolSize is how many idle connections (bound as the service account)
	// are kept for searches; zero means DefaultPoolSize.
	PoolSize int
	// Domain is the XMPP domain of the directory's users: InGroup takes
	// bare JIDs and a user of another domain is in no group.
	Domain string
	// Accounts receives an account for each directory user at their first
	// login; nil means none is created.
	Accounts storage.Accounts
	// Registerer receives the directory's metrics (metrics.go); nil means
	// none are registered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Directory is an auth.Verifier backed by LDAP.
type Directory struct {
	cfg     Config
	tls     *tls.Config
	urls    []*url.URL
	log     *slog.Logger
	metrics *metrics

	// idle holds the pooled connections, bound as the service account
	// (pool.go); downUntil (Unix ns) is when to try the servers again
	// after none answered.
	idle      chan *conn
	downUntil atomic.Int64
	// logins is the cache of recent good logins, groups that of users'
	// groups.
	logins *loginCache
	groups groupCache
	// inChain is whether the directory takes LDAP_MATCHING_RULE_IN_CHAIN
	// (Active Directory), found out at the first group lookup.
	inChain inChainSupport
}

var _ auth.Verifier = (*Directory)(nil)

// New checks cfg and reads the CA file.
func New(cfg Config) (*Directory, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("ldap: no directory URL (--ldap-url)")
	}
	if cfg.UserBase == "" {
		return nil, errors.New("ldap: no user base DN (--ldap-user-base)")
	}
	if strings.Count(cfg.UserFilter, "%u") == 0 {
		return nil, fmt.Errorf("ldap: user filter %q has no %%u (--ldap-user-filter)", cfg.UserFilter)
	}
	if _, err := ldap.CompileFilter(strings.ReplaceAll(cfg.UserFilter, "%u", "x")); err != nil {
		return nil, fmt.Errorf("ldap: user filter %q: %w", cfg.UserFilter, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.GroupAttr == "" {
		cfg.GroupAttr = DefaultGroupAttr
	}
	if cfg.CacheTTL < 0 {
		return nil, fmt.Errorf("ldap: cache TTL %v is negative (--ldap-cache-ttl)", cfg.CacheTTL)
	}
	if cfg.GroupBase != "" {
		if _, err := ldap.ParseDN(cfg.GroupBase); err != nil {
			return nil, fmt.Errorf("ldap: group base %q: %w (--ldap-group-base)", cfg.GroupBase, err)
		}
	}
	if !validAttr(cfg.GroupAttr) {
		return nil, fmt.Errorf("ldap: group attribute %q is not an attribute name (--ldap-group-attr)", cfg.GroupAttr)
	}
	d := &Directory{cfg: cfg, log: cfg.Logger, tls: tlspolicy.Client(""),
		idle: make(chan *conn, cfg.PoolSize), logins: newLoginCache(cfg.CacheTTL, cfg.Now)}
	d.groups.entries = make(map[string]groupEntry)
	d.metrics = newMetrics(cfg.Registerer, d)
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		d.tls.RootCAs = pool
	}
	for _, raw := range cfg.URLs {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
			return nil, fmt.Errorf("ldap: invalid URL %q: want ldaps://HOST[:PORT] or ldap://HOST[:PORT] (StartTLS)", raw)
		}
		d.urls = append(d.urls, u)
	}
	return d, nil
}

// Verify searches for username's entry and binds as it with password, on
// a pooled connection. When the directory cannot be asked, the cache of
// recent good logins answers (cache.go).
func (d *Directory) Verify(ctx context.Context, username, password string) error {
	if password == "" {
		// An empty password would be an unauthenticated bind (RFC 4513
		// §5.1.2), which many servers accept.
		return fmt.Errorf("%w: empty password", auth.ErrNotAuthorized)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	err := d.withConn(ctx, func(c *conn) error { return d.bindUser(c, username, password) })
	switch {
	case err == nil:
		d.logins.put(username, password)
		return d.provision(ctx, username)
	case errors.Is(err, auth.ErrNotAuthorized):
		d.logins.forget(username)
		return err
	}
	switch seen, ok := d.logins.check(username, password); {
	case ok:
		d.metrics.cache.WithLabelValues("hit").Inc()
		d.log.Info("ldap: directory unavailable; login accepted from the cache of recent logins", "user", username)
		return nil
	case seen:
		d.metrics.cache.WithLabelValues("wrong_password").Inc()
		return fmt.Errorf("%w: wrong password (checked against the cache of recent logins: %w)", auth.ErrNotAuthorized, err)
	default:
		if d.cfg.CacheTTL > 0 {
			d.metrics.cache.WithLabelValues("unseen").Inc()
		}
		return err
	}
}

// bindUser finds username's entry and binds as it with password, then
// gives the connection its search identity back.
func (d *Directory) bindUser(c *conn, username, password string) error {
	entry, err := d.findUser(c, username, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	err = c.Bind(entry.DN, password)
	// Whatever the answer, the connection is now the user's (or
	// anonymous, after a failure): the service account binds again
	// before it serves another search.
	c.dirty = true
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		d.metrics.observe("bind", "refused", start)
		return fmt.Errorf("%w: wrong password for %s", auth.ErrNotAuthorized, entry.DN)
	case err != nil:
		d.metrics.observe("bind", "error", start)
		return fmt.Errorf("%w: binding as %s: %w", auth.ErrUnavailable, entry.DN, err)
	}
	d.metrics.observe("bind", "ok", start)
	return nil
}

// findUser searches for username's entry (escaped into the user filter,
// RFC 4515 §3), asking for attrs (none: "1.1", RFC 4511 §4.5.1.8).
func (d *Directory) findUser(c *conn, username string, attrs []string) (*ldap.Entry, error) {
	if len(attrs) == 0 {
		attrs = []string{"1.1"}
	}
	filter := strings.ReplaceAll(d.cfg.UserFilter, "%u", ldap.EscapeFilter(username))
	start := time.Now()
	res, err := c.Search(ldap.NewSearchRequest(d.cfg.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.cfg.Timeout/time.Second)+1, false, filter, attrs, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		d.metrics.observe("search", "error", start)
		return nil, fmt.Errorf("%w: searching %s for %s: %w", auth.ErrUnavailable, d.cfg.UserBase, filter, err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		d.metrics.observe("search", "refused", start)
		return nil, fmt.Errorf("%w: no entry %s under %s", auth.ErrNotAuthorized, filter, d.cfg.UserBase)
	case len(res.Entries) > 1:
		d.metrics.observe("search", "refused", start)
		d.log.Warn("ldap: user filter matches several entries; refusing", "filter", filter)
		return nil, fmt.Errorf("%w: %s matches several entries", auth.ErrNotAuthorized, filter)
	}
	d.metrics.observe("search", "ok", start)
	return res.Entries[0], nil
}

// provision creates the account of a directory user at their first login.
func (d *Directory) provision(ctx context.Context, username string) error {
	if d.cfg.Accounts == nil {
		return nil
	}
	_, err := d.cfg.Accounts.Account(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		err = d.cfg.Accounts.CreateAccount(ctx, username, nil, nil, nil)
		if errors.Is(err, storage.ErrExists) {
			err = nil // a concurrent first login
		}
		if err == nil {
			d.log.Info("ldap: account created for directory user", "user", username)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: account of %s: %w", auth.ErrUnavailable, username, err)
	}
	return nil
}
