package pool

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/muc"
)

// localSession is one of this node's sessions in a room, as needed to
// re-declare it to a new host.
type localSession struct {
	user, nick, frontDoor string
	presence              []byte
}

// tracker wraps a local session's sink: it passes every event on and
// keeps, from the events, which rooms the session is in under which nick
// and whom this node has seen in each room.
type tracker struct {
	p         *Pool
	inner     muc.Sink
	address   string
	user      string
	frontDoor string

	// seqMu guards seqs: room → seq of the last post delivered to the
	// session (inOrder).
	seqMu sync.Mutex
	seqs  map[string]int64
}

func (p *Pool) trackerFor(s muc.Session, user string) *tracker {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.sinks[s.Address]
	if !ok || t.inner != s.Sink {
		t = &tracker{p: p, inner: s.Sink, address: s.Address, user: user, frontDoor: s.FrontDoor}
		p.sinks[s.Address] = t
	}
	return t
}

func (t *tracker) Deliver(ev muc.Event) {
	if !t.inOrder(ev) {
		return
	}
	t.p.observe(t, ev)
	t.inner.Deliver(ev)
}

// inOrder reports whether a post may go to the session: one whose seq is
// not above the last delivered to it in that room is dropped. A room's
// previous host may still be sending posts it committed before the new
// host's claim when the new host's later posts have arrived, whether from
// another node or from this one (the new host delivers to its own
// sessions directly): delivered now, they would reach the session out of
// the room's order. The session has missed them live; they are in the
// archive (MAM). The count is the tracker's own, under its own lock: this
// runs for every delivery of a room's fan-out.
func (t *tracker) inOrder(ev muc.Event) bool {
	if ev.Kind == muc.EventJoined {
		// A new join starts the count again (a room deleted and made
		// anew under its name numbers its posts from 1).
		t.forgetSeq(ev.Room)
		return true
	}
	if ev.Kind != muc.EventMessage || ev.Message == nil || ev.Message.Seq <= 0 {
		return true
	}
	t.seqMu.Lock()
	last := t.seqs[ev.Room]
	fresh := ev.Message.Seq > last
	if fresh {
		if t.seqs == nil {
			t.seqs = map[string]int64{}
		}
		t.seqs[ev.Room] = ev.Message.Seq
	}
	t.seqMu.Unlock()
	if !fresh {
		t.p.log.Info("dropping a post that arrived after a later one (from the room's previous host)",
			"room", ev.Room, "seq", ev.Message.Seq, "delivered", last)
	}
	return fresh
}

// forgetSeq drops the count of a room the session joins again or left.
func (t *tracker) forgetSeq(room string) {
	t.seqMu.Lock()
	delete(t.seqs, room)
	t.seqMu.Unlock()
}

func hasSession(o muc.Occupant, address string) bool {
	return slices.ContainsFunc(o.Sessions, func(s muc.Session) bool { return s.Address == address })
}

