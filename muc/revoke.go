package muc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/storage"
)

// Revocation: a change of who may be in a room — a member removed, a ban,
// a category's ethical wall, a room made members-only, disabled or deleted
// — holds at once for the people already inside, wherever the change was
// made. Occupants who lost access are removed with the XEP-0045 status
// that says why (§15.6: 301 banned, 321 affiliation change, 322 the room
// became members-only), every session in the room is told, and each
// removal is captured for compliance ("evict"). Watchers (SIP conference
// roster subscriptions) who may no longer read the room get EventRevoked
// and are no longer told of it. Topic-feed alerts check read access as
// they are sent (feeds.go).
//
// A change made through this engine applies at once, under the room's
// lock. A change made elsewhere — by parleyctl, which writes the database
// from its own process, or by another node of a pool — reaches this engine
// through the room change log (storage.RoomChange), which every such change
// writes in its own transaction and FollowChanges reads. Besides, every
// join and post compares the room's and its category's Updated times with
// those the room's occupants were last checked against: a wall or a
// privacy change is applied before anyone posts or is admitted under the
// old rules, without waiting for the log.

// Room change log tuning.
const (
	// changeBatch is how many log entries one read returns at most.
	changeBatch = 1000
	// changeGapWait is how long a missing ID below the newest one read is
	// waited for (a MySQL transaction that took its ID earlier and has not
	// committed yet) before it is taken for a rolled-back one.
	changeGapWait = time.Minute
	// changeLogKeep is how long log entries are kept; changeLogPrune how
	// often FollowChanges deletes older ones.
	changeLogKeep  = time.Hour
	changeLogPrune = 10 * time.Minute
)

// AccessStats counts what revocation did on this engine, for metrics.
type AccessStats struct {
	// Changes is how many room change log entries were applied.
	Changes uint64
	// Removals is how many occupants were removed because they lost
	// access (by any path); Revoked how many watches were ended.
	Removals uint64
	Revoked  uint64
	// GroupChecks is how many live rooms FollowGroups rechecked because
	// their policy names directory groups.
	GroupChecks uint64
	// LastDelay is how long the last applied log entry took from being
	// recorded to being applied here.
	LastDelay time.Duration
}

// accessCounters are the engine's AccessStats.
type accessCounters struct {
	changes, removals, revoked atomic.Uint64
	groupChecks                atomic.Uint64 // FollowGroups' room rechecks
	lastDelay                  atomic.Int64
}

// AccessStats returns the engine's revocation counters.
func (e *Engine) AccessStats() AccessStats {
	return AccessStats{
		Changes:     e.access.changes.Load(),
		Removals:    e.access.removals.Load(),
		Revoked:     e.access.revoked.Load(),
		GroupChecks: e.access.groupChecks.Load(),
		LastDelay:   time.Duration(e.access.lastDelay.Load()),
	}
}

// removalStatus says whether an occupant whose user now has standing st
// may stay in r: 0 if so, else the XEP-0045 status code of its removal
// and the cause captured with it. o.Affiliation is the affiliation the
// occupant had until now: a non-member in a members-only room lost its
// membership (321) unless it never had one, in which case the room has
// just become members-only (322).
func removalStatus(r storage.Room, cat storage.Category, o *Occupant, st standing) (int, string) {
	switch {
	case isAdmin(o.User):
		return 0, ""
	case !allowedBy(cat, o.User):
		return StatusAffiliation, "ethical wall"
	case st.aff == AffOutcast:
		return StatusBanned, "banned"
	case r.MembersOnly && st.aff == AffNone && o.Affiliation == AffNone:
		return StatusMembersOnly, "members only"
	case r.MembersOnly && st.aff == AffNone:
		return StatusAffiliation, "no longer a member"
	}
	return 0, ""
}

// removal is an occupant to take out of a room, with why and the
// affiliation it leaves with (XEP-0045 §9.1: outcast for a ban).
type removal struct {
	nick   string
	aff    Affiliation
	status int
	cause  string
}

