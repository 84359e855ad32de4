package storage

import (
	"context"
	"time"
)

// This file is the persistence contract of the room engine (package muc):
// categories, rooms, affiliations, history with full-text search, and the
// compliance outbox. Every mutation takes the compliance event that records
// it and writes both in ONE transaction (shared/DESIGN.md §3 "A post, end to
// end", §6): nothing is captured that did not happen, nothing that
// happened is missed. A mutation that fails writes neither.

// Length limits, in characters, for the room engine's keys (see
// MaxUsernameLength for why keys are bounded). Longer values are rejected
// with an invalid-input error before they reach the database.
const (
	// MaxRoomNameLength bounds Room.Name (a JID localpart) and every
	// reference to a room.
	MaxRoomNameLength = 255
	// MaxCategoryNameLength bounds Category.Name and Room.Category.
	MaxCategoryNameLength = 255
	// MaxNickLength bounds HistoryMessage.Nick, which With queries look up
	// by index. XEP-0045 allows longer nicks (a resourcepart, 1023 bytes);
	// the engine refuses them at join.
	MaxNickLength = 255
	// MaxIDLength bounds HistoryMessage.StanzaID and Target and
	// OutboxEvent.EventID.
	MaxIDLength = 255
)

// Category is a container of rooms with policy (DESIGN §1).
type Category struct {
	// Name is the category's unique name, e.g. "engineering".
	Name        string
	Description string
	// AllowedMembers are the bare JIDs that may be members of its rooms;
	// "*" allows everyone, a bare domain ("example.org") every user of
	// that domain. Lists come back nil when empty.
	AllowedMembers []string
	// DeniedMembers may never be members (an ethical wall), by bare JID
	// or by domain; denial wins over AllowedMembers.
	DeniedMembers []string
	// Creators are the bare JIDs that may create rooms in it.
	Creators []string
	// FileUpload, Invitations and ChatHistory are the policy switches:
	// with ChatHistory off posts are not kept for users (they still reach
	// the compliance outbox).
	FileUpload  bool
	Invitations bool
	ChatHistory bool
	// RetentionDays, when above 0, is how long its rooms keep history:
	// the retention runner (package compliance) purges messages older
	// than that many days, except what a legal hold covers. 0 keeps
	// history forever.
	RetentionDays int
	// LocalOnly keeps its rooms to the users of this server's domain:
	// users of other servers (federation) may not join nor read them.
	// The zero value, false, is a federated category.
	LocalOnly bool
	// Created is set when the category is first stored (now, if zero) and
	// never changes; Updated is the time of the last PutCategory (now, if
	// zero).
	Created time.Time
	Updated time.Time
}

// Room is a persistent chat room (XEP-0045 room config mapped as DESIGN §1).
type Room struct {
	// Name is the room's localpart at the MUC service, e.g. "design".
	Name string
	// Category must name an existing category.
	Category    string
	Title       string
	Description string
	// Subject, with who set it (nick) and when; SubjectTime is zero
	// while no subject was ever set.
	Subject       string
	SubjectNick   string
	SubjectTime   time.Time
	Public        bool // listed in disco#items
	MembersOnly   bool
	Moderated     bool   // an auditorium: only presenters and managers post
	Password      string // stored as given: the room needs it to compare
	WhoIs         string // "moderators" or "anyone" (muc#roomconfig_whois)
	MaxUsers      int    // 0: the service default
	ChangeSubject string // "moderators" or "participants"
	AllowPM       string // "anyone", "participants", "moderators" or "none"
	AllowInvites  bool
	Disabled      bool
	AddInURL      string
	// PresenceBroadcast lists the roles whose presence the room sends to
	// the other occupants (muc#roomconfig_presencebroadcast), comma
	// separated in the order moderator, participant, visitor: "" (the
	// zero value, and every room stored before the setting existed)
	// means all three, "none" none of them.
	PresenceBroadcast string
	// Creator (a bare JID) and Created are set by CreateRoom and kept by
	// UpdateRoom. Created defaults to now, Updated to Created on create
	// and to now on update.
	Creator string
	Created time.Time
	Updated time.Time
}

