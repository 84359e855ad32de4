package pool

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/storage"
)

// Bus subjects.
const (
	subjHeartbeat = "parley.pool.heartbeat"
	subjRoomsFmt  = "parley.node.%s.rooms"  // room commands for a node
	subjEventsFmt = "parley.node.%s.events" // room events for a node's sessions
)

// heartbeat is what a node announces on the bus every HeartbeatInterval.
type heartbeat struct {
	Node       string `json:"node"`
	Role       string `json:"role"`
	Active     bool   `json:"active"`
	ClientAddr string `json:"client_addr"`
	Sessions   int    `json:"sessions"`
	Started    int64  `json:"started"` // incarnation: a restarted node is new
	// Leaving is the last heartbeat of a node that stops: the others
	// forget it at once instead of after NodeTimeout.
	Leaving bool `json:"leaving,omitempty"`
}

type peer struct {
	hb   heartbeat
	seen time.Time
}

func (p *Pool) subscribe() error {
	nc := p.bus.nc
	hb, err := nc.Subscribe(subjHeartbeat, p.onHeartbeat)
	if err != nil {
		return err
	}
	rooms, err := nc.Subscribe(sprintf(subjRoomsFmt, p.node), p.onRequest)
	if err != nil {
		return err
	}
	events, err := nc.Subscribe(sprintf(subjEventsFmt, p.node), p.onEvent)
	if err != nil {
		return err
	}
	moved, err := nc.Subscribe(subjMoved, p.onMoved)
	if err != nil {
		return err
	}
	for _, s := range []*nats.Subscription{hb, rooms, events, moved} {
		// Room events must not be dropped for a slow consumer: the
		// subscription queues without limit, like a session's own queue
		// before it cuts a reader off.
		_ = s.SetPendingLimits(-1, -1)
	}
	p.subs = append(p.subs, hb, rooms, events, moved)
	return nc.Flush()
}

func (p *Pool) onHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if json.Unmarshal(m.Data, &hb) != nil || hb.Node == "" || hb.Node == p.node {
		return
	}
	p.mu.Lock()
	old, known := p.view[hb.Node]
	if hb.Leaving {
		delete(p.view, hb.Node)
		p.mu.Unlock()
		p.log.Info("pool: node leaves the pool", "peer", hb.Node)
		p.recompute()
		return
	}
	p.view[hb.Node] = peer{hb: hb, seen: time.Now()}
	restarted := known && old.hb.Started != hb.Started
	if restarted {
		// A new incarnation knows none of this node's sessions, and it
		// may have claimed its rooms again before it saw this node (so
		// its gatherRoom did not ask here): declare them again.
		for room, host := range p.synced {
			if host == hb.Node {
				delete(p.synced, room)
			}
		}
		// The sessions the previous incarnation declared here died with
		// it, and a node restarted within the node timeout is never
		// counted lost: onChange removes them now. Those declared before
		// this node last heard the previous incarnation are surely its
		// own; any declared since (within a heartbeat of its death) may
		// be the new one's, and stay until a loss or a leave.
		for k, at := range p.remote[hb.Node] {
			if at.After(old.seen) {
				continue
			}
			if p.departed[hb.Node] == nil {
				p.departed[hb.Node] = map[remoteKey]time.Time{}
			}
			p.departed[hb.Node][k] = at
			delete(p.remote[hb.Node], k)
		}
	}
	p.mu.Unlock()
	if !known || restarted || old.hb.Active != hb.Active || old.hb.Role != hb.Role ||
		time.Since(old.seen) > p.cfg.NodeTimeout {
		p.recompute()
	}
	if restarted {
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}