// removeLocked takes occupants out of the room because they lost access:
// each removal is captured, then every session in the room (the removed
// one included) gets the occupant's unavailable presence with the status.
// The removal happens even if its capture fails (the gap is logged): an
// ethical wall does not wait for the compliance outbox.
func (e *Engine) removeLocked(ctx context.Context, h *host, removals []removal, actor, reason string) {
	if len(removals) == 0 {
		return
	}
	by := actor
	if by == "" {
		by = "parleyd"
	}
	evs := make([]storage.OutboxEvent, 0, len(removals))
	for _, rm := range removals {
		o := h.occupants[rm.nick]
		sessions := make([]string, 0, len(o.Sessions))
		for _, s := range o.Sessions {
			sessions = append(sessions, s.Address)
		}
		evs = append(evs, e.event("evict", h.name, by, map[string]any{"user": o.User, "nick": o.Nick,
			"sessions": sessions, "status": rm.status, "cause": rm.cause, "reason": reason}))
	}
	if err := e.cfg.Store.AppendOutbox(ctx, evs...); err != nil {
		e.log.Error("recording removals from a room", "room", h.name, "removals", len(removals), "err", err)
	}
	actorNick := ""
	if actor != "" {
		actorNick = h.nickOf(actor)
	}
	for _, rm := range removals {
		o := h.occupants[rm.nick]
		gone := o.snapshot()
		gone.Role, gone.Affiliation = RoleNone, rm.aff
		h.presence(o, Event{Kind: EventPresence, Room: h.name, Occupant: gone, Status: []int{rm.status},
			Actor: shownActor(actor), ActorNick: actorNick, Reason: reason, Time: e.cfg.Now()})
		h.remove(rm.nick)
		e.log.Info("removed an occupant who lost access", "room", h.name, "user", gone.User, "nick", gone.Nick,
			"status", rm.status, "cause", rm.cause)
	}
	e.access.removals.Add(uint64(len(removals)))
}

// setStandingLocked gives an occupant who stays a new standing: its role
// follows (XEP-0045 §5.1.2) and the room is told.
func (e *Engine) setStandingLocked(h *host, r storage.Room, o *Occupant, st standing, actor, reason string) {
	o.Affiliation, o.presenter = st.aff, st.presenter
	was := o.Role
	h.setRole(o, defaultRole(st.aff, st.presenter, r))
	// A plain presence update: 321 means removed (XEP-0045 §15.6).
	h.roleChanged(o, was, Event{Kind: EventPresence, Room: r.Name, Occupant: o.snapshot(), Actor: shownActor(actor),
		ActorNick: h.nickOf(actor), Reason: reason, Time: e.cfg.Now()})
}

// standings reads a room's affiliations as standings by bare JID; users
// not in it have AffNone.
func (e *Engine) standings(ctx context.Context, room string) (standingTable, error) {
	affs, err := e.cfg.Store.Affiliations(ctx, room)
	if err != nil {
		return standingTable{}, fmt.Errorf("muc: reading affiliations of %s: %w", room, err)
	}
	var t standingTable
	for _, a := range affs {
		t.add(a)
	}
	return t, nil
}

// settleLocked brings the room's occupants and watchers in line with the
// room, its category and its affiliations as stored: occupants who lost
// access are removed, those whose affiliation or presenter right changed
// get their new role, watchers who may no longer read the room are
// revoked. It records what it checked against (h.checked).
func (e *Engine) settleLocked(ctx context.Context, h *host, r storage.Room, cat storage.Category) error {
	sts, err := e.standings(ctx, r.Name)
	if err != nil {
		return err
	}
	h.setBroadcast(r, e.cfg.Now())
	var out []removal
	for nick, o := range h.occupants {
		st := e.standingFrom(ctx, sts, o.User)
		if status, cause := removalStatus(r, e.forUser(ctx, cat, o.User), o, st); status != 0 {
			out = append(out, removal{nick, st.aff, status, cause})
		} else if st != (standing{o.Affiliation, o.presenter}) {
			e.setStandingLocked(h, r, o, st, "", "")
		}
	}
	e.removeLocked(ctx, h, out, "", "")
	e.revokeWatchersLocked(h, func(user string) error { return e.mayReadWith(ctx, r, cat, e.standingFrom(ctx, sts, user), user) })
	h.checked = checkedAt{room: r.Updated, category: cat.Updated}
	return nil
}

