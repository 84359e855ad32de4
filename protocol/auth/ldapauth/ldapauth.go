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
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// DefaultTimeout bounds one login's talk with the directory.
const DefaultTimeout = 5 * time.Second

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
	// Accounts receives an account for each directory user at their first
	// login; nil means none is created.
	Accounts storage.Accounts
	Logger   *slog.Logger
}

// Directory is an auth.Verifier backed by LDAP.
type Directory struct {
	cfg  Config
	tls  *tls.Config
	urls []*url.URL
	log  *slog.Logger
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
	d := &Directory{cfg: cfg, log: cfg.Logger, tls: &tls.Config{MinVersion: tls.VersionTLS12}}
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

// Verify searches for username's entry and binds as it with password.
func (d *Directory) Verify(ctx context.Context, username, password string) error {
	if password == "" {
		// An empty password would be an unauthenticated bind (RFC 4513
		// §5.1.2), which many servers accept.
		return fmt.Errorf("%w: empty password", auth.ErrNotAuthorized)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var errs []error
	for _, u := range d.urls {
		err := d.verifyAt(ctx, u, username, password)
		if err == nil || errors.Is(err, auth.ErrNotAuthorized) {
			if err == nil {
				return d.provision(ctx, username)
			}
			return err
		}
		d.log.Warn("ldap: directory server failed", "url", u.Redacted(), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", auth.ErrUnavailable, errors.Join(errs...))
}

// verifyAt asks one server. Its error wraps auth.ErrNotAuthorized when the
// server answered no.
func (d *Directory) verifyAt(ctx context.Context, u *url.URL, username, password string) error {
	deadline, _ := ctx.Deadline()
	dialer := &net.Dialer{Deadline: deadline}
	cfg := d.tls.Clone()
	cfg.ServerName = u.Hostname()
	conn, err := ldap.DialURL(u.String(), ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(cfg))
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	conn.SetTimeout(time.Until(deadline))
	// The connection's reads have no deadline of their own: close it when
	// the login's time is up, which fails the request in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if u.Scheme == "ldap" {
		if err := conn.StartTLS(cfg); err != nil {
			return fmt.Errorf("StartTLS: %w", err)
		}
	}
	if d.cfg.BindDN != "" {
		if err := conn.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
			return fmt.Errorf("binding as %s: %w", d.cfg.BindDN, err)
		}
	}
	filter := strings.ReplaceAll(d.cfg.UserFilter, "%u", ldap.EscapeFilter(username))
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(time.Until(deadline)/time.Second)+1, false, filter, []string{"1.1"}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return fmt.Errorf("searching %s for %s: %w", d.cfg.UserBase, filter, err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		return fmt.Errorf("%w: no entry %s under %s", auth.ErrNotAuthorized, filter, d.cfg.UserBase)
	case len(res.Entries) > 1:
		d.log.Warn("ldap: user filter matches several entries; refusing", "filter", filter)
		return fmt.Errorf("%w: %s matches several entries", auth.ErrNotAuthorized, filter)
	}
	if err := conn.Bind(res.Entries[0].DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return fmt.Errorf("%w: wrong password for %s", auth.ErrNotAuthorized, res.Entries[0].DN)
		}
		return fmt.Errorf("binding as %s: %w", res.Entries[0].DN, err)
	}
	return nil
}

// provision creates the account of a directory user at their first login.
func (d *Directory) provision(ctx context.Context, username string) error {
	if d.cfg.Accounts == nil {
		return nil
	}
	_, err := d.cfg.Accounts.Account(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		err = d.cfg.Accounts.CreateAccount(ctx, username, nil)
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
