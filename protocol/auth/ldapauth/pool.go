package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/parleychat/parley/protocol/auth"
)

// Connection pool: searches (and the user binds that follow them) run on
// connections already set up — TCP, TLS (ldaps or StartTLS), bound as the
// service account — kept idle between logins, at most Config.PoolSize of
// them. A login takes one (or sets one up, trying the URLs in order), and
// gives it back when done if it is still usable: after a user bind the
// service account binds again first (an anonymous searcher's connection
// is closed instead, since LDAP has no way back to anonymous short of a
// new bind). A pooled connection that turns out to be dead (the server
// closed it while idle) is dropped and the request tried once more on a
// fresh one.

// RetryAfter is how long the directory is left alone after no server
// could be reached: logins and group lookups in that time are answered
// from the caches (or refused as unavailable) without waiting.
const RetryAfter = 5 * time.Second

// conn is one connection to the directory.
type conn struct {
	*ldap.Conn
	url *url.URL
	// dirty: not bound as the service account (a user bound on it).
	dirty bool
}

// withConn runs fn on a pooled or new connection within ctx's deadline.
// fn's errors wrap auth.ErrNotAuthorized or auth.ErrUnavailable; so do
// withConn's.
func (d *Directory) withConn(ctx context.Context, fn func(*conn) error) error {
	for attempt := 0; ; attempt++ {
		c, pooled, err := d.get(ctx)
		if err != nil {
			return err
		}
		deadline, _ := ctx.Deadline()
		c.SetTimeout(time.Until(deadline))
		// The connection's reads have no deadline of their own: close it
		// when the request's time is up, which fails the request in
		// progress.
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = fn(c)
		stop()
		d.put(c)
		if err != nil && pooled && attempt == 0 && ctx.Err() == nil && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			continue
		}
		if err != nil && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && !errors.Is(err, auth.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
		}
		return err
	}
}

// get takes an idle connection, or sets one up. While the directory is
// marked down (no server answered a moment ago, RetryAfter) it does not
// try: the caller answers from its caches at once instead of every login
// waiting --ldap-timeout on a hung directory.
func (d *Directory) get(ctx context.Context) (c *conn, pooled bool, err error) {
	for {
		select {
		case c := <-d.idle:
			if c.IsClosing() {
				continue
			}
			return c, true, nil
		default:
		}
		if until := d.downUntil.Load(); d.cfg.Now().UnixNano() < until {
			return nil, false, fmt.Errorf("%w: no directory server answered a moment ago; trying again after %s",
				auth.ErrUnavailable, time.Unix(0, until).UTC().Format(time.RFC3339))
		}
		c, err := d.dial(ctx)
		return c, false, err
	}
}

// put gives a connection back to the pool, or closes it.
func (d *Directory) put(c *conn) {
	if c.dirty && !c.IsClosing() {
		if d.cfg.BindDN == "" {
			c.Close()
			return
		}
		start := time.Now()
		if err := c.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
			d.metrics.observe("connect", "error", start)
			c.Close()
			return
		}
		c.dirty = false
	}
	if c.IsClosing() {
		return
	}
	c.SetTimeout(d.cfg.Timeout)
	select {
	case d.idle <- c:
	default:
		c.Close()
	}
}

// Close closes the idle connections.
func (d *Directory) Close() {
	for {
		select {
		case c := <-d.idle:
			c.Close()
		default:
			return
		}
	}
}

// dial sets up a connection, trying the URLs in order: one that cannot be
// reached, does not answer in time, fails TLS or refuses the service
// account is skipped for the next.
func (d *Directory) dial(ctx context.Context) (*conn, error) {
	var errs []error
	for _, u := range d.urls {
		start := time.Now()
		c, err := d.dialURL(ctx, u)
		if err == nil {
			d.metrics.observe("connect", "ok", start)
			return c, nil
		}
		d.metrics.observe("connect", "error", start)
		d.log.Warn("ldap: directory server failed", "url", u.Redacted(), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	d.downUntil.Store(d.cfg.Now().Add(RetryAfter).UnixNano())
	return nil, fmt.Errorf("%w: %w", auth.ErrUnavailable, errors.Join(errs...))
}

func (d *Directory) dialURL(ctx context.Context, u *url.URL) (*conn, error) {
	deadline, _ := ctx.Deadline()
	dialer := &net.Dialer{Deadline: deadline}
	cfg := d.tls.Clone()
	cfg.ServerName = u.Hostname()
	lc, err := ldap.DialURL(u.String(), ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	lc.SetTimeout(time.Until(deadline))
	stop := context.AfterFunc(ctx, func() { lc.Close() })
	defer stop()
	if u.Scheme == "ldap" {
		if err := lc.StartTLS(cfg); err != nil {
			lc.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if d.cfg.BindDN != "" {
		if err := lc.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
			lc.Close()
			return nil, fmt.Errorf("binding as %s: %w", d.cfg.BindDN, err)
		}
	}
	return &conn{Conn: lc, url: u}, nil
}