// heartbeats announces this node and notices silent ones.
func (p *Pool) heartbeats() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.HeartbeatInterval)
	defer t.Stop()
	var last time.Time
	for {
		// A beat later than the node timeout: this node was stopped or
		// starved, and the others may have claimed its rooms meanwhile.
		stalled := !last.IsZero() && time.Since(last) > p.cfg.NodeTimeout
		last = time.Now()
		p.mu.Lock()
		hb := heartbeat{Node: p.node, Role: p.cfg.Role, Active: p.active, ClientAddr: p.cfg.ClientAddr,
			Sessions: p.cfg.Sessions(), Started: p.startedAt.UnixNano()}
		p.mu.Unlock()
		if b, err := json.Marshal(hb); err == nil {
			_ = p.bus.nc.Publish(subjHeartbeat, b)
		}
		p.recompute()
		if stalled {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.auditHosting()
			}()
		}
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// auditHosting gives up the rooms this node holds whose host record now
// names another claim. After a stall longer than the node timeout (the
// process was stopped, or starved), the other nodes may have claimed them;
// the heartbeats queued on the bus meanwhile can make this node look as if
// it had never been away, so it would not otherwise notice until a post
// of its own is fenced, and until then would serve joins and presence in
// rooms hosted elsewhere.
func (p *Pool) auditHosting() {
	p.mu.Lock()
	held := make(map[string]storage.HostFence, len(p.hosted))
	for room, h := range p.hosted {
		held[room] = h.fence
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
	defer cancel()
	for room, f := range held {
		cur, err := p.cfg.Store.RoomHost(ctx, room)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.log.Warn("checking a room's host record after a stall", "room", room, "err", err)
			continue
		}
		if err == nil && cur == f {
			continue
		}
		p.mu.Lock()
		h := p.hosted[room]
		still := h != nil && h.fence == f
		p.mu.Unlock()
		if still {
			p.log.Warn("room claimed by another node while this node was stalled: giving it up", "room", room,
				"host", cur.Node, "epoch", cur.Epoch)
			p.dropHosting(room)
		}
	}
}

// changes runs onChange after every change of the live nodes, and once a
// second anyway (a re-declaration that failed is tried again).
func (p *Pool) changes() {
	defer p.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.changed:
		}
		p.onChange()
	}
}

// statusLoop writes this node's status to the database and reads the
// others', for the majority check and `parleyctl pool status`.
func (p *Pool) statusLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.StatusInterval)
	defer t.Stop()
	for {
		p.refreshStatuses(p.ctx)
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) refreshStatuses(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StatusInterval*3)
	defer cancel()
	rtt, _ := p.bus.rtt()
	p.mu.Lock()
	st := storage.NodeStatus{Node: p.node, Role: p.cfg.Role, Active: p.active, ClientAddr: p.cfg.ClientAddr,
		PoolAddr: p.cfg.Bus.Listen, Sessions: p.cfg.Sessions(), Rooms: len(p.hosted), Peers: p.livePeersLocked(),
		BusLatency: rtt, DBLatency: p.dbRTT, StartedAt: p.startedAt, CPU: p.cpu.sample()}
	p.mu.Unlock()
	start := time.Now()
	err := p.cfg.Store.PutNodeStatus(ctx, st)
	dbRTT := time.Since(start)
	if err != nil {
		p.log.Warn("writing node status", "err", err)
		return
	}
	all, err := p.cfg.Store.NodeStatuses(ctx)
	if err != nil {
		p.log.Warn("reading node statuses", "err", err)
		return
	}
	fresh := map[string]bool{}
	for _, s := range all {
		if s.Age < p.cfg.DBStaleAfter {
			fresh[s.Node] = true
		}
	}
	p.mu.Lock()
	p.dbFresh, p.statuses, p.busRTT, p.dbRTT = fresh, all, rtt, dbRTT
	p.mu.Unlock()
	p.recompute()
	// The backstop of the claim announcement, which the bus loses while a
	// route is down (a node just woken, or cut off): a node holding more
	// rooms than the records give it checks them.
	if counts, err := p.cfg.Store.HostedRooms(ctx); err == nil {
		p.mu.Lock()
		over := len(p.hosted) > counts[p.node]
		p.mu.Unlock()
		if over {
			p.auditHosting()
		}
	}
}

func (p *Pool) livePeersLocked() int {
	n := 0
	for _, pe := range p.view {
		if time.Since(pe.seen) < p.cfg.NodeTimeout {
			n++
		}
	}
	return n
}

