// Package storage defines what Parley keeps durably, as interfaces that the
// protocol front doors and the room engine use without knowing which database
// is behind them. The implementations live in storage/sqlite (the embedded,
// zero-configuration default) and storage/mysql (MySQL and MariaDB, for
// anything beyond one node); storage/backend opens one of them from a DSN and
// storage/storagetest is the one conformance suite both must pass.
//
// Package storage imports nothing else of Parley's (shared/DESIGN.md §3).
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped) so that callers can use
// errors.Is without knowing the database.
var (
	// ErrNotFound means the account, roster item or record asked for does
	// not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists means a record with the same key already exists.
	ErrExists = errors.New("storage: already exists")
	// ErrQuotaExceeded means a per-user limit (for example the number of
	// stored offline messages) would be passed.
	ErrQuotaExceeded = errors.New("storage: quota exceeded")
)

// Store is everything a Parley node keeps in its content database.
type Store interface {
	Accounts
	Rosters
	Offline

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. It is called once, at shutdown.
	Close() error
}

// ScramCredential is what a server needs to verify a SCRAM login (RFC 5802
// §5, RFC 7677) for one hash function, without knowing the password: the salt,
// the iteration count, StoredKey and ServerKey.
type ScramCredential struct {
	// Mechanism is the SASL mechanism family without the -PLUS suffix:
	// "SCRAM-SHA-1" or "SCRAM-SHA-256".
	Mechanism  string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Account is a local user. Username is the JID localpart, already
// normalised (PRECIS UsernameCaseMapped) by the caller.
type Account struct {
	Username string
	Created  time.Time
	// Credentials holds one entry per SCRAM mechanism.
	Credentials []ScramCredential
}

// Accounts stores local users and the secrets needed to authenticate them.
// Passwords are never stored, only derived values.
type Accounts interface {
	// CreateAccount adds a user. It returns ErrExists if the username is
	// taken.
	CreateAccount(ctx context.Context, username string, creds []ScramCredential) error
	// SetCredentials replaces all of a user's stored credentials (a
	// password change). It returns ErrNotFound for an unknown user.
	SetCredentials(ctx context.Context, username string, creds []ScramCredential) error
	// DeleteAccount removes a user with their roster, pending subscription
	// requests and offline messages. It returns ErrNotFound for an unknown
	// user.
	DeleteAccount(ctx context.Context, username string) error
	// Account returns one user with their credentials, or ErrNotFound.
	Account(ctx context.Context, username string) (Account, error)
	// ListAccounts returns all usernames in ascending order.
	ListAccounts(ctx context.Context) ([]string, error)
	// ScramCredential returns the user's credential for one mechanism
	// ("SCRAM-SHA-1", "SCRAM-SHA-256"), or ErrNotFound if the user or the
	// credential does not exist.
	ScramCredential(ctx context.Context, username, mechanism string) (ScramCredential, error)
}

// Subscription states of a roster item (RFC 6121 §2.1.2.5).
const (
	SubscriptionNone = "none"
	SubscriptionTo   = "to"
	SubscriptionFrom = "from"
	SubscriptionBoth = "both"
)

// RosterItem is one contact on a user's roster (RFC 6121 §2.1).
type RosterItem struct {
	// Owner is the localpart of the user whose roster this is.
	Owner string
	// JID is the contact's bare JID.
	JID string
	// Name is the user-chosen handle, possibly empty.
	Name string
	// Subscription is one of the Subscription* constants.
	Subscription string
	// Ask is true while an outbound subscription request is pending
	// (ask="subscribe", RFC 6121 §2.1.2.2).
	Ask bool
	// Groups are the roster groups, in the order the client gave them.
	Groups []string
}

// PendingSubscription is an inbound subscription request that the user has
// not yet answered; the server keeps it and redelivers it at every login
// until it is approved or denied (RFC 6121 §3.1.3).
type PendingSubscription struct {
	Owner string
	// From is the requester's bare JID.
	From string
	// Stanza is the original presence stanza, as received.
	Stanza []byte
}

// Rosters stores users' rosters with a version per user (RFC 6121 §2.6):
// every change increments the owner's roster version.
type Rosters interface {
	// Roster returns the owner's items ordered by JID and the roster
	// version. An unknown owner has an empty roster at version 0.
	Roster(ctx context.Context, owner string) (items []RosterItem, version int64, err error)
	// RosterItem returns one item, or ErrNotFound.
	RosterItem(ctx context.Context, owner, jid string) (RosterItem, error)
	// PutRosterItem inserts or replaces the item (Owner, JID) and returns
	// the new roster version. The owner account must exist (ErrNotFound
	// otherwise).
	PutRosterItem(ctx context.Context, item RosterItem) (version int64, err error)
	// DeleteRosterItem removes an item and returns the new roster version,
	// or ErrNotFound if there was no such item.
	DeleteRosterItem(ctx context.Context, owner, jid string) (version int64, err error)

	// AddPendingSubscription records (or replaces) an inbound subscription
	// request from p.From to p.Owner.
	AddPendingSubscription(ctx context.Context, p PendingSubscription) error
	// PendingSubscriptions lists the owner's unanswered requests, oldest
	// first.
	PendingSubscriptions(ctx context.Context, owner string) ([]PendingSubscription, error)
	// RemovePendingSubscription forgets a request; removing one that does
	// not exist is not an error.
	RemovePendingSubscription(ctx context.Context, owner, from string) error
}

// OfflineMessage is a message stored for a user who had no available
// resource when it arrived (RFC 6121 §8.5.2.2.1).
type OfflineMessage struct {
	// ID increases with every stored message; delivery order is ID order.
	ID    int64
	Owner string
	// From is the sender's full JID.
	From string
	// Stanza is the complete message stanza as it is to be delivered.
	Stanza []byte
	Stored time.Time
}

// Offline stores messages for users who are offline.
type Offline interface {
	// StoreOffline appends a message to the owner's offline queue. If the
	// owner already has max or more messages stored (max > 0) it stores
	// nothing and returns ErrQuotaExceeded; an unknown owner gives
	// ErrNotFound.
	StoreOffline(ctx context.Context, msg OfflineMessage, max int) (id int64, err error)
	// OfflineMessages returns the owner's stored messages in ID order.
	OfflineMessages(ctx context.Context, owner string) ([]OfflineMessage, error)
	// DeleteOfflineThrough removes the owner's messages with ID <= upTo,
	// once they have been delivered.
	DeleteOfflineThrough(ctx context.Context, owner string, upTo int64) error
}
