package storage

import (
	"context"
	"time"
)

// The compliance database (shared/DESIGN.md §6) is separate from the content
// database: its own DSN (another database or another server), its own
// migrations and version table. The compliance worker copies the content
// database's outbox into it. storage/sqlite and storage/mysql implement
// ComplianceStore (OpenCompliance); storage/backend.OpenCompliance opens one
// from a --compliance-storage value; storagetest.RunCompliance is their
// conformance suite.

// ComplianceEvent is one event kept in the compliance database: an outbox
// event as copied, with where it came from and when it was copied.
type ComplianceEvent struct {
	// Seq orders the compliance database: the order in which events were
	// captured (copied), assigned on insert.
	Seq int64
	// OutboxID is the event's ID in the content database's outbox, kept
	// for tracing; it is not unique over time (a content database may be
	// replaced), EventID is.
	OutboxID int64
	EventID  string
	Type     string
	Room     string
	Actor    string
	// Target is the user the event concerns besides its actor (see
	// OutboxEvent.Target); empty for most events.
	Target  string
	Time    time.Time
	Payload []byte
	// CapturedAt is when the event was copied into the compliance
	// database.
	CapturedAt time.Time
}

// ComplianceQuery selects compliance events by the time they happened, room
// and actor, and pages through them in (Time, Seq) order.
type ComplianceQuery struct {
	// From and To bound Time: From <= Time < To; a zero bound is open.
	From, To time.Time
	// Room, if not empty, selects that room's events only.
	Room string
	// OutsideRooms selects only the events outside rooms (Room ""):
	// categories, files, the compliance setting. Room must be empty.
	OutsideRooms bool
	// Actor, if not empty, selects the events that actor caused only.
	Actor string
	// User, if not empty, selects the events that concern user: those
	// they caused (Actor) and those done to them (Target: kicked,
	// banned, invited, sent a private message, their file downloaded).
	User string
	// AfterTime and AfterSeq are the cursor: only events after them in
	// (Time, Seq) order. AfterSeq 0 starts at the beginning.
	AfterTime time.Time
	AfterSeq  int64
	// Limit bounds the events returned; it must be positive.
	Limit int
}

// ComplianceTally is how many events one actor caused in one room ("" for
// events outside rooms).
type ComplianceTally struct {
	Room   string
	Actor  string
	Events int64
}

// AdapterPosition is how far a compliance adapter (an XML or JSON-lines
// writer) has written the compliance database, kept in it so that an
// adapter resumes where it stopped, on whichever node holds the worker
// lease.
type AdapterPosition struct {
	Name string
	// Seq is the last event written: the next run starts after it.
	Seq int64
	// Pending, when above Seq, is the end of a run that started and has
	// not finished: the next run writes exactly (Seq, Pending] again, so
	// that a retried run produces the same files, never a shifted range
	// that would duplicate what a half-finished run already delivered.
	Pending int64
	// Updated is when the position was last stored.
	Updated time.Time
	// LastRun is the adapter's last run; its At is zero when it never
	// ran.
	LastRun AdapterRun
}

// AdapterRun describes one run of a compliance adapter, for an operator.
type AdapterRun struct {
	// At is when the run ended.
	At time.Time
	// Events is how many events it wrote (0 when it failed or had
	// nothing new).
	Events int64
	// File is the last file it wrote ("" when none), Error why it failed
	// ("" when it did not). Both are cut to MaxAdapterRunText
	// characters.
	File, Error string
}

// MaxAdapterRunText bounds AdapterRun's File and Error, in characters.
const MaxAdapterRunText = 1024

// MaxAdapterNameLength is the longest adapter name, in characters.
const MaxAdapterNameLength = 64

// Lease is a named, time-limited right held by one holder (a node), kept in
// the compliance database so that every node of a pool sees the same one.
type Lease struct {
	Name   string
	Holder string
	// Expires is when the lease lapses unless renewed; after it any
	// holder may take it. Zero with an empty Holder when the lease has
	// never been taken or was released.
	Expires time.Time
}

