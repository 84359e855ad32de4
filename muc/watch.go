package muc

import (
	"maps"
	"slices"
	"strings"
	"sync"
)

// Watchers observe a room without being in it: a SIP conference-state
// subscription (RFC 4575) is told of joins, leaves and nick changes of
// every occupant, XMPP or SIP, in the room's order. A watch belongs to a
// user: when that user may no longer read the room (revoke.go), the watch
// gets EventRevoked and ends. Watching is a RoomHost command: in a pool,
// package pool registers each watch with the room's host and again with
// its next host when the room moves.

// watchers are the engine's room watchers. A host holds a pointer to them
// and hands every event it broadcasts to the room's watchers, under the
// host lock, so watchers see the same order as occupants.
type watchers struct {
	mu     sync.Mutex
	byRoom map[string]map[*watch]struct{}
}

type watch struct {
	sink Sink
	user string // bare JID of who watches
}

func (w *watchers) deliver(room string, ev Event) {
	if w == nil {
		return
	}
	w.mu.Lock()
	list := make([]Sink, 0, len(w.byRoom[room]))
	for x := range w.byRoom[room] {
		list = append(list, x.sink)
	}
	w.mu.Unlock()
	for _, s := range list {
		s.Deliver(ev)
	}
}

// of lists a room's watches.
func (w *watchers) of(room string) []*watch {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*watch, 0, len(w.byRoom[room]))
	for x := range w.byRoom[room] {
		out = append(out, x)
	}
	return out
}

// drop ends one watch; false if it had ended already.
func (w *watchers) drop(room string, x *watch) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byRoom[room][x]; !ok {
		return false
	}
	delete(w.byRoom[room], x)
	if len(w.byRoom[room]) == 0 {
		delete(w.byRoom, room)
	}
	return true
}

// rooms lists the rooms that have watches.
func (w *watchers) rooms() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Collect(maps.Keys(w.byRoom))
}

// Watch makes sink user's watcher of room: it gets every event the room's
// occupants get from now on (Deliver must not block), until stop, or
// until user may no longer read the room: then it gets EventRevoked and
// nothing more. Like an occupant, it sees the presence of the roles the
// room broadcasts only (presence.go). first is called with those
// occupants, sorted by nick, under the room's lock before any of those events, so the snapshot
// and the events that follow it are in order. The caller checks the
// watcher may see the room (MayRead).
func (e *Engine) Watch(room, user string, sink Sink, first func([]Occupant)) (stop func()) {
	w := &watch{sink: sink, user: user}
	h := e.lockHost(room)
	e.watch.mu.Lock()
	if e.watch.byRoom == nil {
		e.watch.byRoom = make(map[string]map[*watch]struct{})
	}
	if e.watch.byRoom[room] == nil {
		e.watch.byRoom[room] = make(map[*watch]struct{})
	}
	e.watch.byRoom[room][w] = struct{}{}
	e.watch.mu.Unlock()
	if first != nil {
		first(h.sortedOccupants())
	}
	e.unlockHost(h)
	return func() { e.watch.drop(room, w) }
}

// Snapshot calls fn with the room's occupants whose presence the room
// broadcasts, sorted by nick, under the room's lock: in order with the
// events its watchers get.
func (e *Engine) Snapshot(room string, fn func([]Occupant)) {
	h := e.lockHost(room)
	fn(h.sortedOccupants())
	e.unlockHost(h)
}

// sortedOccupants are what watchers are shown: the occupants whose
// presence the room broadcasts (presence.go), sorted by nick.
func (h *host) sortedOccupants() []Occupant {
	out := h.shownOthers(nil)
	slices.SortFunc(out, func(a, b Occupant) int { return strings.Compare(a.Nick, b.Nick) })
	return out
}
