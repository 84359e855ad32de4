package muc

import (
	"context"

	"github.com/parleychat/parley/storage"
)

// Rooms is what the protocol front doors use of the room engine (DESIGN
// §4): the commands its host runs and the records any node serves. On a
// single node it is the *Engine itself; in a pool, package pool
// implements RoomHost by running each command on the node that hosts the
// room and bringing its events back, and this node's engine serves the
// Records (pool.Pool.Rooms), so the front doors do not know which they
// have.
type Rooms interface {
	RoomHost
	Records
}

// RoomHost is what must run on a room's host: the commands that read or
// change the room's live state (its occupants, their roles and sessions,
// its watchers) or whose effects the occupants must see in the room's one
// order (posts, subject, moderation, configuration, destruction). The
// host serialises them (DESIGN §4).
type RoomHost interface {
	// Occupancy and posting.
	Join(ctx context.Context, req JoinRequest) error
	Leave(ctx context.Context, room, address string, presence []byte) error
	SetPresence(ctx context.Context, room, address string, presence []byte) error
	Post(ctx context.Context, req PostRequest) (*storage.HistoryMessage, error)
	SetSubject(ctx context.Context, room, address, subject string, stanza []byte) error
	SendPrivate(ctx context.Context, room, address, toNick string, payload []byte, body string) (PrivateSent, error)
	Invite(ctx context.Context, room, address, invitee string) error
	Occupant(room, address string) (Occupant, bool)
	Occupants(room string) []Occupant
	// LeaveAll takes a session out of every room it is in;
	// ShutdownSession does the same with status 332 (server shutdown).
	LeaveAll(ctx context.Context, address string)
	ShutdownSession(ctx context.Context, address string)

	// Watch and Snapshot observe a room without being in it (watch.go).
	Watch(room, user string, sink Sink, first func([]Occupant)) (stop func())
	Snapshot(room string, fn func([]Occupant))

	// Administration with live effects.
	SetRole(ctx context.Context, room, actorAddress, nick string, role Role, reason string) error
	SetAffiliation(ctx context.Context, room, actor, jid string, aff Affiliation, reason string) error
	SetPresenter(ctx context.Context, room, actor, jid string, presenter bool) error
	Configure(ctx context.Context, actor, name string, change func(*storage.Room) error) (storage.Room, error)
	Destroy(ctx context.Context, actor, name, reason, venue string) error
	RemoveMessage(ctx context.Context, actor, room, stanzaID, replacement string) error
}

// Records are reads and changes of durable state only: rooms and
// categories as stored, affiliations, rights, history, topic-feed follows
// and occupant ids. Any node serves them from the database it shares with
// the pool; a change that occupants must feel reaches each room's host
// through the room change log (revoke.go).
type Records interface {
	CreateRoom(ctx context.Context, req CreateRoomRequest) (storage.Room, error)
	Room(ctx context.Context, name, asker string) (storage.Room, error)
	ListRooms(ctx context.Context, asker, category string) ([]storage.Room, error)
	Affiliations(ctx context.Context, room, asker string, aff Affiliation) ([]storage.Affiliation, error)
	OccupantID(room, user string) string
	Allowed(ctx context.Context, category, user string) (bool, error)
	PutCategory(ctx context.Context, actor string, c storage.Category) error
	Category(ctx context.Context, name string) (storage.Category, error)
	Categories(ctx context.Context) ([]storage.Category, error)
	MayUpload(ctx context.Context, user string) error
	MayRead(ctx context.Context, room, user string) error
	History(ctx context.Context, user, via string, q storage.HistoryQuery) ([]storage.HistoryMessage, bool, error)
	CountHistory(ctx context.Context, user string, q storage.HistoryQuery) (int, error)
	Message(ctx context.Context, user, room, stanzaID string) (storage.HistoryMessage, error)
	ResolveOwnMessage(ctx context.Context, room, user, id string, idOf func(stanza []byte) string) string
	Follow(ctx context.Context, user, room string, keywords []string) (storage.Follow, error)
	Unfollow(ctx context.Context, user, room string) error
	Follows(ctx context.Context, user string) ([]storage.Follow, error)
}

var _ Rooms = (*Engine)(nil)
