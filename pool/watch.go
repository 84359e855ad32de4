package pool

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/parleychat/parley/muc"
)

// Watching rooms across nodes (muc.RoomHost's Watch, used by the SIP
// conference roster): a watch is registered on the room's host, whose
// events for it come back as for a session; when the room moves, this
// node registers its watches again with the new host, as it re-declares
// its sessions.

// localWatch is one of this node's watches of a room.
type localWatch struct {
	room    string
	user    string // who watches
	address string // the watch's address on the bus: "watch:NODE:N"
}

var watchSeq atomic.Int64

// Watch implements muc.RoomHost.
func (p *Pool) Watch(room, user string, sink muc.Sink, first func([]muc.Occupant)) (stop func()) {
	w := &localWatch{room: room, user: user, address: "watch:" + p.node + ":" + strconv.FormatInt(watchSeq.Add(1), 10)}
	t := &tracker{p: p, inner: sink, address: w.address}
	p.mu.Lock()
	p.sinks[w.address] = t
	if p.watches[room] == nil {
		p.watches[room] = map[string]*localWatch{}
	}
	p.watches[room][w.address] = w
	p.mu.Unlock()
	ctx, cancel := p.callTimeout()
	defer cancel()
	occ, err := p.watchOn(ctx, room, w, t)
	if err != nil {
		p.log.Warn("watching a room", "room", room, "err", err)
	}
	if first != nil {
		first(occ)
	}
	return func() {
		p.mu.Lock()
		delete(p.sinks, w.address)
		delete(p.watches[room], w.address)
		if len(p.watches[room]) == 0 {
			delete(p.watches, room)
			if p.local[room] == nil {
				delete(p.rosters, room)
				delete(p.synced, room)
			}
		}
		p.mu.Unlock()
		ctx, cancel := p.callTimeout()
		defer cancel()
		_, _ = cmdUnwatch.onHost(ctx, p, unwatchCmd{Room: room, Address: w.address}, nil)
	}
}

// watchOn registers w with the room's host and returns the occupants at
// that moment.
func (p *Pool) watchOn(ctx context.Context, room string, w *localWatch, sink muc.Sink) ([]muc.Occupant, error) {
	return cmdWatch.onHost(ctx, p, watchCmd{Room: room, User: w.user, Address: w.address}, func() ([]muc.Occupant, error) {
		return p.watchLocal(room, w.user, w.address, sink), nil
	})
}

// watchLocal registers a watch on this node's engine, where the room is
// hosted, replacing an earlier one of the same address.
func (p *Pool) watchLocal(room, user, address string, sink muc.Sink) []muc.Occupant {
	var occ []muc.Occupant
	stop := p.e.Watch(room, user, sink, func(o []muc.Occupant) { occ = o })
	p.mu.Lock()
	if old := p.hostWatches[address]; old != nil {
		old()
	}
	p.hostWatches[address] = stop
	p.mu.Unlock()
	return occ
}

func (p *Pool) unwatchLocal(room, address string) {
	p.mu.Lock()
	stop := p.hostWatches[address]
	delete(p.hostWatches, address)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Snapshot implements muc.RoomHost: fn gets the room's occupants whose
// presence the room broadcasts, as its host has them.
func (p *Pool) Snapshot(room string, fn func([]muc.Occupant)) {
	ctx, cancel := p.callTimeout()
	defer cancel()
	out, err := cmdOccupants.onHost(ctx, p, occupantsCmd{Room: room, Shown: true}, nil)
	if err != nil {
		p.log.Warn("listing occupants", "room", room, "err", err)
	}
	fn(out)
}

// rewatch registers this node's watches of room with host (the room has
// moved there).
func (p *Pool) rewatch(ctx context.Context, room, host string) error {
	p.mu.Lock()
	var list []*localWatch
	for _, w := range p.watches[room] {
		list = append(list, w)
	}
	p.mu.Unlock()
	for _, w := range list {
		p.mu.Lock()
		t := p.sinks[w.address]
		p.mu.Unlock()
		if t == nil {
			continue
		}
		if host == p.node {
			p.watchLocal(room, w.user, w.address, t)
			continue
		}
		if _, err := cmdWatch.call(ctx, p, host, watchCmd{Room: room, User: w.user, Address: w.address}); err != nil {
			return err
		}
	}
	return nil
}
