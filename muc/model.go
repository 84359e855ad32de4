// Package muc is Parley's room engine: categories, persistent rooms, their
// members, managers and presenters, who is in each room now, the posting
// rules, history and search. It is protocol-neutral (shared/DESIGN.md §1,
// §3): the XMPP and SIP front doors turn their wire traffic into calls on
// Rooms and turn the Events the engine delivers back into stanzas or SIP
// requests. muc imports no protocol package; it persists through
// storage.RoomStore.
//
// Concepts map as DESIGN §1 says: a closed room is public and members-only,
// a secret room hidden and members-only, an auditorium a moderated room in
// which presenters and managers have voice; managers are owners and admins.
package muc

import (
	"time"

	"github.com/parleychat/parley/storage"
)

// Privacy of a room, as Persistent Chat names it.
type Privacy string

const (
	Open   Privacy = "open"   // anyone may find and join
	Closed Privacy = "closed" // listed, members only
	Secret Privacy = "secret" // unlisted, members only
)

// RoomType: a normal room, or an auditorium where only presenters post.
type RoomType string

const (
	Normal     RoomType = "normal"
	Auditorium RoomType = "auditorium"
)

// PrivacyOf derives a room's privacy from its XEP-0045 flags.
func PrivacyOf(r storage.Room) Privacy {
	switch {
	case !r.MembersOnly:
		return Open
	case r.Public:
		return Closed
	}
	return Secret
}

// SetPrivacy sets the XEP-0045 flags for p.
func SetPrivacy(r *storage.Room, p Privacy) {
	switch p {
	case Open:
		r.Public, r.MembersOnly = true, false
	case Closed:
		r.Public, r.MembersOnly = true, true
	case Secret:
		r.Public, r.MembersOnly = false, true
	}
}

// TypeOf reports whether a room is an auditorium.
func TypeOf(r storage.Room) RoomType {
	if r.Moderated {
		return Auditorium
	}
	return Normal
}

// Roles (XEP-0045 §5.1): an occupant's privileges while in the room.
type Role string

const (
	RoleModerator   Role = "moderator"
	RoleParticipant Role = "participant"
	RoleVisitor     Role = "visitor"
	RoleNone        Role = "none"
)

// Affiliation (XEP-0045 §5.2): a user's lasting standing in a room.
type Affiliation string

const (
	AffOwner   Affiliation = storage.AffiliationOwner
	AffAdmin   Affiliation = storage.AffiliationAdmin
	AffMember  Affiliation = storage.AffiliationMember
	AffOutcast Affiliation = storage.AffiliationOutcast
	AffNone    Affiliation = storage.AffiliationNone
)

// rank orders affiliations for "may act on" checks (XEP-0045 §5.2.1).
func (a Affiliation) rank() int {
	switch a {
	case AffOwner:
		return 4
	case AffAdmin:
		return 3
	case AffMember:
		return 2
	case AffNone:
		return 1
	}
	return 0
}

// IsManager reports owners and admins, Persistent Chat's managers.
func (a Affiliation) IsManager() bool { return a == AffOwner || a == AffAdmin }

// defaultRole is the role an occupant gets on joining (XEP-0045 §5.1.2,
// with DESIGN §1's auditorium mapping).
func defaultRole(aff Affiliation, presenter bool, room storage.Room) Role {
	switch {
	case aff.IsManager():
		return RoleModerator
	case room.Moderated && !presenter:
		return RoleVisitor
	}
	return RoleParticipant
}

// Occupant is a snapshot of one nick in a room, as events carry it.
type Occupant struct {
	Room string
	Nick string
	// User is the occupant's bare JID (SIP users are mapped to one, RFC
	// 7247).
	User string
	// OccupantID is the XEP-0421 id: stable for a user in a room, opaque,
	// the same on every front door.
	OccupantID  string
	Role        Role
	Affiliation Affiliation
	// Presence is front-door data shown with the occupant's presence
	// (XMPP show/status), kept as opaque bytes.
	Presence []byte
	// Sessions are the front-door sessions joined under this nick (one,
	// or several for a multi-session nick from the same user).
	Sessions []Session
	// presenter is the user's presenter right the role was derived from
	// (the room's host's own record: it does not cross the pool bus).
	presenter bool
}

// Session is one client connection in a room.
type Session struct {
	// Address identifies the session on its front door: an XMPP full JID
	// or a SIP AOR/contact key.
	Address   string
	FrontDoor string
	// Sink is local to the session's node: it never crosses the pool bus.
	Sink Sink `json:"-"`
}

// Sink receives the events of the rooms a session is in. Deliver must not
// block: the front door queues the event (or drops the session if it
// cannot) so a slow reader never stalls a room (STYLE.md).
type Sink interface {
	Deliver(ev Event)
}

// EventKind says what happened.
type EventKind int

const (
	// EventJoined: the session's own join succeeded; Joined has the room
	// state it needs. It is the first event a session gets from a room.
	EventJoined EventKind = iota + 1
	// EventPresence: an occupant joined, changed presence, role or nick,
	// or left (Occupant.Role == RoleNone).
	EventPresence
	// EventMessage: a post, correction, retraction or moderation was
	// committed to history.
	EventMessage
	// EventSubject: the subject changed (also a history entry).
	EventSubject
	// EventPrivate: a private message between two occupants.
	EventPrivate
	// EventDestroyed: the room was destroyed or disabled; sessions are
	// out.
	EventDestroyed
	// EventConfig: the room's configuration changed (XEP-0045 status 104).
	EventConfig
	// EventRevoked: a watcher's user may no longer read the room (a ban,
	// a membership removed, an ethical wall, a room made members-only);
	// the watch has ended. Only watchers get it (revoke.go).
	EventRevoked
)

// Status codes the engine attaches to presence events (XEP-0045 §15.6).
// Front doors add 110 (self-presence) and 100/170 (whois, logging) per
// recipient themselves.
const (
	StatusRoomCreated  = 201
	StatusNickAssigned = 210
	StatusBanned       = 301
	StatusNickChanged  = 303
	StatusKicked       = 307
	StatusAffiliation  = 321
	StatusMembersOnly  = 322
	StatusShutdown     = 332
	// StatusNodeLost: the occupant was removed because its node was lost
	// (XEP-0045 333, "removed due to a technical problem").
	StatusNodeLost      = 333
	StatusConfigChanged = 104
)

// Event is what the engine delivers to every session in a room. Events of
// one room are delivered in one order, equal to history order.
type Event struct {
	Kind EventKind
	Room string
	// Occupant is who the event is about (the sender of a message; the
	// subject of a presence change).
	Occupant Occupant
	// OldNick is set when Occupant changed nick (with StatusNickChanged).
	OldNick string
	// Status are XEP-0045 status codes that apply to every recipient.
	Status []int
	// Actor and Reason explain kicks, bans and destruction: Actor is the
	// actor's bare JID, ActorNick their nick if they are in the room
	// (front doors show the JID only where real JIDs may be seen).
	Actor, ActorNick, Reason string
	// Message is set for EventMessage and EventSubject.
	Message *storage.HistoryMessage
	// Private is the payload of an EventPrivate, addressed to To.
	Private []byte
	To      string // recipient nick of a private message
	// Config is the room's new configuration, for EventConfig.
	Config *storage.Room
	// Joined is set for EventJoined.
	Joined *Joined
	// AlternateVenue is where a destroyed room's occupants may go.
	AlternateVenue string
	Time           time.Time
}
