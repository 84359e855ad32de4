// Package pep holds the rules of personal eventing (XEP-0163): every
// account is a publish-subscribe service (XEP-0060) whose nodes it owns.
// It decides what a node's configuration is (defaults, configuration forms,
// publish-options preconditions), who may read a node (its access model:
// open, presence, whitelist), and who is told of a change (the owner and,
// unless the node is whitelisted, the contacts subscribed to the owner's
// presence). It knows no wire format: protocol/xmpp turns stanzas into
// these calls and the results into stanzas, filtering each recipient's
// resources by what their entity capabilities ask to be notified of.
package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parleychat/parley/roster"
	"github.com/parleychat/parley/storage"
)

// Refusals, which the XMPP front door maps to XEP-0060's errors.
var (
	// ErrNodeNotFound: no such node (item-not-found, XEP-0060 §6.5.9.11).
	ErrNodeNotFound = errors.New("pep: no such node")
	// ErrItemNotFound: no such item (item-not-found, §7.2.3.3).
	ErrItemNotFound = errors.New("pep: no such item")
	// ErrNotOwner: only the account itself may publish, configure,
	// delete or purge (forbidden, §7.1.3.1).
	ErrNotOwner = errors.New("pep: only the owner may change its nodes")
	// ErrPresenceRequired: the node's access model is presence and the
	// reader is not subscribed to the owner's presence (not-authorized
	// with presence-subscription-required, §6.1.3.2).
	ErrPresenceRequired = errors.New("pep: a presence subscription to the owner is required")
	// ErrClosedNode: the node is whitelisted and the reader is not on the
	// list (not-allowed with closed-node, §6.1.3.4).
	ErrClosedNode = errors.New("pep: the node is whitelisted")
	// ErrNodeExists: creating a node that is there (conflict, §8.1.3).
	ErrNodeExists = errors.New("pep: the node exists")
	// ErrPrecondition: publish-options that do not match the existing
	// node's configuration (conflict with precondition-not-met, §7.1.5).
	ErrPrecondition = errors.New("pep: publish options do not match the node's configuration")
	// ErrInvalidOptions: a configuration value Parley does not accept
	// (not-acceptable, §8.2.5.3).
	ErrInvalidOptions = errors.New("pep: invalid node configuration")
)

