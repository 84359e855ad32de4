package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/storage"
)

// directory is the --auth ldap directory: it checks passwords (the XMPP
// front door's auth.Verifier) and resolves the groups policy names (the
// room engine's muc.Groups). nil with --auth internal (the stored SCRAM
// verifiers; no groups).
func directory(cfg *config.Config, accounts storage.Accounts, reg prometheus.Registerer, log *slog.Logger) (*ldapauth.Directory, error) {
	lc, ok := cfg.LDAP()
	if !ok {
		return nil, nil
	}
	lc.Accounts, lc.Logger, lc.Registerer = accounts, log, reg
	d, err := ldapauth.New(lc)
	if err != nil {
		return nil, fmt.Errorf("--auth ldap: %w", err)
	}
	return d, nil
}

// groupRecheck is how often the rooms whose policy names a directory group
// are rechecked: every --ldap-cache-ttl (when the cached groups may have
// changed), at least every second, and every minute when nothing is cached.
func groupRecheck(ttl time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return time.Minute
	case ttl < time.Second:
		return time.Second
	}
	return ttl
}