// Affiliation values (XEP-0045 §5.2), stored per room and bare JID.
const (
	AffiliationOwner   = "owner"
	AffiliationAdmin   = "admin"
	AffiliationMember  = "member"
	AffiliationOutcast = "outcast"
	AffiliationNone    = "none"
)

// Affiliation is one user's standing in one room. Presenter marks a user
// who may post in an auditorium (a participant, voiced, in XEP-0045 terms).
type Affiliation struct {
	Room        string
	JID         string // bare JID
	Affiliation string // one of the Affiliation* constants; stored rows are never none
	Presenter   bool
	Reason      string
}

// History kinds.
const (
	KindPost       = "post"
	KindCorrection = "correction" // XEP-0308
	KindRetraction = "retraction" // XEP-0424, by the author
	KindModeration = "moderation" // XEP-0425, by a manager
	KindSubject    = "subject"
)

// HistoryMessage is one archived room message: the full stanza as it was
// reflected plus the columns that queries filter on (DESIGN §5).
type HistoryMessage struct {
	Room string
	// Seq orders a room's history; it is assigned by AppendHistory and
	// increases by one with every message of the room, starting at 1.
	// Seqs of a deleted room are not remembered: a room created again
	// under the same name starts at 1.
	Seq int64
	// StanzaID is the room-assigned XEP-0359 id, unique per room.
	StanzaID   string
	OriginID   string
	OccupantID string
	Nick       string
	RealJID    string // the sender's bare JID (or SIP address mapped to one)
	FrontDoor  string // "xmpp" or "sip"
	Kind       string // one of the Kind* constants
	// Target is the StanzaID a correction, retraction or moderation
	// applies to.
	Target string
	// Body is the plain text, indexed for full-text search.
	Body string
	// AltBodies is the text of the message's other bodies (XMPP <body/>s
	// in other languages, RFC 6121 §5.2.3), one per line: indexed for
	// full-text search with Body, not kept as a column of its own (the
	// stanza holds them). A query returns it empty.
	AltBodies string
	Stanza    []byte
	// Time is when the message was posted; AppendHistory uses the current
	// time when it is zero.
	Time time.Time
	// Tombstone is set on a message that was retracted or moderated: its
	// body and stanza were replaced and it is kept as a marker.
	Tombstone bool
}

// OutboxEvent is one compliance event waiting for the compliance worker.
type OutboxEvent struct {
	// ID orders the outbox; assigned on insert, never reused.
	ID int64
	// EventID is unique per event (used to copy exactly once).
	EventID string
	Type    string // "post", "join", "leave", "kick", "room.create", …
	Room    string // may be empty (category events)
	Actor   string // real identity of who acted
	// Time is when it happened; the current time when zero.
	Time time.Time
	// Payload is the event's detail as JSON (or empty).
	Payload []byte
	// Target is the user the event concerns besides its actor: the
	// kicked or banned user, the invitee, the recipient of a private
	// message, the owner of a downloaded file. The outbox does not keep
	// it: the compliance worker derives it from the payload
	// (compliance.EventTarget) before capture, and the compliance
	// database keeps it, so that an export by user finds what was done to
	// them as well as what they did.
	Target string
}

// PostWrite is one history row with the compliance event that records it.
// History is nil when the category keeps no history: the event alone is
// written.
type PostWrite struct {
	History *HistoryMessage
	Event   OutboxEvent
	// Tombstone, when set, tombstones an earlier message of the post's
	// room (a retraction's or moderation's target) in the same
	// transaction, as RoomStore.Tombstone does: the post, its event and
	// the tombstone are written together or not at all. The post's room
	// is History.Room, or Event.Room when History is nil.
	Tombstone *TombstoneWrite
	// Fence, when set, makes the write conditional on the room's host
	// record (PoolStore): if it no longer matches, AppendHistory fails
	// with ErrFenced and writes nothing. Stores without pool support
	// refuse writes that carry one.
	Fence *HostFence
}