// Configuration fields (XEP-0060 §16.4.4) that Parley keeps.
const (
	FieldAccessModel  = "pubsub#access_model"
	FieldMaxItems     = "pubsub#max_items"
	FieldPersistItems = "pubsub#persist_items"
	FieldSendLast     = "pubsub#send_last_published_item"
	// FieldNotifyRetract, FieldNotifyDelete and FieldDeliverPayloads
	// are fixed: retractions and deletions are always notified, payloads
	// always delivered.
	FieldNotifyRetract   = "pubsub#notify_retract"
	FieldNotifyDelete    = "pubsub#notify_delete"
	FieldDeliverPayloads = "pubsub#deliver_payloads"
	FieldDeliverNotify   = "pubsub#deliver_notifications"
	FieldPresenceBased   = "pubsub#presence_based_delivery"

	// FormTypeNodeConfig and FormTypePublishOptions are the FORM_TYPEs
	// of the configuration and publish-options forms.
	FormTypeNodeConfig     = "http://jabber.org/protocol/pubsub#node_config"
	FormTypePublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

// fixedTrue are the fields whose value is always true here.
var fixedTrue = []string{FieldNotifyRetract, FieldNotifyDelete, FieldDeliverPayloads, FieldDeliverNotify}

// Default is a new node's configuration (XEP-0163 §... Prosody's and
// ejabberd's PEP defaults): readable by presence subscribers, one item,
// persistent, the last item sent at subscription and presence.
func Default(owner, name string) storage.PubSubNode {
	return storage.PubSubNode{Owner: owner, Name: name, AccessModel: storage.AccessPresence,
		MaxItems: storage.DefaultPubSubItemsPerNode, PersistItems: true, SendLast: storage.DefaultSendLastPublished}
}

// Config applies the fields of a configuration or publish-options form to
// n (unknown fields are ignored, as XEP-0060 §8.2.5 allows for fields the
// service does not support only when they are not asked of it: see Match).
func Config(n *storage.PubSubNode, fields map[string][]string) error {
	for k, vals := range fields {
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		switch k {
		case FieldAccessModel:
			switch v {
			case storage.AccessOpen, storage.AccessPresence, storage.AccessWhitelist:
				n.AccessModel = v
			default:
				return fmt.Errorf("%w: access model %q (open, presence and whitelist are offered)", ErrInvalidOptions, v)
			}
		case FieldMaxItems:
			m, err := maxItems(v)
			if err != nil {
				return err
			}
			n.MaxItems = m
		case FieldPersistItems:
			b, ok := formBool(v)
			if !ok {
				return fmt.Errorf("%w: %s %q", ErrInvalidOptions, k, v)
			}
			n.PersistItems = b
		case FieldSendLast:
			switch v {
			case storage.SendLastNever, storage.SendLastOnSub, storage.SendLastOnSubAndPresence:
				n.SendLast = v
			default:
				return fmt.Errorf("%w: %s %q", ErrInvalidOptions, k, v)
			}
		default:
			for _, f := range fixedTrue {
				if k == f {
					if b, ok := formBool(v); !ok || !b {
						return fmt.Errorf("%w: %s is always true here", ErrInvalidOptions, k)
					}
				}
			}
		}
	}
	return nil
}

// maxItems parses pubsub#max_items: a number, or "max" for the most a
// node may keep (XEP-0060 §7.1.5 and the registrar's note on "max").
func maxItems(v string) (int, error) {
	if v == "max" {
		return storage.MaxPubSubItemsPerNode, nil
	}
	m, err := strconv.Atoi(v)
	if err != nil || m < 1 {
		return 0, fmt.Errorf("%w: max_items %q", ErrInvalidOptions, v)
	}
	return min(m, storage.MaxPubSubItemsPerNode), nil
}

// Match checks publish-options against an existing node (XEP-0060 §7.1.5):
// every option given must be what the node has; an option Parley does not
// know cannot be guaranteed, so it does not match either.
func Match(n storage.PubSubNode, options map[string][]string) error {
	for k, vals := range options {
		if k == "FORM_TYPE" {
			continue
		}
		want := n
		if err := Config(&want, map[string][]string{k: vals}); err != nil {
			return fmt.Errorf("%w: %v", ErrPrecondition, err)
		}
		known := k == FieldAccessModel || k == FieldMaxItems || k == FieldPersistItems || k == FieldSendLast || k == FieldPresenceBased
		for _, f := range fixedTrue {
			known = known || k == f
		}
		if !known {
			return fmt.Errorf("%w: %s is not supported", ErrPrecondition, k)
		}
		if k == FieldPresenceBased {
			// Notifications go to available resources only: true.
			if b, ok := formBool(first(vals)); !ok || !b {
				return fmt.Errorf("%w: %s", ErrPrecondition, k)
			}
			continue
		}
		want.Created = n.Created
		if want != n {
			return fmt.Errorf("%w: %s is %s", ErrPrecondition, k, Value(n, k))
		}
	}
	return nil
}

// Value is the value of a configuration field of n, as a form says it.
func Value(n storage.PubSubNode, field string) string {
	switch field {
	case FieldAccessModel:
		return n.AccessModel
	case FieldMaxItems:
		return strconv.Itoa(n.MaxItems)
	case FieldPersistItems:
		return strconv.FormatBool(n.PersistItems)
	case FieldSendLast:
		return n.SendLast
	}
	return "true"
}

// Fields are the configuration fields Value answers, in form order.
var Fields = []string{FieldAccessModel, FieldMaxItems, FieldPersistItems, FieldSendLast,
	FieldNotifyRetract, FieldNotifyDelete, FieldDeliverPayloads, FieldDeliverNotify, FieldPresenceBased}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

func formBool(s string) (bool, bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// NewItemID makes an ItemID for an item published without one (XEP-0060
// §7.1.1: the service generates it).
func NewItemID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Service applies the rules to one domain's accounts.
type Service struct {
	store  storage.Store
	domain string
}

// New returns the service of domain's accounts on store.
func New(store storage.Store, domain string) *Service {
	return &Service{store: store, domain: domain}
}

// bare is owner's bare JID.
func (s *Service) bare(owner string) string { return owner + "@" + s.domain }

// MayRead reports whether reader (a bare JID) may read owner's node n
// (XEP-0060 §6.1.3, §6.5.3; XEP-0163 §4.1.2: the owner always may).
func (s *Service) MayRead(ctx context.Context, n storage.PubSubNode, reader string) error {
	if reader == s.bare(n.Owner) {
		return nil
	}
	switch n.AccessModel {
	case storage.AccessOpen:
		return nil
	case storage.AccessPresence:
		item, err := s.store.RosterItem(ctx, n.Owner, reader)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrPresenceRequired
		}
		if err != nil {
			return fmt.Errorf("pep: reading %s's roster: %w", n.Owner, err)
		}
		if !roster.ItemState(item).From() {
			return ErrPresenceRequired
		}
		return nil
	}
	return ErrClosedNode
}

// Node returns owner's node name as reader may see it.
func (s *Service) Node(ctx context.Context, owner, name, reader string) (storage.PubSubNode, error) {
	n, err := s.stored(ctx, owner, name)
	if err != nil {
		return n, err
	}
	return n, s.MayRead(ctx, n, reader)
}

// Items returns the items of owner's node that reader may read, newest
// first: those with ids (all when empty), at most max (0: all).
func (s *Service) Items(ctx context.Context, owner, name, reader string, ids []string, max int) (storage.PubSubNode, []storage.PubSubItem, error) {
	n, err := s.Node(ctx, owner, name, reader)
	if err != nil {
		return n, nil, err
	}
	items, err := s.store.PubSubItems(ctx, owner, name, ids, max)
	if errors.Is(err, storage.ErrNotFound) {
		return n, nil, ErrNodeNotFound
	}
	if err == nil && len(ids) == 1 && len(items) == 0 {
		err = ErrItemNotFound
	}
	return n, items, err
}

// Published is what a publish did: the node as it is now and the item.
type Published struct {
	Node storage.PubSubNode
	Item storage.PubSubItem
}

// Publish stores an item on the account's node, creating the node with
// the default configuration and options when it does not exist (XEP-0163
// §3: auto-create), or checking options against it when it does
// (publish-options, XEP-0060 §7.1.5). publisher is the full JID; an empty
// id gets a generated one.
func (s *Service) Publish(ctx context.Context, owner, publisher, name, id string, payload []byte, options map[string][]string) (Published, error) {
	if id == "" {
		id = NewItemID()
	}
	it := storage.PubSubItem{Owner: owner, Node: name, ID: id, Payload: payload, Publisher: publisher}
	if len(options) > 0 {
		n, err := s.store.PubSubNode(ctx, owner, name)
		switch {
		case err == nil:
			if err := Match(n, options); err != nil {
				return Published{}, err
			}
		case !errors.Is(err, storage.ErrNotFound):
			return Published{}, err
		}
	}
	create := Default(owner, name)
	if err := Config(&create, options); err != nil {
		return Published{}, err
	}
	n, err := s.store.PublishPubSubItem(ctx, it, &create)
	if err != nil {
		return Published{}, err
	}
	return Published{Node: n, Item: it}, nil
}

// Create creates a node with the default configuration and fields
// (XEP-0060 §8.1.2).
func (s *Service) Create(ctx context.Context, owner, name string, fields map[string][]string) (storage.PubSubNode, error) {
	n := Default(owner, name)
	if err := Config(&n, fields); err != nil {
		return n, err
	}
	err := s.store.CreatePubSubNode(ctx, n)
	if errors.Is(err, storage.ErrExists) {
		return n, ErrNodeExists
	}
	return n, err
}

// Configure changes a node's configuration (XEP-0060 §8.2.4).
func (s *Service) Configure(ctx context.Context, owner, name string, fields map[string][]string) (storage.PubSubNode, error) {
	n, err := s.stored(ctx, owner, name)
	if err != nil {
		return n, err
	}
	if err := Config(&n, fields); err != nil {
		return n, err
	}
	return n, notFound(s.store.ConfigurePubSubNode(ctx, n), ErrNodeNotFound)
}

// Retract removes an item (XEP-0060 §7.2) and returns the node.
func (s *Service) Retract(ctx context.Context, owner, name, id string) (storage.PubSubNode, error) {
	n, err := s.stored(ctx, owner, name)
	if err != nil {
		return n, err
	}
	return n, notFound(s.store.RetractPubSubItem(ctx, owner, name, id), ErrItemNotFound)
}

// Purge removes a node's items (XEP-0060 §8.5) and returns the node.
func (s *Service) Purge(ctx context.Context, owner, name string) (storage.PubSubNode, error) {
	n, err := s.stored(ctx, owner, name)
	if err != nil {
		return n, err
	}
	return n, notFound(s.store.PurgePubSubNode(ctx, owner, name), ErrNodeNotFound)
}

// Delete removes a node (XEP-0060 §8.4) and returns it as it was.
func (s *Service) Delete(ctx context.Context, owner, name string) (storage.PubSubNode, error) {
	n, err := s.stored(ctx, owner, name)
	if err != nil {
		return n, err
	}
	return n, notFound(s.store.DeletePubSubNode(ctx, owner, name), ErrNodeNotFound)
}

// stored reads a node, ErrNodeNotFound if there is none.
func (s *Service) stored(ctx context.Context, owner, name string) (storage.PubSubNode, error) {
	n, err := s.store.PubSubNode(ctx, owner, name)
	return n, notFound(err, ErrNodeNotFound)
}

func notFound(err, as error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return as
	}
	return err
}

