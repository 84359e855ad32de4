package storage

import (
	"context"
	"time"
)

// Retention and legal hold (issue 5 item 5, shared/DESIGN.md §6): a category
// keeps its rooms' history for Category.RetentionDays, the compliance
// database keeps its events for the compliance-retention setting, and a hold
// on a user or a room stops both purges for what it covers. storage/sqlite
// and storage/mysql stores implement RetentionStore, their compliance stores
// ComplianceRetention; storagetest checks both.

// Hold kinds.
const (
	// HoldUser holds every history row a user posted (by RealJID) and
	// every compliance event they acted in (by Actor).
	HoldUser = "user"
	// HoldRoom holds a room's whole history and all its compliance
	// events.
	HoldRoom = "room"
)

// Hold is a legal hold: while it stands, nothing it covers is purged, by
// retention or by a room clear.
type Hold struct {
	Kind string // HoldUser or HoldRoom
	// Name is the user's bare JID or the room's name.
	Name   string
	Reason string
	// Actor is who placed the hold; Created is when (now, if zero).
	Actor   string
	Created time.Time
}

// HistoryPurge deletes old history rows of one room, a batch at a time.
type HistoryPurge struct {
	Room string
	// Before: only rows posted strictly before it are deleted, oldest
	// first. Rows of held users are kept, and nothing is deleted from a
	// held room.
	Before time.Time
	// Limit bounds the rows deleted (required, > 0).
	Limit int
	// Event builds the compliance event that records the batch, from
	// the number of rows deleted and the newest Time among them; it is
	// called inside the transaction, and only when n > 0, so that the
	// event is written with the deletion or not at all.
	Event func(n int, newest time.Time) OutboxEvent
}

// RetentionStore is what retention and legal hold need of the content
// database.
type RetentionStore interface {
	// PutHold places (or replaces, keeping Created) the hold on
	// (h.Kind, h.Name) with its event.
	PutHold(ctx context.Context, h Hold, ev OutboxEvent) error
	// DeleteHold lifts a hold with its event; ErrNotFound if there is
	// none.
	DeleteHold(ctx context.Context, kind, name string, ev OutboxEvent) error
	// Holds returns every hold ordered by kind and name.
	Holds(ctx context.Context) ([]Hold, error)
	// PurgeHistory deletes up to p.Limit rows as p says, with their
	// full-text index entries, and writes p.Event's event in the same
	// transaction. It returns how many rows it deleted: fewer than
	// p.Limit means nothing more is due. An unknown room has nothing to
	// purge.
	PurgeHistory(ctx context.Context, p HistoryPurge) (int, error)
}

// ComplianceEventPurge deletes old compliance events, a batch at a time.
type ComplianceEventPurge struct {
	// Before: only events that happened strictly before it are deleted,
	// oldest first.
	Before time.Time
	// KeepRooms and KeepActors are the held rooms and users: their
	// events are kept.
	KeepRooms, KeepActors []string
	// Limit bounds the events deleted (required, > 0).
	Limit int
}

// ComplianceRetention is what compliance retention needs of the
// compliance database.
type ComplianceRetention interface {
	// PurgeComplianceEvents deletes up to p.Limit events as p says and
	// returns how many it deleted and the newest Time among them.
	PurgeComplianceEvents(ctx context.Context, p ComplianceEventPurge) (n int, newest time.Time, err error)
}
