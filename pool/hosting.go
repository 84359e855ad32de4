package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// errNotHost is a command sent to a node that does not host the room.
type errNotHost struct{ holder string }

func (e *errNotHost) Error() string {
	if e.holder == "" {
		return "pool: this node does not host the room"
	}
	return "pool: the room is hosted by " + e.holder
}

// errNoActive means no active node is in this node's view.
var errNoActive = errors.New("pool: no active node can host the room (is this node cut off from the pool?)")

// hostFor returns the node that hosts room, or should: the node named by
// its host record while that node is alive and active, else the
// rendezvous-hash choice among the active nodes (DESIGN §4), which claims
// it on its first command.
func (p *Pool) hostFor(ctx context.Context, room string) (string, error) {
	p.mu.Lock()
	if _, ok := p.hosted[room]; ok {
		p.mu.Unlock()
		return p.node, nil
	}
	if h, ok := p.hostCache[room]; ok && p.mayHostLocked(h) {
		p.mu.Unlock()
		return h, nil
	}
	p.mu.Unlock()
	f, err := p.cfg.Store.RoomHost(ctx, room)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	host := ""
	if err == nil && p.mayHostLocked(f.Node) {
		host = f.Node
	} else {
		host = rendezvous(room, p.liveActive)
	}
	if host == "" {
		return "", errNoActive
	}
	p.hostCache[room] = host
	return host, nil
}

// mayHostLocked says whether node n may keep the rooms it holds: this
// node while active; another node while it is alive and active in this
// node's view or says so itself (a standby just promoted may say so a
// moment before this node's view agrees: its claims must not be taken
// from it in that moment).
func (p *Pool) mayHostLocked(n string) bool {
	if n == p.node {
		return p.active
	}
	if !p.majority || !p.aliveLocked(n) {
		return false
	}
	return p.liveActive[n] || p.view[n].hb.Active
}

// rendezvous picks the node with the highest hash of (room, node).
func rendezvous(room string, nodes map[string]bool) string {
	best, bestScore := "", uint64(0)
	for n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(room))
		h.Write([]byte{0})
		h.Write([]byte(n))
		if s := h.Sum64(); best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// ensureHosting makes this node the room's host if it is not yet: it
// claims the room in the database (taking it from a node that is no
// longer alive and active) and then asks every live node to re-declare its
// sessions in the room before other commands run. waitReady says whether
// the caller waits for that (a re-declaration itself must not).
func (p *Pool) ensureHosting(ctx context.Context, room string, waitReady bool) error {
	p.mu.Lock()
	h, ok := p.hosted[room]
	active := p.active
	p.mu.Unlock()
	if !ok {
		if !active {
			return &errNotHost{}
		}
		v, err, _ := p.claims.Do(room, func() (any, error) { return p.claim(ctx, room) })
		if err != nil {
			return err
		}
		h = v.(*hosting)
	}
	if !waitReady {
		return nil
	}
	select {
	case <-h.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) claim(ctx context.Context, room string) (*hosting, error) {
	p.mu.Lock()
	if h, ok := p.hosted[room]; ok {
		p.mu.Unlock()
		return h, nil
	}
	p.mu.Unlock()
	taken := "" // the node the room is taken from, if any
	f, err := p.cfg.Store.ClaimRoom(ctx, room, p.node, func(holder string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		taken = holder
		return holder == p.node || !p.mayHostLocked(holder)
	})
	if errors.Is(err, storage.ErrHeld) {
		p.mu.Lock()
		p.hostCache[room] = f.Node
		p.mu.Unlock()
		return nil, &errNotHost{holder: f.Node}
	}
	if err != nil {
		return nil, err
	}
	h := &hosting{fence: f, ready: make(chan struct{})}
	p.mu.Lock()
	p.hosted[room] = h
	p.hostCache[room] = p.node
	p.mu.Unlock()
	peers := p.livePeers()
	p.log.Info("hosting room", "room", room, "epoch", f.Epoch)
	if taken != "" && taken != p.node {
		// The node it was taken from, if it is not gone but only
		// thought to be (stopped, cut off one way), learns here that it
		// no longer hosts the room, and the others that it moved.
		p.announceClaim(room, taken, f.Epoch)
	}
	// The other nodes re-declare their sessions (and say whom they saw in
	// the room) before the room takes commands; then whoever was in the
	// room on a lost node is announced gone, in the room's order.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(h.ready)
		p.gatherRoom(room, peers)
	}()
	return h, nil
}

