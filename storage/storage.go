// Package storage defines what Parley keeps durably, as interfaces that the
// protocol front doors and the room engine use without knowing which database
// is behind them. The implementations live in storage/sqlite (the embedded,
// zero-configuration default) and storage/mysql (MySQL and MariaDB, for
// anything beyond one node), which share their queries in
// storage/internal/sqlstore; storage/backend opens one of them from a DSN and
// storage/storagetest is the one conformance suite both must pass.
//
// Conventions every implementation follows, checked by storagetest:
//
//   - Usernames and JIDs are compared byte for byte; callers normalise them
//     (PRECIS, RFC 7622) before they reach storage.
//   - Times come back in UTC with microsecond precision.
//   - Every method is safe for concurrent use and honours ctx.
//   - Errors wrap ErrNotFound, ErrExists, ErrQuotaExceeded and ErrNotEmpty
//     where the method documents them, and (MySQL) ErrUnavailable while no
//     writable server can be reached, so errors.Is works; other
//     errors (invalid input) say what failed and never echo a password.
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
	// ErrNotEmpty means a record cannot be deleted while others still
	// belong to it (a category that still has rooms).
	ErrNotEmpty = errors.New("storage: not empty")
	// ErrUnavailable means the database cannot take the request now (no
	// server of a replication set reachable and writable, during a
	// failover): nothing was written, or, for a commit that got no
	// answer, the outcome is unknown. Front doors answer "try again
	// shortly".
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Length limits, in characters (Unicode code points), for the values that
// are database keys. They are what both back ends can index: an InnoDB key
// holds at most 3072 bytes and utf8mb4 takes up to 4 bytes a character, and
// a roster item is keyed by (owner, JID). Longer or invalid UTF-8 values are
// rejected with an error before they reach the database. Callers that accept
// names from the network check these first and answer with a protocol error.
const (
	// MaxUsernameLength bounds Account.Username and every Owner.
	MaxUsernameLength = 255
	// MaxJIDLength bounds the bare JIDs of roster items and pending
	// subscriptions. (OfflineMessage.From, a full JID, is not a key; it may
	// be as long as RFC 7622 allows, 3071 bytes.)
	MaxJIDLength = 512
)

