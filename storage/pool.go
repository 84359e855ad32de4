package storage

import (
	"context"
	"errors"
	"time"
)

// ErrFenced means a write carried a HostFence that is no longer current:
// another node has taken over the room (DESIGN §4). Nothing was written.
var ErrFenced = errors.New("storage: room is hosted by another node")

// ErrHeld means a room's host record names a node the claimant may not
// take the room from.
var ErrHeld = errors.New("storage: room is held by another node")

// HostFence names the node that believes it hosts a room and the epoch of
// its claim. A write that carries one commits only if the room's host
// record still says exactly that, checked in the write's own transaction:
// a node that lost its room (partitioned, paused, presumed dead) cannot
// commit a post for it after the new host's claim.
type HostFence struct {
	Node  string
	Epoch int64
}

// NodeStatus is what a pool node publishes about itself in the database,
// for `parleyctl pool status` and for the majority check that keeps a
// partitioned node from hosting rooms.
type NodeStatus struct {
	Node string
	// Role is the configured role: "active" or "standby".
	Role string
	// Active is true while the node serves clients and hosts rooms (a
	// standby is active while promoted).
	Active bool
	// ClientAddr is where XMPP clients reach the node (host:port), for
	// <see-other-host/>.
	ClientAddr string
	// PoolAddr is the node's pool (bus) address.
	PoolAddr string
	Sessions int
	Rooms    int
	// CPU is the node's CPU use over the last status interval, in cores.
	CPU float64
	// Peers is how many other nodes the node sees on the bus.
	Peers      int
	BusLatency time.Duration
	DBLatency  time.Duration
	StartedAt  time.Time
	// Age is how long ago the database received the status (set on read,
	// by the database's own clock).
	Age time.Duration
}

// PoolStore keeps the pool's shared, durable state: who hosts each room
// (with fencing epochs), node statuses, and secrets every node must share.
// Only the MySQL store implements it: a pool needs one shared database.
type PoolStore interface {
	// ClaimRoom makes node the host of room with a new epoch, which it
	// returns. If another node holds the room and mayTake(holder) is
	// false, it returns the holder's fence and ErrHeld.
	ClaimRoom(ctx context.Context, room, node string, mayTake func(holder string) bool) (HostFence, error)
	// RoomHost returns the room's host record, or ErrNotFound.
	RoomHost(ctx context.Context, room string) (HostFence, error)
	// ReleaseRoom deletes the room's host record if it is still f.
	ReleaseRoom(ctx context.Context, room string, f HostFence) error
	// HostedRooms counts host records per node.
	HostedRooms(ctx context.Context) (map[string]int, error)
	// PutNodeStatus records a node's status, stamped with the database's
	// clock.
	PutNodeStatus(ctx context.Context, st NodeStatus) error
	// NodeStatuses returns every recorded node, with Age set.
	NodeStatuses(ctx context.Context) ([]NodeStatus, error)
	// DeleteNodeStatus forgets a node (an operator removing it).
	DeleteNodeStatus(ctx context.Context, node string) error
	Secrets
}

// Secrets keeps secrets that must be the same on every node of a pool and
// across restarts: the XEP-0421 occupant-id key, the Server Dialback
// secret (XEP-0185) that lets any node verify a dialback key another made.
type Secrets interface {
	// SharedSecret returns the secret stored under name, storing
	// generate()'s value first if there is none, so that every node of a
	// pool gets the same one.
	SharedSecret(ctx context.Context, name string, generate func() []byte) ([]byte, error)
}