// Held reports whether holder holds l at now.
func (l Lease) Held(holder string, now time.Time) bool {
	return l.Holder != "" && l.Holder == holder && now.Before(l.Expires)
}

// Maximum lengths of lease names and holders, in characters.
const (
	MaxLeaseNameLength   = 64
	MaxLeaseHolderLength = 255
)

// ComplianceStore is the compliance database.
//
// Lease times are the database's clock (MySQL's NOW(6), the local clock for
// SQLite), so that the nodes of a pool agree on them whatever their own
// clocks say.
type ComplianceStore interface {
	// CaptureEvents stores events copied from the outbox, in the order
	// given, in one transaction: all or none, with their Target. Captures
	// commit one at a time, so a reader of ComplianceEvents never sees a
	// seq before a lower one that is still to commit. An event whose EventID is
	// already stored is skipped, not an error, so copying the same events
	// again (after a crash between the copy and the outbox delete) stores
	// nothing twice. It returns how many events were new. Events are
	// checked as AppendOutbox checks them; a zero Time is refused.
	CaptureEvents(ctx context.Context, evs []OutboxEvent) (int, error)
	// ComplianceEvents returns up to limit events with Seq > after, in
	// Seq order.
	ComplianceEvents(ctx context.Context, after int64, limit int) ([]ComplianceEvent, error)
	// CountComplianceEvents returns how many events are stored.
	CountComplianceEvents(ctx context.Context) (int64, error)
	// QueryComplianceEvents returns up to q.Limit events that q selects,
	// after its cursor, in (Time, Seq) order: an export pages through a
	// time range by passing the last event's Time and Seq as the next
	// cursor.
	QueryComplianceEvents(ctx context.Context, q ComplianceQuery) ([]ComplianceEvent, error)
	// TallyComplianceEvents counts the events that q selects (its cursor
	// and Limit ignored) by room and actor, ordered by room and actor:
	// the rooms and participants of an export, and its size, without
	// reading the events.
	TallyComplianceEvents(ctx context.Context, q ComplianceQuery) ([]ComplianceTally, error)

	// AdapterPosition returns where the adapter called name stands; the
	// zero position (Seq 0) when it never ran.
	AdapterPosition(ctx context.Context, name string) (AdapterPosition, error)
	// SetAdapterPosition stores p (Updated is set to the database's
	// time), with its LastRun.
	SetAdapterPosition(ctx context.Context, p AdapterPosition) error
	// AdapterPositions returns the position of every adapter that ran,
	// by name.
	AdapterPositions(ctx context.Context) ([]AdapterPosition, error)

	// AcquireLease takes the lease called name for holder for ttl from
	// now, if nobody holds it, its holder let it expire, or holder
	// already holds it (then it is renewed). It returns the lease as it
	// stands afterwards and whether holder holds it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error)
	// ReleaseLease gives the lease up at once if holder holds it, so that
	// another holder need not wait for it to expire; otherwise it does
	// nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
	// Lease returns the lease called name as it stands (an empty Holder
	// when never taken or released) and the database's current time, to
	// judge it by.
	Lease(ctx context.Context, name string) (l Lease, now time.Time, err error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// OutboxStats describes the outbox of the content database: how many events
// wait for the compliance worker, and when the oldest of them (the one with
// the lowest ID) happened.
type OutboxStats struct {
	Events int64
	// Oldest is zero when the outbox is empty.
	Oldest time.Time
}

// ComplianceOutbox is what the compliance worker needs of the content
// store: the outbox, to read, delete and measure. storage/sqlite and
// storage/mysql stores implement it.
type ComplianceOutbox interface {
	// ReadOutbox and DeleteOutbox are RoomStore's; read their comments
	// about reading from 0 and deleting exact IDs.
	ReadOutbox(ctx context.Context, after int64, limit int) ([]OutboxEvent, error)
	DeleteOutbox(ctx context.Context, ids ...int64) error
	AppendOutbox(ctx context.Context, evs ...OutboxEvent) error
	// OutboxStats measures the outbox.
	OutboxStats(ctx context.Context) (OutboxStats, error)
}