// Store is everything a Parley node keeps in its content database.
type Store interface {
	Accounts
	Rosters
	Offline
	RoomStore
	Follows
	FileStore
	Secrets
	PubSub
	AccountXML
	UserArchives
	Blocklists
	FederationStatus
	FastTokens
	PushRegistrations

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

// DigestCredential is what a SIP registrar needs to verify HTTP digest
// authentication (RFC 3261 §22.4, RFC 8760) for one realm and one hash
// algorithm, without knowing the password: HA1 = H(username ":" realm ":"
// password) (RFC 7616 §3.4.2), as lowercase hex.
type DigestCredential struct {
	// Realm is the digest realm, Parley's domain when the credential was
	// derived: a domain change needs every password set again.
	Realm string
	// Algorithm is the RFC 8760 algorithm name without -sess: "MD5" or
	// "SHA-256".
	Algorithm string
	HA1       string
}

// Account is a local user. Username is the JID localpart, already
// normalised (PRECIS UsernameCaseMapped) by the caller.
type Account struct {
	Username string
	Created  time.Time
	// Credentials holds one entry per SCRAM mechanism.
	Credentials []ScramCredential
	// Digest holds the SIP digest credentials ordered by realm, then
	// algorithm; none for accounts whose password was set without them.
	Digest []DigestCredential
}

// Accounts stores local users and the secrets needed to authenticate them.
// Passwords are never stored, only derived values.
//
// A change may be given the compliance event that records it (ev, nil for
// none): it is written to the outbox in the change's transaction, so it is
// there exactly when the change committed (shared/DESIGN.md §6). An
// invalid event refuses the change before anything is written.
type Accounts interface {
	// CreateAccount adds a user, created now, with the given credentials
	// (none is allowed: such a user cannot log in until SetCredentials), and
	// ev. It returns ErrExists if the username is taken. At most one
	// credential per mechanism, and one digest credential per realm and
	// algorithm, may be given.
	CreateAccount(ctx context.Context, username string, creds []ScramCredential, digest []DigestCredential, ev *OutboxEvent) error
	// SetCredentials replaces all of a user's stored credentials, SCRAM and
	// digest, in one transaction with ev (a password change: digest
	// credentials derived from the old password never survive it), and
	// deletes the user's FAST tokens (FastTokens), given for the old
	// password. It returns ErrNotFound for an unknown user.
	SetCredentials(ctx context.Context, username string, creds []ScramCredential, digest []DigestCredential, ev *OutboxEvent) error
	// DeleteAccount removes a user with their roster, pending subscription
	// requests and offline messages, and writes ev, in one transaction. It
	// returns ErrNotFound for an unknown user.
	DeleteAccount(ctx context.Context, username string, ev *OutboxEvent) error
	// Account returns one user with their credentials ordered by
	// mechanism, or ErrNotFound.
	Account(ctx context.Context, username string) (Account, error)
	// ListAccounts returns all usernames in ascending order.
	ListAccounts(ctx context.Context) ([]string, error)
	// ScramCredential returns the user's credential for one mechanism
	// ("SCRAM-SHA-1", "SCRAM-SHA-256"), or ErrNotFound if the user or the
	// credential does not exist.
	ScramCredential(ctx context.Context, username, mechanism string) (ScramCredential, error)
	// DigestCredential returns the user's SIP digest credential for one
	// realm and algorithm ("MD5", "SHA-256"), or ErrNotFound if the user or
	// the credential does not exist.
	DigestCredential(ctx context.Context, username, realm, algorithm string) (DigestCredential, error)
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
	// Groups are the roster groups, in the order the client gave them; nil
	// when there are none.
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

// RosterState is everything kept about one contact of one user (RFC 6121
// Appendix A.1): the roster item, if the contact is on the user's roster,
// and the contact's unanswered subscription request, if there is one. The
// pair's subscription state is read from both: the item's subscription and
// ask (Pending Out), and the request (Pending In).
type RosterState struct {
	// Item is the contact's roster item. When OnRoster is false there is
	// none, and Item holds the owner and contact with subscription none.
	Item     RosterItem
	OnRoster bool
	// PendingIn is the stanza of the contact's unanswered subscription
	// request (RFC 6121 §3.1.3), nil when there is none.
	PendingIn []byte
}

// Rosters stores users' rosters with a version per user (RFC 6121 §2.6):
// every change increments the owner's roster version by one, atomically with
// the change. Deleting the account deletes the version with the roster.
type Rosters interface {
	// Roster returns the owner's items ordered by JID and the roster
	// version. An unknown owner has an empty roster at version 0.
	Roster(ctx context.Context, owner string) (items []RosterItem, version int64, err error)
	// RosterItem returns one item, or ErrNotFound.
	RosterItem(ctx context.Context, owner, jid string) (RosterItem, error)
	// PendingSubscriptions lists the owner's unanswered requests, oldest
	// first; an unknown owner has none.
	PendingSubscriptions(ctx context.Context, owner string) ([]PendingSubscription, error)

	// UpdateRoster makes one change to what owner keeps about contact (a
	// bare JID) in one transaction: a subscription transition (RFC 6121
	// §3) or a roster set or removal (§2.3, §2.5). It reads the pair's
	// RosterState while no other change to owner's roster can run, calls
	// change with it, and writes what change altered: the item (put when
	// it differs and OnRoster is true, deleted when OnRoster turned
	// false) and the pending request (stored; replaced in its place in
	// the order PendingSubscriptions gives; forgotten). A change to the
	// item increments the roster version; UpdateRoster returns the new
	// version, or 0 when the item did not change. It is the only way a
	// roster or a pending request changes.
	//
	// change may be called more than once (a transaction tried again) and
	// must do nothing but decide; the Owner and JID it leaves on the item
	// are ignored. An error from change rolls everything back and is
	// returned wrapped. The owner account must exist (ErrNotFound
	// otherwise).
	UpdateRoster(ctx context.Context, owner, contact string, change func(*RosterState) error) (version int64, err error)
}

// OfflineMessage is a message stored for a user who had no available
// resource when it arrived (RFC 6121 §8.5.2.2.1).
type OfflineMessage struct {
	// ID increases with every stored message and is never reused, not even
	// after the messages before it were deleted; delivery order is ID order.
	// StoreOffline assigns it.
	ID    int64
	Owner string
	// From is the sender's full JID.
	From string
	// Stanza is the complete message stanza as it is to be delivered.
	Stanza []byte
	// Stored is when the message was stored; StoreOffline uses the current
	// time when it is zero.
	Stored time.Time
}

// Offline stores messages for users who are offline.
type Offline interface {
	// StoreOffline appends a message to the owner's offline queue. If the
	// owner already has max or more messages stored (max > 0) it stores
	// nothing and returns ErrQuotaExceeded; an unknown owner gives
	// ErrNotFound.
	StoreOffline(ctx context.Context, msg OfflineMessage, max int) (id int64, err error)
	// OfflineMessages returns the owner's stored messages in ID order; an
	// unknown owner has none.
	OfflineMessages(ctx context.Context, owner string) ([]OfflineMessage, error)
	// DeleteOfflineThrough removes the owner's messages with ID <= upTo,
	// once they have been delivered. Deleting nothing (an unknown owner, an
	// empty queue) is not an error.
	DeleteOfflineThrough(ctx context.Context, owner string, upTo int64) error
}
