package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
)

// federation returns the XMPP server-to-server settings, or nil when
// --xmpp-s2s is empty (federation off both ways). The dialback secret is
// kept in the content database, so that every node of a pool, and this one
// after a restart, verifies the keys any of them made (XEP-0185); peer
// certificates verify against the system's CAs and --s2s-ca.
func (n *node) federation(ctx context.Context, store storage.Store) (*xmpp.S2SConfig, error) {
	cfg := n.cfg
	if cfg.XMPPS2S == "" {
		return nil, nil
	}
	secret, err := store.SharedSecret(ctx, "dialback", func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	})
	if err != nil {
		return nil, fmt.Errorf("federation: dialback secret: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		n.log.Warn("federation: no system CA certificates; only --s2s-ca is trusted", "err", err)
		roots = x509.NewCertPool()
	}
	if cfg.S2SCA != "" {
		pem, err := os.ReadFile(cfg.S2SCA)
		if err != nil {
			return nil, fmt.Errorf("--s2s-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--s2s-ca %s: no PEM certificate in it", cfg.S2SCA)
		}
	}
	return &xmpp.S2SConfig{
		DialbackSecret: secret,
		SecureAuth:     cfg.S2SSecureAuth,
		Roots:          roots,
		Routes:         cfg.S2SRoutes,
		Allow:          cfg.S2SAllow,
		Deny:           cfg.S2SDeny,
		IdleTimeout:    cfg.S2SIdleTimeout,
		ConnectTimeout: cfg.S2SConnectTimeout,
		QueueLength:    cfg.S2SQueue,
	}, nil
}
