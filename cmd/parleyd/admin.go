package main

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/sip"
	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
)

// adminEngine is the room engine as the admin service uses it: the front
// doors' rooms (in a pool, host commands run on each room's host) and
// this node's engine for the durable changes only it makes.
type adminEngine struct {
	muc.Rooms
	engine *muc.Engine
}

func (a adminEngine) DeleteCategory(ctx context.Context, actor, name string) error {
	return a.engine.DeleteCategory(ctx, actor, name)
}
func (a adminEngine) PutHold(ctx context.Context, actor string, h storage.Hold) error {
	return a.engine.PutHold(ctx, actor, h)
}
func (a adminEngine) DeleteHold(ctx context.Context, actor, kind, name, reason string) error {
	return a.engine.DeleteHold(ctx, actor, kind, name, reason)
}
func (a adminEngine) Holds(ctx context.Context) ([]storage.Hold, error) { return a.engine.Holds(ctx) }
func (a adminEngine) ClearRoom(ctx context.Context, actor, room string, before time.Time) (int, error) {
	return a.engine.ClearRoom(ctx, actor, room, before)
}

// adminNode is what the admin API asks the running node: its XMPP
// sessions and SIP registrations, and its metrics.
type adminNode struct {
	xmpp    *xmpp.Server
	sip     *sip.Server
	reg     prometheus.Gatherer
	node    string
	started time.Time
}

func (a adminNode) Sessions() []admin.Session {
	var out []admin.Session
	for _, s := range a.xmpp.OnlineSessions() {
		out = append(out, admin.Session{Kind: "xmpp", JID: s.JID, Available: s.Available, Detached: s.Detached})
	}
	for _, b := range a.sip.Registrations() {
		out = append(out, admin.Session{Kind: "sip", JID: strings.TrimPrefix(b.AOR, "sip:"), Contact: b.URI})
	}
	return out
}

func (a adminNode) Kick(username string) int {
	return a.xmpp.Kick(username) + a.sip.Unregister(username)
}

func (a adminNode) Metrics() admin.Metrics {
	series, _ := admin.SummarizeMetrics(a.reg)
	return admin.Metrics{Node: a.node, Uptime: time.Since(a.started).Seconds(), Series: series}
}

// adminHandler serves the web admin console and its API (package admin)
// on the HTTPS listener.
func adminHandler(cfg *config.Config, store storage.Store, rooms muc.Rooms, engine *muc.Engine, srv *xmpp.Server,
	sipSrv *sip.Server, verifier auth.Verifier, dir *ldapauth.Directory, reg *prometheus.Registry, node string, n *node) (*admin.Handler, error) {
	if verifier == nil {
		verifier = auth.StoredVerifier{Accounts: store}
	}
	e := adminEngine{Rooms: rooms, engine: engine}
	acfg := admin.Config{
		Domain: cfg.Domain, Store: store,
		Engine:                 func(context.Context) (admin.Engine, error) { return e, nil },
		Data:                   cfg.Data,
		Compliance:             cfg.Compliance,
		ComplianceStorage:      cfg.ComplianceStorage,
		ComplianceStorageShown: config.RedactDSN(cfg.ComplianceStorage),
		Node:                   adminNode{xmpp: srv, sip: sipSrv, reg: reg, node: node, started: time.Now()},
		ExternalAuth:           cfg.Auth == "ldap",
		Directory:              cfg.Auth == "ldap",
	}
	if dir != nil {
		// Groups given for policy must exist; a SIP password is set
		// only for a user the directory has.
		acfg.Groups, acfg.DirectoryUsers = dir, dir
	}
	svc := admin.New(acfg)
	return admin.NewHandler(admin.HandlerConfig{
		Service: svc, Domain: cfg.Domain, Admins: cfg.Admins, Verifier: verifier,
		LoginsPerMinute: cfg.AdminLoginsPerMinute, SessionIdle: cfg.AdminSessionIdle, MaxSessions: cfg.AdminMaxSessions,
		Registerer: reg, Logger: n.log.With("part", "admin"),
	})
}

// adminsText names the administrators for the start-up message.
func adminsText(admins []string) string {
	if len(admins) == 0 {
		return "nobody yet (--admins)"
	}
	return "--admins " + strings.Join(admins, ",")
}