// RoomChange is one entry of the room change log: a change that may
// affect who may be in a room or watch it — a room's settings or its
// existence, a user's affiliation, a category's policy (its ethical
// wall). UpdateRoom, DeleteRoom and SetAffiliation record one naming the
// room, PutCategory one naming the category, each in the change's own
// transaction. A running room engine reads the log to apply changes made
// elsewhere (by parleyctl, by another node of a pool) to the occupants it
// hosts (package muc).
type RoomChange struct {
	// ID orders the log; it is assigned on insert and never reused.
	ID int64
	// Room is the changed room, or Category the changed category: one of
	// them is set.
	Room     string
	Category string
	// Time is when the change was recorded.
	Time time.Time
}

// TombstoneWrite replaces the body and stanza of one archived message and
// marks it a tombstone (see RoomStore.Tombstone).
type TombstoneWrite struct {
	// StanzaID is the target's StanzaID in the post's room.
	StanzaID string
	// Body replaces the target's body (and its words in the full-text
	// index); Stanza replaces its stanza, and may be nil.
	Body   string
	Stanza []byte
}

// HistoryQuery selects archived messages of one room (XEP-0313 with
// XEP-0059 paging and XEP-0431 full-text search). All filters combine.
type HistoryQuery struct {
	Room string
	// Start and End bound the time (inclusive); zero means unbounded.
	Start, End time.Time
	// With keeps messages whose Nick or RealJID equals it.
	With string
	// AfterSeq and BeforeSeq bound Seq exclusively; 0 means unbounded.
	AfterSeq, BeforeSeq int64
	// FullText, when set, keeps the messages whose body contains every
	// word of it, each as a word or the start of one, ignoring case and
	// diacritics ("cafe" finds "Cafés"), and every emoji or other
	// symbol in it. (Words shorter than the MySQL server's
	// innodb_ft_min_token_size, 3 by default, match anywhere in a word
	// there.) Tombstones never match. A FullText with nothing
	// searchable in it (only punctuation) matches nothing. Words are
	// split at anything that is not a letter, digit or mark, so scripts
	// written without spaces (Chinese, Japanese, Thai) are found only by
	// the start of a run of characters.
	FullText string
	// Limit caps the result (required, > 0).
	Limit int
	// Last returns the last Limit matches instead of the first (paging
	// backwards); results are always in ascending Seq order.
	Last bool
}

