package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/singleflight"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Roles a node is configured with.
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// Defaults for Config fields left at their zero value (parleyd's
// --pool-max-active and --pool-node-timeout show them).
const (
	DefaultMaxActive   = 4 // the seed product's 4 active nodes
	DefaultNodeTimeout = 3 * time.Second
)

// Config is a node's pool configuration.
type Config struct {
	Bus BusConfig
	// Role is RoleActive or RoleStandby.
	Role string
	// MaxActive is how many nodes serve clients and host rooms at once
	// (the seed product's 4).
	MaxActive int
	// ClientAddr is where XMPP clients reach this node (for
	// <see-other-host/> on other nodes).
	ClientAddr string
	// Store is the pool's shared database (MySQL).
	Store storage.PoolStore
	// Engine is this node's room engine; it must have been built with
	// Config.Fence set to Pool.Fence (see NewEngineConfig).
	Engine *muc.Engine
	Logger *slog.Logger
	// Sessions reports this node's client session count.
	Sessions func() int
	// HeartbeatInterval is how often the node announces itself on the bus;
	// NodeTimeout is how long a silent node stays alive in others' view.
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration
	// StatusInterval is how often the node writes its status to the
	// database; a status older than DBStaleAfter is a dead node's.
	StatusInterval time.Duration
	DBStaleAfter   time.Duration
	// CallTimeout bounds one forwarded command.
	CallTimeout time.Duration
}

func (c *Config) defaults() error {
	if c.Bus.Node == "" {
		return errors.New("pool: a node name (--node) is required")
	}
	if c.Role == "" {
		c.Role = RoleActive
	}
	if c.Role != RoleActive && c.Role != RoleStandby {
		return fmt.Errorf("pool: node role %q: want active or standby", c.Role)
	}
	if c.MaxActive <= 0 {
		c.MaxActive = DefaultMaxActive
	}
	if c.Store == nil || c.Engine == nil {
		return errors.New("pool: Store and Engine are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Sessions == nil {
		c.Sessions = func() int { return 0 }
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = DefaultNodeTimeout
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	if c.DBStaleAfter <= 0 {
		c.DBStaleAfter = 6 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	return nil
}

// Pool is this node's membership of the pool. It implements muc.RoomHost:
// host commands run on the room's host, wherever it is (Rooms adds this
// node's engine for the records).
type Pool struct {
	cfg  Config
	node string
	log  *slog.Logger
	e    *muc.Engine
	bus  *bus
	subs []*nats.Subscription

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	claims singleflight.Group // one claim per room at a time
	syncs  singleflight.Group // one resync per room at a time

	mu         sync.Mutex
	view       map[string]peer // other nodes, from their heartbeats
	dbFresh    map[string]bool // nodes whose database status is fresh
	statuses   []storage.NodeStatus
	active     bool // this node hosts rooms and serves clients
	majority   bool
	liveActive map[string]bool                     // the active nodes in this node's view
	hosted     map[string]*hosting                 // rooms this node hosts
	hostCache  map[string]string                   // room → its host, as last found
	synced     map[string]string                   // room → the host our sessions are known to
	local      map[string]map[string]*localSession // room → address → session
	sinks      map[string]*tracker                 // address → its tracking sink
	rosters    map[string]map[string]muc.Occupant  // room → nick → occupant, as seen here
	remote     map[string]map[remoteKey]time.Time  // node → its sessions in rooms hosted here → when declared
	declared   map[string]time.Time                // node → when it first declared a session here (remote)
	// departed are sessions of a node's previous incarnation (it was
	// restarted within the node timeout), for onChange to remove.
	departed    map[string]map[remoteKey]time.Time
	evicted     map[string]map[string]bool // lost node → rooms hosted here it was removed from
	busRTT      time.Duration
	dbRTT       time.Duration
	startedAt   time.Time
	cpu         cpuSampler // used by refreshStatuses only
	changed     chan struct{}
	im          *interop.Router                   // this node's 1:1 message router (IM)
	imDoor      interop.Deliverer                 // the pool's own Deliverer in it
	door        StanzaDoor                        // this node's XMPP front door
	served      bool                              // active as of the last onChange
	watches     map[string]map[string]*localWatch // room → address → this node's watches
	hostWatches map[string]func()                 // watch address → stop, for watches of rooms hosted here
}

// hosting is a room this node hosts under a fence. ready is closed once
// the other nodes have re-declared their sessions after the claim.
type hosting struct {
	fence storage.HostFence
	ready chan struct{}
}

type remoteKey struct{ room, address string }

// Start joins the pool: it starts the bus, announces the node and begins
// watching the others. Close leaves.
func Start(ctx context.Context, cfg Config) (*Pool, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg: cfg, node: cfg.Bus.Node, log: cfg.Logger.With("component", "pool", "node", cfg.Bus.Node), e: cfg.Engine,
		view: map[string]peer{}, dbFresh: map[string]bool{}, liveActive: map[string]bool{},
		hosted: map[string]*hosting{}, hostCache: map[string]string{}, synced: map[string]string{},
		local: map[string]map[string]*localSession{}, sinks: map[string]*tracker{},
		rosters: map[string]map[string]muc.Occupant{}, remote: map[string]map[remoteKey]time.Time{}, declared: map[string]time.Time{},
		departed:  map[string]map[remoteKey]time.Time{},
		evicted:   map[string]map[string]bool{},
		startedAt: time.Now().UTC(), changed: make(chan struct{}, 1),
		watches: map[string]map[string]*localWatch{}, hostWatches: map[string]func(){},
	}
	b, err := startBus(cfg.Bus, cfg.Logger)
	if err != nil {
		return nil, err
	}
	p.bus = b
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.subscribe(); err != nil {
		p.Close()
		return nil, err
	}
	p.refreshStatuses(ctx)
	p.recompute()
	p.wg.Add(3)
	go p.heartbeats()
	go p.statusLoop()
	go p.changes()
	p.log.Info("joined the pool", "bus", cfg.Bus.Listen, "peers", cfg.Bus.Peers, "role", cfg.Role)
	return p, nil
}

// Fence is the muc.Config.Fence of this node's engine: the claim under
// which this node hosts room.
func (p *Pool) Fence(room string) (*storage.HostFence, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.hosted[room]
	if !ok {
		return nil, fmt.Errorf("pool: %s does not host room %q: %w", p.node, room, storage.ErrFenced)
	}
	f := h.fence
	return &f, nil
}

// Node is this node's name.
func (p *Pool) Node() string { return p.node }

// Active reports whether this node serves clients and hosts rooms now.
func (p *Pool) Active() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// Close leaves the pool: it releases the rooms this node hosts (so others
// take them at once), stops its loops and the bus.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.mu.Lock()
	hosted := p.hosted
	p.hosted = map[string]*hosting{}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for room, h := range hosted {
		_ = p.cfg.Store.ReleaseRoom(ctx, room, h.fence)
	}
	if p.bus != nil {
		// A last heartbeat says goodbye: the others move its rooms at
		// once (they were released above) rather than after NodeTimeout.
		if b, err := json.Marshal(heartbeat{Node: p.node, Role: p.cfg.Role, Leaving: true, Started: p.startedAt.UnixNano()}); err == nil {
			_ = p.bus.nc.Publish(subjHeartbeat, b)
			_ = p.bus.nc.FlushTimeout(time.Second)
		}
		p.bus.close()
	}
}