// Subscribers are the bare JIDs told of a change to owner's node n
// (XEP-0163 §4.3: the owner and, by presence-based implicit subscription,
// the contacts subscribed to the owner's presence, unless the node is
// whitelisted). Each recipient's resources are then filtered by their
// +notify interest (XEP-0163 §4.3.2); that is the front door's.
func (s *Service) Subscribers(ctx context.Context, n storage.PubSubNode) ([]string, error) {
	out := []string{s.bare(n.Owner)}
	if n.AccessModel == storage.AccessWhitelist {
		return out, nil
	}
	items, _, err := s.store.Roster(ctx, n.Owner)
	if err != nil {
		return out, fmt.Errorf("pep: reading %s's roster: %w", n.Owner, err)
	}
	for _, it := range items {
		if roster.ItemState(it).From() {
			out = append(out, it.JID)
		}
	}
	return out, nil
}

// Publishers are the accounts whose last items a newly available resource
// of reader gets (XEP-0163 §4.3.4... "last published item on presence"):
// its own and those of the local contacts it is subscribed to, as
// localparts.
func (s *Service) Publishers(ctx context.Context, reader string, contacts []storage.RosterItem) []string {
	out := []string{}
	if local, ok := strings.CutSuffix(reader, "@"+s.domain); ok {
		out = append(out, local)
	}
	for _, it := range contacts {
		if !roster.ItemState(it).To() {
			continue
		}
		if local, ok := strings.CutSuffix(it.JID, "@"+s.domain); ok && !strings.ContainsAny(local, "@/") {
			out = append(out, local)
		}
	}
	return out
}

// LastItems are the last items of the nodes names of publishers that
// reader may read and that are sent on presence (XEP-0060 §12.15
// on_sub_and_presence) or, with onSub, on a new subscription (on_sub too).
func (s *Service) LastItems(ctx context.Context, reader string, publishers, names []string, onSub bool) ([]storage.PubSubLast, error) {
	last, err := s.store.LastPubSubItems(ctx, publishers, names)
	if err != nil {
		return nil, err
	}
	out := last[:0]
	for _, l := range last {
		if l.Node.SendLast == storage.SendLastNever || (!onSub && l.Node.SendLast == storage.SendLastOnSub) {
			continue
		}
		if s.MayRead(ctx, l.Node, reader) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}
