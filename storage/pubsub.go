package storage

import (
	"context"
	"time"
)

// This file is the persistence contract of what an account publishes and
// keeps about itself: its personal eventing nodes (XEP-0163, a subset of
// XEP-0060 publish-subscribe), its private XML storage (XEP-0049) and its
// vCard (XEP-0054). All of it belongs to the account and goes with it.
// Who may read what, and who is told, is package pep's business.

// Access models of a node (XEP-0060 §4.5) that Parley offers.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessWhitelist = "whitelist"
)

// When the last item goes to a new subscriber (XEP-0060 §12.15,
// pubsub#send_last_published_item).
const (
	SendLastNever             = "never"
	SendLastOnSub             = "on_sub"
	SendLastOnSubAndPresence  = "on_sub_and_presence"
	DefaultSendLastPublished  = SendLastOnSubAndPresence
	MaxPubSubNodeNameLength   = 255
	MaxPubSubItemIDLength     = 255
	MaxPrivateXMLKeyLength    = 512
	MaxPubSubItemsPerNode     = 1000
	DefaultPubSubItemsPerNode = 1
)

// PubSubNode is one node of an account's personal eventing service, with
// its configuration (XEP-0060 §16.4.4, the fields Parley keeps).
type PubSubNode struct {
	// Owner is the localpart of the account whose node it is.
	Owner string
	// Name is the NodeID (XEP-0060 §4.2), e.g. "urn:xmpp:avatar:data".
	Name string
	// AccessModel is one of the Access* constants.
	AccessModel string
	// MaxItems is how many items the node keeps, newest first, from 1 to
	// MaxPubSubItemsPerNode (pubsub#max_items).
	MaxItems int
	// PersistItems is pubsub#persist_items. A node that does not persist
	// keeps its last item only (for last-item delivery), whatever
	// MaxItems says.
	PersistItems bool
	// SendLast is one of the SendLast* constants.
	SendLast string
	// Created is set when the node is created (now, if zero).
	Created time.Time
}

// PubSubItem is one published item.
type PubSubItem struct {
	Owner string
	Node  string
	// ID is the item's ItemID, unique within its node.
	ID string
	// Payload is the item's content as serialised XML, possibly empty.
	Payload []byte
	// Publisher is the full JID that published it.
	Publisher string
	// Published is when it was stored (now, if zero).
	Published time.Time
}

// PubSubLast is a node with its newest item.
type PubSubLast struct {
	Node PubSubNode
	Item PubSubItem
}

// PubSub stores accounts' personal eventing nodes and their items.
type PubSub interface {
	// PubSubNode returns one node, or ErrNotFound.
	PubSubNode(ctx context.Context, owner, name string) (PubSubNode, error)
	// PubSubNodes returns an owner's nodes ordered by name.
	PubSubNodes(ctx context.Context, owner string) ([]PubSubNode, error)
	// CreatePubSubNode creates a node; ErrExists if it is there,
	// ErrNotFound if the owner has no account.
	CreatePubSubNode(ctx context.Context, n PubSubNode) error
	// ConfigurePubSubNode replaces a node's configuration (not its
	// Created) and drops the items beyond its new limit, oldest first, in
	// one transaction; ErrNotFound if there is no such node.
	ConfigurePubSubNode(ctx context.Context, n PubSubNode) error
	// DeletePubSubNode removes a node with its items; ErrNotFound if
	// there is no such node.
	DeletePubSubNode(ctx context.Context, owner, name string) error
	// PublishPubSubItem stores it in its node as the newest item,
	// replacing an item with the same ID, and drops the items beyond the
	// node's limit, oldest first, in one transaction. If the node does
	// not exist it is created with create's configuration when create is
	// not nil (auto-create, XEP-0163 §3), ErrNotFound otherwise. It
	// returns the node as stored.
	PublishPubSubItem(ctx context.Context, it PubSubItem, create *PubSubNode) (PubSubNode, error)
	// PubSubItems returns a node's items, newest first: those with the
	// given IDs (all when ids is empty), at most max of them (0: no
	// limit). ErrNotFound if there is no such node.
	PubSubItems(ctx context.Context, owner, name string, ids []string, max int) ([]PubSubItem, error)
	// LastPubSubItems returns, for each node named in names of each
	// owner in owners that has an item, the node and its newest item,
	// ordered by owner and node.
	LastPubSubItems(ctx context.Context, owners, names []string) ([]PubSubLast, error)
	// RetractPubSubItem removes one item; ErrNotFound if the node or the
	// item does not exist.
	RetractPubSubItem(ctx context.Context, owner, name, id string) error
	// PurgePubSubNode removes every item of a node; ErrNotFound if there
	// is no such node.
	PurgePubSubNode(ctx context.Context, owner, name string) error
}

// AccountXML stores the XML an account keeps on the server for itself:
// private XML storage (XEP-0049), keyed by the element's "{namespace}name",
// and its vCard (XEP-0054).
type AccountXML interface {
	// PrivateXML returns the stored element for key, or ErrNotFound.
	PrivateXML(ctx context.Context, owner, key string) ([]byte, error)
	// PutPrivateXML stores (replaces) the element for key; ErrNotFound
	// if the owner has no account.
	PutPrivateXML(ctx context.Context, owner, key string, payload []byte) error
	// VCard returns the account's vCard element, or ErrNotFound.
	VCard(ctx context.Context, owner string) ([]byte, error)
	// PutVCard stores (replaces) the account's vCard; ErrNotFound if the
	// owner has no account.
	PutVCard(ctx context.Context, owner string, vcard []byte) error
}
