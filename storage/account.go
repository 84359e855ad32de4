package storage

import (
	"context"
	"time"
)

// What an account keeps about its 1:1 conversations (issue 12): its own
// archive (XEP-0313 on the bare JID) with archiving preferences, and its
// blocklist (XEP-0191). All of it goes with the account.

// ArchivedMessage is one 1:1 message in one account's archive. A message
// between two local users is archived twice, once in each archive, each
// with the stanza-id its archive assigned.
type ArchivedMessage struct {
	// ID orders the owner's archive (ascending: older first); assigned
	// by ArchiveMessages, never reused.
	ID    int64
	Owner string // the account's username
	// StanzaID is the XEP-0359 id the archive assigned, unique in the
	// owner's archive, at most MaxJIDLength characters.
	StanzaID string
	// With is the other party's bare JID.
	With string
	// Outgoing is set for a message the owner sent.
	Outgoing bool
	// Body is the searchable text (full-text search, XEP-0431).
	Body   string
	Stanza []byte
	// Time is when it was archived; now when zero.
	Time time.Time
}

// ArchiveQuery selects and pages through one account's archive (XEP-0313
// §4.1 fields, XEP-0059 paging).
type ArchiveQuery struct {
	Owner string
	// With, if not empty, is the other party's bare JID.
	With string
	// Start and End bound Time, both inclusive; zero is open.
	Start, End time.Time
	// AfterID and BeforeID bound ID, both exclusive; 0 is open.
	AfterID, BeforeID int64
	// FullText, if not empty, is a search (every word, XEP-0431).
	FullText string
	// Limit bounds the page (> 0 for ArchivedMessages). Last asks for
	// the page at the end (newest) rather than the start.
	Limit int
	Last  bool
}

// Archiving preference defaults (XEP-0313 §6.1).
const (
	ArchiveAlways = "always"
	ArchiveNever  = "never"
	ArchiveRoster = "roster"
)

// ArchivePrefs are an account's archiving preferences (XEP-0313 §6.1).
type ArchivePrefs struct {
	Default string // ArchiveAlways, ArchiveNever or ArchiveRoster
	// Always and Never are bare JIDs always or never archived, whatever
	// Default says; sorted, each once.
	Always, Never []string
}

// ArchivePurge deletes old archived messages of every account, a batch at
// a time (retention).
type ArchivePurge struct {
	// Before: only messages archived strictly before it are deleted,
	// oldest first.
	Before time.Time
	// KeepOwners are held accounts (usernames): nothing in their
	// archives is deleted. KeepWith are held users' bare JIDs: their
	// messages in anyone's archive are kept.
	KeepOwners, KeepWith []string
	// Limit bounds the messages deleted (required, > 0).
	Limit int
	// Event builds the compliance event that records the batch (as
	// HistoryPurge's); called inside the transaction, only when n > 0.
	Event func(n int, newest time.Time) OutboxEvent
}

// UserArchives stores the accounts' own archives.
type UserArchives interface {
	// ArchiveMessages appends msgs (each to its owner's archive) and, if
	// ev is not nil, the compliance event that records them, in one
	// transaction; it sets each message's ID. An unknown owner is
	// ErrNotFound, a stanza-id already in the owner's archive ErrExists,
	// and nothing is written.
	ArchiveMessages(ctx context.Context, msgs []ArchivedMessage, ev *OutboxEvent) error
	// ArchivedMessages returns a page of q.Owner's archive in ID order
	// and whether it reaches the end of the results in its direction.
	ArchivedMessages(ctx context.Context, q ArchiveQuery) (msgs []ArchivedMessage, complete bool, err error)
	// CountArchived counts what q selects (Limit and Last ignored).
	CountArchived(ctx context.Context, q ArchiveQuery) (int, error)
	// ArchivedByStanzaID returns one message of owner's archive, or
	// ErrNotFound.
	ArchivedByStanzaID(ctx context.Context, owner, stanzaID string) (ArchivedMessage, error)
	// ArchivePrefs returns owner's preferences: Default ArchiveAlways
	// with no lists when none were set.
	ArchivePrefs(ctx context.Context, owner string) (ArchivePrefs, error)
	// SetArchivePrefs replaces owner's preferences (ErrNotFound for an
	// unknown owner).
	SetArchivePrefs(ctx context.Context, owner string, p ArchivePrefs) error
	// PurgeArchives deletes up to p.Limit messages as p says, with their
	// full-text index entries, and p.Event's event in the same
	// transaction. Fewer than p.Limit deleted means nothing more is due.
	PurgeArchives(ctx context.Context, p ArchivePurge) (int, error)
}

// Blocklists stores the JIDs each account blocks (XEP-0191): bare JIDs,
// full JIDs, domains and domain/resource, at most MaxJIDLength
// characters each.
type Blocklists interface {
	// Blocklist returns owner's blocked JIDs in ascending order; an
	// unknown owner has none.
	Blocklist(ctx context.Context, owner string) ([]string, error)
	// Block adds jids to owner's blocklist; those already there stay.
	// An unknown owner is ErrNotFound.
	Block(ctx context.Context, owner string, jids []string) error
	// Unblock removes jids from owner's blocklist, or every JID when
	// none is given. Removing what is not there is not an error.
	Unblock(ctx context.Context, owner string, jids []string) error
}
