package main

import (
	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/protocol/xmpp"
)

// reload re-reads the configuration (the --config file; flags given on the
// command line still win) and the TLS certificate, on SIGHUP, without
// dropping anything that runs:
//
//   - the certificate (--tls-cert and --tls-key, renewed in place or
//     named anew, or the self-signed one) is served from the next TLS
//     handshake on, on every TLS listener; sessions keep theirs;
//   - the keys marked live in the key table (the README says "changes on
//     SIGHUP"): the log level, the XMPP limits (xmpp.LiveLimits: new
//     streams, logins and bindings get them), the upload limits and the
//     administrators (--admins: the admin API and XEP-0133 commands check
//     the new list from the next request on);
//   - every other key that differs from what parleyd started with is
//     logged as needing a restart, at each reload until it has had one.
//
// A configuration that does not load changes nothing; a certificate that
// does not load leaves the current one in place.
func (n *node) reload() {
	log := n.log
	defer n.systemd.reloading()()
	cfg, err := n.loader.Load()
	if err != nil {
		log.Error("reload: the configuration did not load; nothing changed", "err", err)
		return
	}
	changed, _ := config.Changes(n.cfg, cfg)
	_, restart := config.Changes(n.started, cfg)

	cert, err := loadCertificate(cfg, log)
	if err != nil {
		log.Error("reload: the TLS certificate did not load; the current one stays", "err", err)
		cert = n.certs.get()
	} else {
		n.certs.set(cert)
	}
	if err := n.xmpp.SetLiveLimits(xmppLiveLimits(cfg)); err != nil {
		log.Error("reload: XMPP limits not changed", "err", err)
	}
	if n.files != nil {
		n.files.SetLimits(cfg.UploadMaxSize, cfg.UploadQuota)
	}
	n.xmpp.SetAdmins(cfg.Admins)
	if n.console != nil {
		n.console.SetAdmins(cfg.Admins)
	}
	n.level.Set(cfg.LogLevel)
	n.cfg = cfg

	log.Info("reloaded", "config", cfg.File, "changed", changed,
		"certificate", cert.certFile, "sha256", cert.fingerprint(), "not_after", cert.cert.Leaf.NotAfter)
	if len(restart) > 0 {
		log.Warn("restart needed: these settings differ from the ones parleyd started with and cannot change while it runs",
			"keys", restart)
	}
}

// xmppLiveLimits are the XMPP front door's limits that cfg sets and a
// reload changes.
func xmppLiveLimits(cfg *config.Config) xmpp.LiveLimits {
	return xmpp.LiveLimits{
		MaxStanzaSize:       cfg.MaxStanzaSize,
		UnauthTimeout:       cfg.UnauthTimeout,
		MaxAuthFailures:     cfg.MaxAuthFailures,
		AuthFailureDelay:    cfg.AuthFailureDelay,
		MaxOfflineMessages:  cfg.MaxOfflineMessages,
		MaxResourcesPerUser: cfg.MaxResources,
	}
}
