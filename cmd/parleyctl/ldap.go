package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
)

// ldapKeys are the --auth ldap keys, which parleyctl takes as parleyd does
// (the same config file serves both): with them it resolves directory
// groups (group:NAME in policy) and checks directory users.
var ldapKeys = []string{"auth", "ldap-url", "ldap-ca", "ldap-bind-dn", "ldap-bind-password", "ldap-user-base",
	"ldap-user-filter", "ldap-group-base", "ldap-group-attr", "ldap-cache-ttl", "ldap-pool-size", "ldap-timeout"}

// directory opens the --auth ldap directory, or returns nil with --auth
// internal.
func (c *ctl) directory() (*ldapauth.Directory, error) {
	if c.dir != nil {
		return c.dir, nil
	}
	lc, ok := c.cfg.LDAP()
	if !ok {
		return nil, nil
	}
	lc.Logger = slog.New(slog.DiscardHandler)
	d, err := ldapauth.New(lc)
	if err != nil {
		return nil, fmt.Errorf("--auth ldap: %w", err)
	}
	c.dir = d
	return d, nil
}

// groups is the engine's muc.Groups: the directory, or none.
func (c *ctl) groups() (muc.Groups, error) {
	d, err := c.directory()
	if d == nil || err != nil {
		return nil, err
	}
	return d, nil
}

// ldapCheck shows a directory user's entry and groups: parleyctl ldap
// check USER.
func ldapCheck(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	d, err := c.directory()
	if err != nil {
		return err
	}
	if d == nil {
		return errors.New("no directory: give --auth ldap and the --ldap-* settings parleyd uses")
	}
	name, err := auth.NormalizeUsername(args[0])
	if err != nil {
		return err
	}
	dn, groups, err := d.Lookup(ctx, name)
	switch {
	case errors.Is(err, auth.ErrNotAuthorized):
		return fmt.Errorf("no directory user %s: %w", name, err)
	case err != nil:
		return err
	}
	fmt.Fprintf(c.stdout, "user    %s@%s\nentry   %s\n", name, c.cfg.Domain, dn)
	if len(groups) == 0 {
		fmt.Fprintln(c.stdout, "groups  (none)")
	}
	for i, g := range groups {
		label := "groups "
		if i > 0 {
			label = "       "
		}
		name := "group:" + g.Name
		if g.Name == "" {
			name = "(outside --ldap-group-base)"
		}
		fmt.Fprintf(c.stdout, "%s %s  %s\n", label, name, g.DN)
	}
	return nil
}

// userSIPPassword sets the SIP digest password of an account through
// the admin API (admin.API.SetSIPPassword: locally, or on --server):
// parleyctl user sip-password NAME [--password PW]. For a directory user
// (--auth ldap), whose directory password SIP digest cannot check, this
// is a second password, for SIP only; the account is made if the user has
// not logged in yet. The account's XMPP credentials are kept.
func userSIPPassword(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	return setUserPassword(ctx, c, fs, args[0], admin.API.SetSIPPassword, "set the SIP password of %s\n")
}