// RoomStore is what the room engine keeps.
type RoomStore interface {
	// PutCategory creates or replaces a category (keeping its Created).
	PutCategory(ctx context.Context, c Category, ev OutboxEvent) error
	// Category returns one category, or ErrNotFound.
	Category(ctx context.Context, name string) (Category, error)
	// Categories returns all categories ordered by name.
	Categories(ctx context.Context) ([]Category, error)
	// DeleteCategory removes a category. It returns ErrNotFound for an
	// unknown one and ErrNotEmpty while rooms are still in it.
	DeleteCategory(ctx context.Context, name string, ev OutboxEvent) error

	// CreateRoom stores a new room with its initial affiliations (whose
	// Room is r.Name or empty; none of them "none", no JID twice);
	// ErrExists if the name is taken, ErrNotFound if the category does
	// not exist.
	CreateRoom(ctx context.Context, r Room, affs []Affiliation, ev OutboxEvent) error
	// UpdateRoom replaces a room's settings (all fields but Name,
	// Creator and Created); ErrNotFound for an unknown room or category.
	UpdateRoom(ctx context.Context, r Room, ev OutboxEvent) error
	// Room returns one room, or ErrNotFound.
	Room(ctx context.Context, name string) (Room, error)
	// Rooms returns all rooms ordered by name.
	Rooms(ctx context.Context) ([]Room, error)
	// DeleteRoom removes the room, its affiliations and its history;
	// ErrNotFound for an unknown room.
	DeleteRoom(ctx context.Context, name string, ev OutboxEvent) error

	// SetAffiliation stores a.Affiliation for (a.Room, a.JID); "none"
	// removes the row (and with it Presenter), which is not an error when
	// there was none. The room must exist (ErrNotFound).
	SetAffiliation(ctx context.Context, a Affiliation, ev OutboxEvent) error
	// Affiliations returns a room's affiliations ordered by JID; an
	// unknown room has none.
	Affiliations(ctx context.Context, room string) ([]Affiliation, error)

	// AppendHistory commits a batch of posts, possibly to different
	// rooms, in one transaction (group commit) and returns them as
	// written: copies with each history row's Seq assigned (one more than
	// the room's previous message, in slice order), each event's ID, and
	// zero times set to now. posts itself is not modified. A post whose
	// History is nil writes only its event. If any post fails (a room that
	// does not exist gives ErrNotFound, a StanzaID or EventID already used
	// ErrExists) nothing of the batch is written, and the error names the
	// index of the post. A post's Tombstone is applied after the batch's
	// history rows are inserted, so it may name a message of the same
	// batch; a target that does not exist gives ErrNotFound and, like any
	// failure, writes nothing of the batch.
	AppendHistory(ctx context.Context, posts []PostWrite) ([]PostWrite, error)
	// ImportHistory appends messages brought from another server
	// (parleyctl import) in one transaction: each gets the next Seq of
	// its room in slice order and keeps its Time (required: the original
	// time) and StanzaID (the other server's id), and no compliance event
	// is written for them; ev, if not nil, is the one event that records
	// the batch. The rows are in the full-text index when it returns. An
	// unknown room is ErrNotFound, a StanzaID already in the room
	// ErrExists, and nothing is written. It returns the messages as
	// written.
	ImportHistory(ctx context.Context, msgs []HistoryMessage, ev *OutboxEvent) ([]HistoryMessage, error)
	// Tombstone replaces a message's body and stanza and marks it a
	// tombstone, keeping the row and its place; the old body can no
	// longer be found by full-text search. ErrNotFound if the room has no
	// message with that StanzaID.
	Tombstone(ctx context.Context, room, stanzaID, body string, stanza []byte, ev OutboxEvent) error
	// QueryHistory returns the messages q selects, in ascending Seq
	// order, at most q.Limit of them. complete is true when no further
	// message matches in the paging direction beyond those returned:
	// after the last one returned, or before the first one when q.Last.
	// An unknown room has no messages.
	QueryHistory(ctx context.Context, q HistoryQuery) (msgs []HistoryMessage, complete bool, err error)
	// CountHistory returns how many messages match q's filters, ignoring
	// Limit and Last (XEP-0059 §2.6 <count/>). It costs a scan of the
	// matches; callers may skip it on large archives.
	CountHistory(ctx context.Context, q HistoryQuery) (int, error)
	// HistoryByStanzaID returns one message, for before/after ids and
	// corrections, or ErrNotFound.
	HistoryByStanzaID(ctx context.Context, room, stanzaID string) (HistoryMessage, error)

	// AppendOutbox records events that change no other row (joins,
	// leaves, history reads, searches), all in one transaction; IDs
	// follow the order given.
	AppendOutbox(ctx context.Context, evs ...OutboxEvent) error
	// ReadOutbox returns up to limit events with ID > after, in ID order.
	//
	// IDs are handed out when a transaction writes its events, but
	// concurrent transactions (on MySQL, from any node) may commit in
	// another order, so an event with a lower ID can appear after one
	// with a higher ID was read. A reader therefore does not assume that
	// everything up to the last ID it saw has been seen: it reads from the
	// start (after 0) again on every pass and deletes exactly the events
	// it has copied, with DeleteOutbox.
	ReadOutbox(ctx context.Context, after int64, limit int) ([]OutboxEvent, error)
	// DeleteOutbox removes the events with the given IDs, once they have
	// been copied. IDs that do not exist (any more) are ignored.
	DeleteOutbox(ctx context.Context, ids ...int64) error

	// RoomChanges returns up to limit entries of the room change log with
	// ID > after, in ID order. As with ReadOutbox, concurrent transactions
	// (on MySQL, from any process) may commit their IDs out of order: an
	// entry with a lower ID can appear after a higher one was read, and
	// IDs of transactions that rolled back never appear.
	RoomChanges(ctx context.Context, after int64, limit int) ([]RoomChange, error)
	// LastRoomChange returns the highest ID in the room change log, 0
	// when it is empty.
	LastRoomChange(ctx context.Context) (int64, error)
	// PruneRoomChanges deletes the entries recorded before t and returns
	// how many it deleted.
	PruneRoomChanges(ctx context.Context, before time.Time) (int64, error)
}
