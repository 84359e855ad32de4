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
// happened is missed.

// Category is a container of rooms with policy (DESIGN §1).
type Category struct {
	// Name is the category's unique name, e.g. "engineering".
	Name        string
	Description string
	// AllowedMembers are the bare JIDs that may be members of its rooms;
	// "*" allows every local user.
	AllowedMembers []string
	// DeniedMembers may never be members (an ethical wall); denial wins
	// over AllowedMembers.
	DeniedMembers []string
	// Creators are the bare JIDs that may create rooms in it.
	Creators []string
	// FileUpload, Invitations and ChatHistory are the policy switches:
	// with ChatHistory off posts are not kept for users (they still reach
	// the compliance outbox).
	FileUpload  bool
	Invitations bool
	ChatHistory bool
	Created     time.Time
	Updated     time.Time
}

// Room is a persistent chat room (XEP-0045 room config mapped as DESIGN §1).
type Room struct {
	// Name is the room's localpart at the MUC service, e.g. "design".
	Name        string
	Category    string
	Title       string
	Description string
	// Subject, with who set it (nick) and when.
	Subject       string
	SubjectNick   string
	SubjectTime   time.Time
	Public        bool // listed in disco#items
	MembersOnly   bool
	Moderated     bool // an auditorium: only presenters and managers post
	Password      string
	WhoIs         string // "moderators" or "anyone" (muc#roomconfig_whois)
	MaxUsers      int    // 0: the service default
	ChangeSubject string // "moderators" or "participants"
	AllowPM       string // "anyone", "participants", "moderators" or "none"
	AllowInvites  bool
	Disabled      bool
	AddInURL      string
	Creator       string // bare JID
	Created       time.Time
	Updated       time.Time
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
	Affiliation string // one of the Affiliation* constants except none
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
	// increases by one with every message of the room.
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
	Body   string
	Stanza []byte
	Time   time.Time
	// Tombstone is set on a message that was retracted or moderated: its
	// body and stanza were replaced and it is kept as a marker.
	Tombstone bool
}

// OutboxEvent is one compliance event waiting for the compliance worker.
type OutboxEvent struct {
	// ID orders the outbox; assigned on insert.
	ID int64
	// EventID is unique per event (used to copy exactly once).
	EventID string
	Type    string // "post", "join", "leave", "kick", "room.create", …
	Room    string
	Actor   string // real identity of who acted
	Time    time.Time
	// Payload is the event's detail as JSON.
	Payload []byte
}

// PostWrite is one history row with the compliance event that records it.
// History is nil when the category keeps no history: the event alone is
// written.
type PostWrite struct {
	History *HistoryMessage
	Event   OutboxEvent
}

// HistoryQuery selects archived messages of one room (XEP-0313 with
// XEP-0059 paging and XEP-0431 full-text search).
type HistoryQuery struct {
	Room string
	// Start and End bound the time (inclusive); zero means unbounded.
	Start, End time.Time
	// With keeps messages whose Nick or RealJID equals it.
	With string
	// AfterSeq and BeforeSeq bound Seq exclusively; 0 means unbounded.
	AfterSeq, BeforeSeq int64
	// FullText, when set, keeps messages whose body matches these words.
	FullText string
	// Limit caps the result (required, > 0).
	Limit int
	// Last returns the last Limit matches instead of the first (paging
	// backwards); results are always in ascending Seq order.
	Last bool
}

// RoomStore is what the room engine keeps.
type RoomStore interface {
	PutCategory(ctx context.Context, c Category, ev OutboxEvent) error
	Category(ctx context.Context, name string) (Category, error)
	Categories(ctx context.Context) ([]Category, error)
	DeleteCategory(ctx context.Context, name string, ev OutboxEvent) error

	// CreateRoom stores a new room with its initial affiliations; ErrExists
	// if the name is taken, ErrNotFound if the category does not exist.
	CreateRoom(ctx context.Context, r Room, affs []Affiliation, ev OutboxEvent) error
	UpdateRoom(ctx context.Context, r Room, ev OutboxEvent) error
	Room(ctx context.Context, name string) (Room, error)
	Rooms(ctx context.Context) ([]Room, error)
	// DeleteRoom removes the room, its affiliations and its history.
	DeleteRoom(ctx context.Context, name string, ev OutboxEvent) error

	// SetAffiliation stores a.Affiliation for (a.Room, a.JID); "none"
	// removes the row.
	SetAffiliation(ctx context.Context, a Affiliation, ev OutboxEvent) error
	Affiliations(ctx context.Context, room string) ([]Affiliation, error)

	// AppendHistory commits a batch of posts in one transaction (group
	// commit), assigning each history row its Seq, and returns them.
	AppendHistory(ctx context.Context, posts []PostWrite) ([]PostWrite, error)
	// Tombstone replaces a message's body and stanza, keeping the row.
	Tombstone(ctx context.Context, room, stanzaID, body string, stanza []byte, ev OutboxEvent) error
	QueryHistory(ctx context.Context, q HistoryQuery) (msgs []HistoryMessage, complete bool, err error)
	// HistoryByStanzaID returns one message, for before/after ids and
	// corrections.
	HistoryByStanzaID(ctx context.Context, room, stanzaID string) (HistoryMessage, error)

	// AppendOutbox records events that change no other row (joins,
	// leaves, history reads, searches).
	AppendOutbox(ctx context.Context, evs ...OutboxEvent) error
	// ReadOutbox returns up to limit events with ID > after, in ID order.
	ReadOutbox(ctx context.Context, after int64, limit int) ([]OutboxEvent, error)
	DeleteOutboxThrough(ctx context.Context, id int64) error
}
