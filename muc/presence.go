package muc

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// Presence broadcast limited to roles (XEP-0045 §16.5.3,
// muc#roomconfig_presencebroadcast; Prosody's and ejabberd's
// presence_broadcast): a room may send the other occupants the presence
// of some roles only. An occupant whose role is not broadcast still gets
// its own presence (status 110, kicks and bans with their codes); the
// others, watchers included, get nothing of it, and a newcomer's view of
// the room (Joined.Others) holds the broadcast roles only. Its role
// changing across the line is, for the others, a join (now broadcast) or
// an unavailable presence (no longer), as Prosody does. The occupant
// count (disco#info, admin) stays the full count.
//
// Why: in a room of n occupants each join costs n stanzas out and n in,
// n² for the room; with only moderators broadcast, a participant's join
// is its own presence, the moderators' and the history.

// broadcastRoles are the roles a room may broadcast, in the order
// storage.Room.PresenceBroadcast lists them.
var broadcastRoles = []Role{RoleModerator, RoleParticipant, RoleVisitor}

// BroadcastRoles returns the roles whose presence r broadcasts, in the
// order moderator, participant, visitor (all three unless r says).
func BroadcastRoles(r storage.Room) []Role {
	switch r.PresenceBroadcast {
	case "":
		return append([]Role(nil), broadcastRoles...)
	case "none":
		return []Role{}
	}
	var out []Role
	for role := range strings.SplitSeq(r.PresenceBroadcast, ",") {
		out = append(out, Role(role))
	}
	return out
}

// SetBroadcastRoles makes r broadcast the presence of roles (any order,
// repeats ignored; none of them: nobody's). A role other than moderator,
// participant or visitor is refused with CodeBadRequest.
func SetBroadcastRoles(r *storage.Room, roles []Role) error {
	var set roleSet
	for _, role := range roles {
		b := roleBit(role)
		if b == 0 {
			return refuse(CodeBadRequest, "presence broadcast: %q is not a role (want moderator, participant or visitor)", role)
		}
		set |= b
	}
	r.PresenceBroadcast = set.String()
	return nil
}

// roleSet is a set of the roles moderator, participant and visitor.
type roleSet uint8

// allRoles has every role of broadcastRoles.
const allRoles roleSet = 1<<3 - 1

func roleBit(r Role) roleSet {
	for i, b := range broadcastRoles {
		if b == r {
			return 1 << i
		}
	}
	return 0
}

// String is the set as storage.Room.PresenceBroadcast spells it.
func (s roleSet) String() string {
	switch s {
	case allRoles:
		return ""
	case 0:
		return "none"
	}
	var names []string
	for i, r := range broadcastRoles {
		if s&(1<<i) != 0 {
			names = append(names, string(r))
		}
	}
	return strings.Join(names, ",")
}

// quietRoles is the set of roles whose presence r does not broadcast.
func quietRoles(r storage.Room) roleSet {
	var shown roleSet
	for _, role := range BroadcastRoles(r) {
		shown |= roleBit(role)
	}
	return allRoles &^ shown
}

// shows reports whether the room broadcasts the presence of an occupant
// with role (for an unavailable presence: the role it had).
func (h *host) shows(role Role) bool { return h.quiet&roleBit(role) == 0 }

// admit puts o in the room's live state, indexed by nick and role.
func (h *host) admit(o *Occupant) {
	h.occupants[o.Nick] = o
	h.indexRole(o)
}

// drop takes o out of the room's live state (not its sessions).
func (h *host) drop(o *Occupant) {
	delete(h.occupants, o.Nick)
	delete(h.byRole[o.Role], o)
}

// setRole changes o's role and its place in the role index.
func (h *host) setRole(o *Occupant, role Role) {
	delete(h.byRole[o.Role], o)
	o.Role = role
	h.indexRole(o)
}

func (h *host) indexRole(o *Occupant) {
	if h.byRole == nil {
		h.byRole = make(map[Role]map[*Occupant]struct{})
	}
	if h.byRole[o.Role] == nil {
		h.byRole[o.Role] = make(map[*Occupant]struct{})
	}
	h.byRole[o.Role][o] = struct{}{}
}

// shownOthers are the occupants but self whose presence the room
// broadcasts: what a newcomer is shown. With some roles quiet it reads
// the role index only, so a big room's quiet majority costs nothing.
func (h *host) shownOthers(self *Occupant) []Occupant {
	var out []Occupant
	if h.quiet == 0 {
		out = make([]Occupant, 0, len(h.occupants))
		for _, o := range h.occupants {
			if o != self {
				out = append(out, o.snapshot())
			}
		}
		return out
	}
	for _, role := range broadcastRoles {
		if !h.shows(role) {
			continue
		}
		for o := range h.byRole[role] {
			if o != self {
				out = append(out, o.snapshot())
			}
		}
	}
	return out
}

// deliverOwn gives ev to o's own sessions only.
func (h *host) deliverOwn(o *Occupant, ev Event) {
	for _, s := range o.Sessions {
		if s.Sink != nil {
			s.Sink.Deliver(ev)
		}
	}
	if h.deliveries != nil {
		h.deliveries.Add(uint64(len(o.Sessions)))
	}
}

// deliverOthers gives ev to every session in the room but o's (all of
// them with o nil), and to the watchers.
func (h *host) deliverOthers(o *Occupant, ev Event) {
	n := 0
	for _, other := range h.occupants {
		if other == o {
			continue
		}
		for _, s := range other.Sessions {
			s.Sink.Deliver(ev)
			n++
		}
	}
	if h.deliveries != nil {
		h.deliveries.Add(uint64(n))
	}
	h.watchers.deliver(h.name, ev)
}

// presence delivers a presence event about o, an occupant in the room
// whose role the event does not change: to everyone if the room
// broadcasts o's role, else to o's own sessions only.
func (h *host) presence(o *Occupant, ev Event) {
	if h.shows(o.Role) {
		h.broadcast(ev)
		return
	}
	h.deliverOwn(o, ev)
}

// roleChanged delivers ev, o's presence with its new role (o.Role, was
// before): o gets it; the others get it if the new role is broadcast (a
// join, for those who did not see o), or an unavailable presence if only
// the old one was (Prosody's behaviour), or nothing.
func (h *host) roleChanged(o *Occupant, was Role, ev Event) {
	switch {
	case h.shows(o.Role):
		h.broadcast(ev)
	case h.shows(was):
		h.deliverOwn(o, ev)
		gone := ev
		gone.Occupant.Role = RoleNone
		gone.Status = nil
		h.deliverOthers(o, gone)
	default:
		h.deliverOwn(o, ev)
	}
}

// setBroadcast applies a room's presence broadcast setting to its live
// state (a configuration change, or the room read again): from now on
// presence follows it, and the others are told of the occupants whose
// visibility changed, as roleChanged tells them of one.
func (h *host) setBroadcast(r storage.Room, now time.Time) {
	quiet := quietRoles(r)
	if quiet == h.quiet {
		return
	}
	old := h.quiet
	h.quiet = quiet
	for _, role := range broadcastRoles {
		b := roleBit(role)
		if old&b == quiet&b {
			continue
		}
		// In nick order: every occupant is told the same sequence.
		changed := slices.SortedFunc(maps.Keys(h.byRole[role]), func(a, b *Occupant) int { return strings.Compare(a.Nick, b.Nick) })
		for _, o := range changed {
			ev := Event{Kind: EventPresence, Room: h.name, Occupant: o.snapshot(), Time: now}
			if quiet&b != 0 {
				ev.Occupant.Role = RoleNone
			}
			h.deliverOthers(o, ev)
		}
	}
}