// checkedAt is what a room's live state was last checked against: the
// Updated times of the room and of its category.
type checkedAt struct{ room, category time.Time }

// freshLocked settles the room first if the room or its category changed
// since its occupants were last checked (a join or post with r and cat
// just read).
func (e *Engine) freshLocked(ctx context.Context, h *host, r storage.Room, cat storage.Category) error {
	if h.checked == (checkedAt{room: r.Updated, category: cat.Updated}) {
		return nil
	}
	if len(h.occupants) == 0 {
		h.checked = checkedAt{room: r.Updated, category: cat.Updated}
		h.quiet = quietRoles(r)
		return nil
	}
	return e.settleLocked(ctx, h, r, cat)
}

// revokeWatchersLocked ends the watches of the room whose user may no
// longer read it (mayRead returns why): they get EventRevoked with the
// refusal's status and nothing more.
func (e *Engine) revokeWatchersLocked(h *host, mayRead func(user string) error) {
	for _, w := range h.watchers.of(h.name) {
		if isAdmin(w.user) || mayRead(w.user) == nil {
			continue
		}
		if !h.watchers.drop(h.name, w) {
			continue // stopped meanwhile
		}
		w.sink.Deliver(Event{Kind: EventRevoked, Room: h.name, Time: e.cfg.Now()})
		e.access.revoked.Add(1)
		e.log.Info("ended a watch of a room its user may no longer read", "room", h.name, "user", w.user)
	}
}

// recheck applies a room's stored state to its live occupants and
// watchers on this engine: a deleted or disabled room puts everyone out
// (EventDestroyed), and otherwise settleLocked applies the walls, bans
// and memberships. With category set, only a room (still) in that
// category is rechecked. FollowChanges calls it for rooms changed
// elsewhere.
func (e *Engine) recheck(ctx context.Context, room, category string) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	if len(h.occupants) == 0 && len(h.watchers.of(room)) == 0 {
		return nil
	}
	r, err := e.cfg.Store.Room(ctx, room)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if category == "" {
			h.evictAll(Event{Kind: EventDestroyed, Room: room, Reason: "the room was deleted", Time: e.cfg.Now()})
		}
		return nil
	case err != nil:
		return fmt.Errorf("muc: reading room %s: %w", room, err)
	case category != "" && r.Category != category:
		return nil
	case r.Disabled:
		h.evictAll(Event{Kind: EventDestroyed, Room: room, Reason: "the room was disabled", Time: e.cfg.Now()})
		return nil
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return err
	}
	return e.settleLocked(ctx, h, r, cat)
}

// recheckCategory rechecks the live rooms of a category whose policy
// changed.
func (e *Engine) recheckCategory(ctx context.Context, category string) {
	for _, room := range e.liveRooms() {
		if err := e.recheck(ctx, room, category); err != nil {
			e.log.Error("applying a category change to a room", "room", room, "category", category, "err", err)
		}
	}
}