// observe updates the session and roster records from one event.
func (p *Pool) observe(t *tracker, ev muc.Event) {
	if ev.Kind != muc.EventJoined && ev.Kind != muc.EventPresence && ev.Kind != muc.EventDestroyed {
		return // posts and the rest change no session or roster record
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	room := ev.Room
	roster := p.rosters[room]
	if roster == nil {
		roster = map[string]muc.Occupant{}
		p.rosters[room] = roster
	}
	switch ev.Kind {
	case muc.EventJoined:
		j := ev.Joined
		if p.local[room] == nil {
			p.local[room] = map[string]*localSession{}
		}
		p.local[room][t.address] = &localSession{user: t.user, nick: j.Self.Nick, frontDoor: t.frontDoor, presence: j.Self.Presence}
		for _, o := range j.Others {
			roster[o.Nick] = stripped(o)
		}
		roster[j.Self.Nick] = stripped(j.Self)
	case muc.EventPresence:
		o := ev.Occupant
		if ev.OldNick != "" {
			delete(roster, ev.OldNick)
		}
		if o.Role == muc.RoleNone {
			delete(roster, o.Nick)
		} else {
			roster[o.Nick] = stripped(o)
		}
		switch ls := p.local[room][t.address]; {
		case !hasSession(o, t.address):
		case o.Role == muc.RoleNone:
			// The session left (Leave forgot it already) or was
			// removed: its own unavailable presence is the last event.
			p.forgetLocked(room, t.address)
			if !p.inAnyRoomLocked(t.address) && p.sinks[t.address] == t {
				delete(p.sinks, t.address)
			}
		case ls != nil:
			ls.nick = o.Nick
			ls.presence = o.Presence
		}
	case muc.EventDestroyed:
		p.forgetLocked(room, t.address)
		if !p.inAnyRoomLocked(t.address) {
			delete(p.sinks, t.address)
		}
	}
}

// stripped is an occupant without its sessions, as rosters keep it.
func stripped(o muc.Occupant) muc.Occupant {
	o.Sessions = nil
	return o
}

func (p *Pool) forgetLocked(room, address string) {
	delete(p.local[room], address)
	if t := p.sinks[address]; t != nil {
		t.forgetSeq(room)
	}
	if len(p.local[room]) == 0 {
		delete(p.local, room)
		delete(p.rosters, room)
		if len(p.watches[room]) == 0 {
			delete(p.synced, room)
		}
	}
}

// remember records a session this node just put into a room (before its
// EventJoined is seen, so a re-home in between re-declares it).
func (p *Pool) remember(room string, t *tracker, nick string, presence []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sinks[t.address] == nil {
		p.sinks[t.address] = t
	}
	if p.local[room] == nil {
		p.local[room] = map[string]*localSession{}
	}
	if p.local[room][t.address] == nil {
		p.local[room][t.address] = &localSession{user: t.user, nick: nick, frontDoor: t.frontDoor, presence: presence}
	}
}

// remoteSink delivers a room's events to a session on another node.
type remoteSink struct {
	p       *Pool
	node    string
	address string
}

// eventMsg is a room event on its way to a session on another node.
type eventMsg struct {
	Address string    `json:"address"`
	Event   muc.Event `json:"event"`
}

// Deliver publishes the event to the session's node. The engine calls it
// under the room's lock, in the room's order; one connection's messages
// arrive in the order they were published.
func (s *remoteSink) Deliver(ev muc.Event) {
	b, err := json.Marshal(eventMsg{Address: s.address, Event: ev})
	if err != nil {
		s.p.log.Error("encoding a room event", "room", ev.Room, "err", err)
		return
	}
	if err := s.p.bus.nc.Publish(sprintf(subjEventsFmt, s.node), b); err != nil {
		s.p.log.Warn("sending a room event", "room", ev.Room, "node", s.node, "err", err)
	}
}

func (p *Pool) remoteSinkFor(node, room, address string) *remoteSink {
	p.mu.Lock()
	p.claimAddressLocked(room, address)
	if p.remote[node] == nil {
		p.remote[node] = map[remoteKey]time.Time{}
		p.declared[node] = time.Now()
	}
	p.remote[node][remoteKey{room, address}] = time.Now()
	p.mu.Unlock()
	return &remoteSink{p: p, node: node, address: address}
}

// claimAddressLocked forgets which node held a session address in a room
// hosted here: the address joins again from a node (or from here) and the
// newest wins. A client that reconnects through another node under the
// same full JID must not be removed when its old node is found lost.
func (p *Pool) claimAddressLocked(room, address string) {
	k := remoteKey{room, address}
	for _, keys := range p.remote {
		delete(keys, k)
	}
}

// onEvent hands a room event from a host to the local session it is for.
func (p *Pool) onEvent(m *nats.Msg) {
	var em eventMsg
	if err := json.Unmarshal(m.Data, &em); err != nil {
		p.log.Error("decoding a room event", "err", err)
		return
	}
	ev := em.Event
	p.mu.Lock()
	t := p.sinks[em.Address]
	p.mu.Unlock()
	if t != nil {
		t.Deliver(ev) // in the room's order only (inOrder)
	}
}

// syncRoom re-declares this node's sessions in room to its host, if the
// host changed since they were last declared.
func (p *Pool) syncRoom(ctx context.Context, room string) error {
	host, err := p.hostFor(ctx, room)
	if err != nil {
		return err
	}
	p.mu.Lock()
	done := p.synced[room] == host || (len(p.local[room]) == 0 && len(p.watches[room]) == 0)
	p.mu.Unlock()
	if done {
		return nil
	}
	if host == p.node {
		if err := p.ensureHosting(ctx, room, true); err != nil {
			return err
		}
	}
	_, err = p.syncLocalTo(ctx, room, host)
	return err
}

// syncLocalTo re-declares this node's sessions in room to host (which has
// just claimed it) and returns the occupants this node saw in the room.
func (p *Pool) syncLocalTo(ctx context.Context, room, host string) ([]muc.Occupant, error) {
	v, err, _ := p.syncs.Do(room+"\x00"+host, func() (any, error) {
		p.mu.Lock()
		sessions := make(map[string]localSession, len(p.local[room]))
		for addr, ls := range p.local[room] {
			sessions[addr] = *ls
		}
		var known []muc.Occupant
		for _, o := range p.rosters[room] {
			known = append(known, o)
		}
		p.mu.Unlock()
		var failed error
		for addr, ls := range sessions {
			req := muc.JoinRequest{Room: room, Nick: ls.nick, User: ls.user, Presence: ls.presence,
				Session: muc.Session{Address: addr, FrontDoor: ls.frontDoor}}
			var err error
			if host == p.node {
				p.mu.Lock()
				t := p.sinks[addr]
				if t != nil {
					p.claimAddressLocked(room, addr)
				}
				p.mu.Unlock()
				if t == nil {
					continue
				}
				req.Session.Sink = t
				err = p.e.Resync(ctx, req)
			} else {
				_, err = cmdResync.call(ctx, p, host, resyncCmd{Join: req})
			}
			if err != nil {
				failed = err
				p.logRedeclare("re-declaring a session to a room's new host", room, err, "host", host, "session", addr)
			}
		}
		if err := p.rewatch(ctx, room, host); err != nil {
			failed = err
		}
		if failed != nil {
			return known, failed
		}
		p.mu.Lock()
		if len(p.local[room]) > 0 || len(p.watches[room]) > 0 {
			p.synced[room] = host
		}
		p.mu.Unlock()
		return known, nil
	})
	known, _ := v.([]muc.Occupant)
	return known, err
}

// logRedeclare logs a failed re-declaration: at debug level while the
// pool settles (the chosen host does not agree yet, or is gone), which
// the next try resolves, else as a warning.
func (p *Pool) logRedeclare(msg, room string, err error, args ...any) {
	args = append([]any{"room", room, "err", err}, args...)
	if retryable(err) {
		p.log.Debug(msg, args...)
		return
	}
	p.log.Warn(msg, args...)
}
