package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
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
	roots, err := n.peerRoots()
	if err != nil {
		return nil, err
	}
	return &xmpp.S2SConfig{
		DialbackSecret:    secret,
		SecureAuth:        cfg.S2SSecureAuth,
		Bidi:              cfg.S2SBidi,
		Roots:             roots,
		Routes:            cfg.S2SRoutes,
		Allow:             cfg.S2SAllow,
		Deny:              cfg.S2SDeny,
		IdleTimeout:       cfg.S2SIdleTimeout,
		ConnectTimeout:    cfg.S2SConnectTimeout,
		QueueLength:       cfg.S2SQueue,
		MaxLinksPerDomain: cfg.S2SMaxLinks,
		StanzaRate:        cfg.S2SStanzaRate,
		StanzaBurst:       cfg.S2SStanzaBurst,
	}, nil
}

// s2sTLSAddr is where to listen for servers with direct TLS: nowhere
// when federation is off (--xmpp-s2s empty).
func s2sTLSAddr(cfg *config.Config) string {
	if cfg.XMPPS2S == "" {
		return ""
	}
	return cfg.XMPPS2STLS
}

// s2sStatusEvery is how often a node publishes its server-to-server link
// table for `parleyctl s2s list`.
const s2sStatusEvery = 5 * time.Second

// publishS2S writes the node's link table to the database every
// s2sStatusEvery until ctx ends, then an empty one (the node has no links
// once stopped). A failed write is logged and tried again next time.
func publishS2S(ctx context.Context, store storage.FederationStatus, node string, srv *xmpp.Server, log *slog.Logger) error {
	put := func(ctx context.Context, links []xmpp.S2SLink) {
		st := storage.S2SStatus{Node: node, Written: time.Now().UTC(), Links: []storage.S2SLink{}}
		for _, l := range links {
			st.Links = append(st.Links, storage.S2SLink{Direction: l.Direction, Local: l.Local, Remote: l.Remote,
				State: l.State, Auth: l.Auth, Queued: l.Queued, Since: l.Since.UTC(), StanzasIn: l.In, StanzasOut: l.Out})
		}
		if err := store.PutS2SStatus(ctx, st); err != nil {
			log.Warn("federation: publishing the link table", "err", err)
		}
	}
	t := time.NewTicker(s2sStatusEvery)
	defer t.Stop()
	for {
		put(ctx, srv.S2SLinks())
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			put(sctx, nil)
			return nil
		case <-t.C:
		}
	}
}

// peerRoots are the CAs other servers' certificates verify against: the
// system's and --s2s-ca (XMPP links; SIP peers trusted by name,
// --sip-trusted-peers).
func (n *node) peerRoots() (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		n.log.Warn("federation: no system CA certificates; only --s2s-ca is trusted", "err", err)
		roots = x509.NewCertPool()
	}
	if ca := n.cfg.S2SCA; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--s2s-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--s2s-ca %s: no PEM certificate in it", ca)
		}
	}
	return roots, nil
}
