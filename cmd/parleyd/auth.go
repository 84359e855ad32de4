package main

import (
	"fmt"
	"log/slog"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/storage"
)

// passwordVerifier is the --auth backend: nil for internal (the stored
// SCRAM verifiers), the directory for ldap.
func passwordVerifier(cfg *config.Config, accounts storage.Accounts, log *slog.Logger) (auth.Verifier, error) {
	if cfg.Auth != "ldap" {
		return nil, nil
	}
	d, err := ldapauth.New(ldapauth.Config{
		URLs: cfg.LDAPURLs, CAFile: cfg.LDAPCA,
		BindDN: cfg.LDAPBindDN, BindPassword: cfg.LDAPBindPassword,
		UserBase: cfg.LDAPUserBase, UserFilter: cfg.LDAPUserFilter, Timeout: cfg.LDAPTimeout,
		Accounts: accounts, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("--auth ldap: %w", err)
	}
	return d, nil
}