// recompute derives, from the bus view and the database statuses, which
// nodes are alive and active, whether this node is in the majority, and
// whether it is active itself. Every node computes the same from the same
// view: configured active nodes are active; live standbys, in name order,
// fill the places of missing active nodes up to MaxActive.
func (p *Pool) recompute() {
	p.mu.Lock()
	defer p.mu.Unlock()
	live := map[string]string{p.node: p.cfg.Role} // node → configured role
	for name, pe := range p.view {
		if time.Since(pe.seen) < p.cfg.NodeTimeout {
			live[name] = pe.hb.Role
		}
	}
	fresh := map[string]bool{p.node: true}
	for n := range p.dbFresh {
		fresh[n] = true
	}
	for n := range live {
		fresh[n] = true
	}
	seen, smallest := 0, ""
	for n := range fresh {
		if live[n] != "" {
			seen++
		}
		if smallest == "" || n < smallest {
			smallest = n
		}
	}
	majority := 2*seen > len(fresh) || (2*seen == len(fresh) && live[smallest] != "")

	actives := map[string]bool{}
	var standbys []string
	for n, role := range live {
		if role == RoleActive {
			actives[n] = true
		} else {
			standbys = append(standbys, n)
		}
	}
	slices.Sort(standbys)
	for _, n := range standbys {
		if len(actives) >= p.cfg.MaxActive {
			break
		}
		actives[n] = true
	}
	if !majority {
		actives = map[string]bool{}
	}
	active := actives[p.node]

	changed := active != p.active || majority != p.majority || len(actives) != len(p.liveActive)
	for n := range actives {
		if !p.liveActive[n] {
			changed = true
		}
	}
	if !changed {
		return
	}
	for n := range p.liveActive {
		if !actives[n] {
			p.log.Warn("pool: node no longer active in this node's view", "peer", n)
		}
	}
	for n := range actives {
		if !p.liveActive[n] {
			p.log.Info("pool: node active", "peer", n)
		}
	}
	if active != p.active {
		p.log.Info("node role changes", "active", active, "majority", majority, "configured", p.cfg.Role)
	}
	p.active, p.majority, p.liveActive = active, majority, actives
	p.hostCache = map[string]string{}
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// removeRemote takes the sessions of a node that is gone, or of its
// previous incarnation, out of the rooms hosted here: their occupants
// leave with status 333, their watches end.
func (p *Pool) removeRemote(ctx context.Context, keys map[remoteKey]time.Time) {
	for k := range keys {
		if strings.HasPrefix(k.address, "watch:") {
			p.unwatchLocal(k.room, k.address)
			continue
		}
		_ = p.e.LeaveWithStatus(ctx, k.room, k.address, nil, []int{333})
	}
}

// onChange reacts to a change of the live nodes: it stops hosting when
// this node is no longer active, removes the sessions of lost nodes from
// the rooms hosted here, and re-declares this node's sessions to rooms
// whose host changed.
func (p *Pool) onChange() {
	p.mu.Lock()
	active, majority := p.active, p.majority
	stopped := p.served && !active // this node stops serving clients
	p.served = active
	door := p.door
	var drop map[string]*hosting
	if !active {
		drop, p.hosted = p.hosted, map[string]*hosting{}
	}
	lost := map[string]map[remoteKey]time.Time{}
	departed := p.departed
	p.departed = map[string]map[remoteKey]time.Time{}
	for n, keys := range p.remote {
		// A node that declared sessions here before this node heard its
		// first heartbeat (this node just restarted and claimed the
		// room; the other reached it first) is not lost: it gets the
		// node timeout from its first declaration to be heard.
		_, heard := p.view[n]
		if !heard && time.Since(p.declared[n]) < p.cfg.NodeTimeout {
			continue
		}
		if !p.liveActive[n] && !p.aliveLocked(n) {
			lost[n] = keys
			delete(p.remote, n)
			delete(p.declared, n)
			if p.evicted[n] == nil {
				p.evicted[n] = map[string]bool{}
			}
			for k := range keys {
				p.evicted[n][k.room] = true
			}
		}
	}
	// A node counted lost may have been cut off one way only (it still
	// heard this node, so it never saw a host change): once it is back,
	// it is asked to declare its sessions again in the rooms hosted here
	// that it was removed from.
	returned := map[string][]string{}
	for n, rooms := range p.evicted {
		if !p.aliveLocked(n) {
			continue
		}
		for room := range rooms {
			if p.hosted[room] != nil {
				returned[n] = append(returned[n], room)
			}
		}
		delete(p.evicted, n)
	}
	var rooms []string
	if p.majority {
		// (A node cut off from the majority cannot reach any host.)
		for room := range p.local {
			rooms = append(rooms, room)
		}
		for room := range p.watches {
			if p.local[room] == nil {
				rooms = append(rooms, room)
			}
		}
	}
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
	defer cancel()
	for room, h := range drop {
		p.e.Evict(room)
		_ = p.cfg.Store.ReleaseRoom(ctx, room, h.fence)
		p.announceMoved(room)
	}
	for n, keys := range lost {
		p.log.Warn("node lost: removing its sessions from rooms hosted here", "lost", n, "sessions", len(keys))
		p.removeRemote(ctx, keys)
	}
	for n, keys := range departed {
		p.log.Warn("node restarted: removing its previous incarnation's sessions from rooms hosted here", "node", n, "sessions", len(keys))
		p.removeRemote(ctx, keys)
	}
	for n, rooms := range returned {
		for _, room := range rooms {
			if _, err := cmdSyncRoom.call(ctx, p, n, syncRoomCmd{Room: room}); err != nil {
				p.logRedeclare("asking a node that is back to re-declare its sessions (tried again in a second)", room, err, "peer", n)
				p.mu.Lock()
				if p.evicted[n] == nil {
					p.evicted[n] = map[string]bool{}
				}
				p.evicted[n][room] = true
				p.mu.Unlock()
			}
		}
	}
	if stopped && door != nil {
		to := p.Redirect()
		n := door.MoveSessions(ctx, to, majority)
		p.log.Warn("this node stops serving clients: streams ended", "sessions", n, "see_other_host", to, "majority", majority)
	}
	for _, room := range rooms {
		if err := p.syncRoom(ctx, room); err != nil {
			p.logRedeclare("re-declaring sessions to a room's new host (tried again in a second)", room, err)
		}
	}
}

// livePeers are the other nodes alive in this node's view.
func (p *Pool) livePeers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.view {
		if p.aliveLocked(n) {
			out = append(out, n)
		}
	}
	return out
}