// liveRooms lists the rooms with occupants or watchers on this engine.
func (e *Engine) liveRooms() []string {
	out := e.HostedRooms()
	for _, name := range e.watch.rooms() {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// FollowChanges reads the room change log every interval and applies the
// changes made since it started — by parleyctl, by another node of a pool,
// or by this engine — to the rooms live on this engine (recheck), until
// ctx ends. It also deletes log entries older than an hour. The server
// runs it for as long as it serves; the delay between a change and its
// effect on occupants is at most about one interval plus the reads.
func (e *Engine) FollowChanges(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("muc: room change log interval %v is not positive", interval)
	}
	var cur changeCursor
	started := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	prune := time.NewTicker(changeLogPrune)
	defer prune.Stop()
	for {
		if !started {
			last, err := e.cfg.Store.LastRoomChange(ctx)
			if err == nil {
				cur, started = changeCursor{floor: last}, true
			} else if ctx.Err() == nil {
				e.log.Warn("reading the room change log", "err", err)
			}
		} else if err := e.applyChanges(ctx, &cur); err != nil && ctx.Err() == nil {
			e.log.Warn("reading the room change log", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-prune.C:
			if _, err := e.cfg.Store.PruneRoomChanges(ctx, e.cfg.Now().Add(-changeLogKeep)); err != nil && ctx.Err() == nil {
				e.log.Warn("pruning the room change log", "err", err)
			}
		}
	}
}

// applyChanges reads the log entries after the cursor and rechecks the
// live rooms they name.
func (e *Engine) applyChanges(ctx context.Context, cur *changeCursor) error {
	after := cur.floor
	for {
		rows, err := e.cfg.Store.RoomChanges(ctx, after, changeBatch)
		if err != nil {
			return err
		}
		rooms, categories := map[string]bool{}, map[string]bool{}
		now := e.cfg.Now()
		for _, c := range cur.take(rows, now) {
			if c.Room != "" {
				rooms[c.Room] = true
			} else {
				categories[c.Category] = true
			}
			e.access.changes.Add(1)
			e.access.lastDelay.Store(int64(now.Sub(c.Time)))
		}
		live := e.liveRooms()
		for _, room := range live {
			if rooms[room] {
				if err := e.recheck(ctx, room, ""); err != nil {
					e.log.Error("applying a room change", "room", room, "err", err)
				}
			}
		}
		for category := range categories {
			e.recheckCategory(ctx, category)
		}
		if len(rows) < changeBatch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// changeCursor is how far the room change log was read. Every entry with
// an ID up to floor was applied (or its ID given up as a rolled-back
// transaction's); above it, seen holds the IDs applied and gaps the IDs
// not seen yet with when they were first missed: on MySQL a transaction
// may commit after one that took a higher ID.
type changeCursor struct {
	floor int64
	seen  map[int64]bool
	gaps  map[int64]time.Time
}

// take returns the entries of rows (read after floor, in ID order) not
// applied yet, and moves floor up past what is done.
func (c *changeCursor) take(rows []storage.RoomChange, now time.Time) []storage.RoomChange {
	if c.seen == nil {
		c.seen, c.gaps = map[int64]bool{}, map[int64]time.Time{}
	}
	if len(rows) > 0 && rows[0].ID-c.floor > changeBatch {
		// Too many IDs missing to be transactions still open: entries
		// deleted by the pruning while this engine could not read.
		c.floor = rows[0].ID - 1
		clear(c.seen)
		clear(c.gaps)
	}
	var fresh []storage.RoomChange
	top := c.floor
	for _, r := range rows {
		if r.ID > c.floor && !c.seen[r.ID] {
			c.seen[r.ID] = true
			delete(c.gaps, r.ID)
			fresh = append(fresh, r)
		}
		top = max(top, r.ID)
	}
	for id := c.floor + 1; id < top; id++ {
		if _, ok := c.gaps[id]; !ok && !c.seen[id] {
			c.gaps[id] = now
		}
	}
	for c.floor < top {
		next := c.floor + 1
		if since, missing := c.gaps[next]; missing {
			if now.Sub(since) < changeGapWait {
				break
			}
			delete(c.gaps, next)
		}
		delete(c.seen, next)
		c.floor = next
	}
	return fresh
}