// gatherRoom asks this node and every live peer to re-declare their
// sessions in room, then announces with status 333 the occupants they
// saw that nobody re-declared.
func (p *Pool) gatherRoom(room string, peers []string) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
	defer cancel()
	known := map[string]muc.Occupant{}
	add := func(occs []muc.Occupant) {
		for _, o := range occs {
			known[o.Nick] = o
		}
	}
	mine, err := p.syncLocalTo(ctx, room, p.node)
	if err != nil {
		p.log.Warn("re-declaring local sessions", "room", room, "err", err)
	}
	add(mine)
	cmdSyncRoom.callEach(ctx, p, peers, syncRoomCmd{Room: room}, func(n string, occs []muc.Occupant, err error) {
		if err != nil {
			p.log.Warn("asking a node to re-declare its sessions", "room", room, "peer", n, "err", err)
			return
		}
		add(occs)
	})
	present := map[string]bool{}
	for _, o := range p.e.Occupants(room) {
		present[o.Nick] = true
	}
	for nick, o := range known {
		if !present[nick] {
			o.Sessions = nil
			p.e.AnnounceGone(room, o, []int{muc.StatusNodeLost})
		}
	}
}

// dropHosting forgets a room this node no longer hosts (its post was
// fenced: another node claimed it).
func (p *Pool) dropHosting(room string) {
	p.mu.Lock()
	delete(p.hosted, room)
	delete(p.hostCache, room)
	p.mu.Unlock()
	p.e.Evict(room)
	p.announceMoved(room)
}

// subjMoved carries "this node no longer hosts the room": every node with
// sessions or watches in it declares them to the room's host again at
// once, instead of at its next command.
const subjMoved = "parley.pool.moved"

type movedMsg struct {
	Room string `json:"room"`
	From string `json:"from"`
	// Host and Epoch are set when Host claimed the room from From: From,
	// if it still holds the room under an older epoch, gives it up.
	Host  string `json:"host,omitempty"`
	Epoch int64  `json:"epoch,omitempty"`
}

// announceClaim says that this node took room from the node from, under
// epoch.
func (p *Pool) announceClaim(room, from string, epoch int64) {
	b, err := json.Marshal(movedMsg{Room: room, From: from, Host: p.node, Epoch: epoch})
	if err == nil {
		_ = p.bus.nc.Publish(subjMoved, b)
	}
}

func (p *Pool) announceMoved(room string) {
	b, err := json.Marshal(movedMsg{Room: room, From: p.node})
	if err == nil {
		_ = p.bus.nc.Publish(subjMoved, b)
	}
}

func (p *Pool) onMoved(m *nats.Msg) {
	var mm movedMsg
	if json.Unmarshal(m.Data, &mm) != nil || mm.Room == "" {
		return
	}
	if mm.Host != "" && mm.Host != p.node {
		p.mu.Lock()
		h := p.hosted[mm.Room]
		stale := h != nil && h.fence.Epoch < mm.Epoch
		p.mu.Unlock()
		if stale {
			p.log.Warn("room claimed by another node: giving it up", "room", mm.Room, "host", mm.Host, "epoch", mm.Epoch)
			// Not on the bus's delivery goroutine: Evict waits for the
			// room's commands.
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.dropHosting(mm.Room)
			}()
		}
	}
	p.mu.Lock()
	delete(p.hostCache, mm.Room)
	delete(p.synced, mm.Room)
	mine := len(p.local[mm.Room]) > 0 || len(p.watches[mm.Room]) > 0
	p.mu.Unlock()
	if !mine {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
		defer cancel()
		if err := p.syncRoom(ctx, mm.Room); err != nil {
			p.logRedeclare("re-declaring sessions to a room that moved", mm.Room, err)
		}
	}()
}

// releaseIfNoRoom gives up the claim on a room that does not exist after
// a command found none (a join to a missing room, a disco query for a
// made-up name), so that host records are kept only for real rooms.
func (p *Pool) releaseIfNoRoom(room string, err error) {
	if room == "" || muc.CodeOf(err) != muc.CodeNotFound {
		return
	}
	if slices.Contains(p.e.HostedRooms(), room) {
		return // someone is in it (or creating it)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
	defer cancel()
	if _, err := p.e.Room(ctx, room, muc.ActorAdmin); muc.CodeOf(err) != muc.CodeNotFound {
		return
	}
	p.mu.Lock()
	h, ok := p.hosted[room]
	delete(p.hosted, room)
	delete(p.hostCache, room)
	p.mu.Unlock()
	if ok {
		_ = p.cfg.Store.ReleaseRoom(ctx, room, h.fence)
	}
}

// retryDelay backs off between attempts to reach a room's host while the
// pool settles.
func retryDelay(attempt int) time.Duration {
	return min(time.Duration(attempt+1)*100*time.Millisecond, time.Second)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
