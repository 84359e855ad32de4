package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/pool"
	"github.com/parleychat/parley/storage"
)

// roomService builds the room engine and, in pool mode, joins the pool:
// the front doors then use the pool, which runs each room's commands on
// the node hosting it (DESIGN §4). The returned Files engine is always the
// local one: files live in the shared database. sessions reports this
// node's client sessions (set once the XMPP server exists).
func (n *node) roomService(ctx context.Context, store storage.Store, reg prometheus.Registerer, groups muc.Groups, sessions func() int) (muc.Rooms, *muc.Engine, *pool.Pool, error) {
	cfg, log := n.cfg, n.log
	if cfg.Pool == "" {
		secret, err := loadSecret(filepath.Join(cfg.Data, "occupant-id.key"))
		if err != nil {
			return nil, nil, nil, err
		}
		e, err := muc.New(ctx, muc.Config{Store: store, Logger: log, Secret: secret, Registerer: reg, Domain: cfg.Domain, Groups: groups, MaxRoomsPerUser: cfg.MaxRoomsPerUser,
			JoinsPerMinute: cfg.JoinsPerMinute, ArchiveQueriesPerMinute: cfg.ArchiveQueriesPerMinute, SearchesPerMinute: cfg.SearchesPerMinute, GroupCommitWait: cfg.GroupCommitWait})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("room engine: %w", err)
		}
		return e, e, nil, nil
	}
	ps, ok := store.(storage.PoolStore)
	if !ok {
		return nil, nil, nil, fmt.Errorf("--pool: a pool needs one database shared by its nodes: --storage must be MySQL (mysql:USER@tcp(HOST:PORT)/DB), not %s", redactDSN(cfg.Storage))
	}
	if cfg.Compliance && !strings.HasPrefix(cfg.ComplianceStorage, "mysql:") {
		return nil, nil, nil, fmt.Errorf("--pool: the compliance database must be shared by the pool's nodes: --compliance-storage must be MySQL, not %s", redactDSN(cfg.ComplianceStorage))
	}
	name := cfg.Node
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--node: no name given and no host name: %w", err)
		}
		name = h
	}
	// Occupant ids must be the same on every node: the key lives in the
	// shared database.
	secret, err := ps.SharedSecret(ctx, "occupant-id", func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var p *pool.Pool
	e, err := muc.New(ctx, muc.Config{Store: store, Logger: log, Secret: secret, Registerer: reg, Domain: cfg.Domain, Groups: groups, MaxRoomsPerUser: cfg.MaxRoomsPerUser,
		JoinsPerMinute: cfg.JoinsPerMinute, ArchiveQueriesPerMinute: cfg.ArchiveQueriesPerMinute, SearchesPerMinute: cfg.SearchesPerMinute, GroupCommitWait: cfg.GroupCommitWait,
		Fence: func(room string) (*storage.HostFence, error) {
			if p == nil {
				return nil, errors.New("pool: not started")
			}
			return p.Fence(room)
		}})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("room engine: %w", err)
	}
	p, err = pool.Start(ctx, pool.Config{
		Bus: pool.BusConfig{Node: name, Listen: cfg.Pool, Peers: cfg.PoolPeers, Secret: cfg.PoolSecret,
			CertFile: cfg.PoolCert, KeyFile: cfg.PoolKey, CAFile: cfg.PoolCA, ExternalURL: cfg.PoolNATS},
		Role: cfg.NodeRole, MaxActive: cfg.PoolMaxActive, ClientAddr: clientAddr(cfg.PoolClientAddr, cfg.Pool, cfg.XMPPC2S),
		Store: ps, Engine: e, Logger: log, Sessions: sessions,
		NodeTimeout: cfg.PoolNodeTimeout, HeartbeatInterval: cfg.PoolNodeTimeout / 6, DBStaleAfter: 2 * cfg.PoolNodeTimeout,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--pool %s: %w", cfg.Pool, err)
	}
	return p.Rooms(), e, p, nil
}

// clientAddr is where clients of other nodes are sent to reach this one:
// as configured, else the pool address's host with the c2s port.
func clientAddr(configured, poolAddr, c2s string) string {
	if configured != "" {
		return configured
	}
	host, _, err := net.SplitHostPort(poolAddr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(c2s)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, port)
}