func (p *Pool) aliveLocked(n string) bool {
	pe, ok := p.view[n]
	return ok && time.Since(pe.seen) < p.cfg.NodeTimeout
}

// Redirect names the client address of the node a new client should use
// instead of this one, or "" to serve it here: a node that is not active
// (a standby, or cut off from the majority) sends every client to the
// lightest active node; an active node sends clients away while it has
// more than its share plus a margin (a tenth of the share, at least 50).
func (p *Pool) Redirect() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	mine := p.cfg.Sessions()
	lightest, lightSessions := "", 0
	total, actives := mine, 1
	for n, pe := range p.view {
		if !p.liveActive[n] || !p.aliveLocked(n) || pe.hb.ClientAddr == "" {
			continue
		}
		total += pe.hb.Sessions
		actives++
		if lightest == "" || pe.hb.Sessions < lightSessions {
			lightest, lightSessions = pe.hb.ClientAddr, pe.hb.Sessions
		}
	}
	if lightest == "" {
		// Cut off from the bus: the database still says who is active.
		for _, st := range p.statuses {
			if st.Node != p.node && st.Active && st.ClientAddr != "" && st.Age < p.cfg.DBStaleAfter &&
				(lightest == "" || st.Sessions < lightSessions) {
				lightest, lightSessions = st.ClientAddr, st.Sessions
			}
		}
	}
	if !p.active {
		return lightest
	}
	share := total / actives
	margin := max(50, share/10)
	if lightest != "" && mine > share+margin && lightSessions+margin < mine {
		return lightest
	}
	return ""
}
