package xmpp

import (
	"context"
	"fmt"
	"slices"

	"github.com/parleychat/parley/roster"
)

// Service discovery (XEP-0030), generated from the mux: disco#info on an
// entity lists its identity and every feature that the handlers registered
// at it advertise (mux.go), so it says what the table does, no more and no
// less. Each feature file declares its entities (the server and accounts
// here, the MUC service and rooms in muc_iq.go, the upload service in
// upload.go) with what only they know at query time.

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// An entity is what disco says of one addressee.
type entity struct {
	// The identity (XEP-0030 §3.1; categories from the registry).
	category, typ, name string
	// also are further identities (category, type) of the same entity:
	// an account is also a PEP service (pep.go).
	also [][2]string
	// jid and listed: a service the server's disco#items lists (§4), under
	// that name; "" for entities it does not list.
	jid, listed string
	// admit, if set, refuses the query to a sender who may not discover
	// the entity (an account's privacy, RFC 6121 §8.5.1's "as if it did
	// not exist").
	admit func(ctx context.Context, r *request) error
	// about, if set, is asked at query time for what only the entity
	// knows: a name of its own, state features (a room's muc_
	// configuration, XEP-0045 §6.4) and XEP-0128 extension forms.
	about func(ctx context.Context, r *request) (entityState, error)
	// items answers disco#items without a node; nil: no items.
	items iqHandler
	// nodes answer disco#info and disco#items on a node (§3.2, §4.2).
	nodes []discoNode
}

// entityState is what an entity says of itself at query time.
type entityState struct {
	name     string
	features []string
	forms    []*Element
}

// A discoNode answers disco#info and disco#items on the nodes match
// accepts (r.payload says which).
type discoNode struct {
	match  func(node string) bool
	answer iqHandler
}

// entity declares at's identity; the disco handlers are registered for
// each declared entity by registerDisco.
func (m *mux) entity(at addressee, e entity) { m.entities[at] = &e }

// node adds a node provider to at's entity.
func (m *mux) node(at addressee, match func(string) bool, h iqHandler) {
	if e := m.entities[at]; e != nil {
		e.nodes = append(e.nodes, discoNode{match, h})
		return
	}
	m.errs = append(m.errs, fmt.Errorf("xmpp: mux: disco nodes on %s, which declares no entity", at))
}

// registerServerDisco declares the server and accounts.
func (s *Server) registerServerDisco() {
	s.mux.entity(toServer, entity{category: "server", typ: "im", name: "Parley", items: s.serverItems})
	s.mux.entity(toAccount, entity{category: "account", typ: "registered", admit: s.mayDiscoverAccount,
		items: func(context.Context, *request) (*Element, error) {
			return NewElement(nsDiscoItems, "query"), nil // pep.go lists the account's nodes
		}})
}

// registerDisco answers disco#info and disco#items on every declared
// entity. It runs after the feature files, which declare them.
func (s *Server) registerDisco() {
	for _, reg := range s.mux.order {
		for _, f := range reg.features {
			if s.mux.entities[f.at] == nil {
				s.mux.errs = append(s.mux.errs, fmt.Errorf("xmpp: mux: %s advertises %s at %s, which no disco entity answers for", reg.route, f.name, f.at))
			}
		}
	}
	for at := addressee(1); int(at) < len(addresseeNames); at++ {
		if s.mux.entities[at] == nil {
			continue
		}
		s.mux.iq(at, "get", nsDiscoInfo, "query", s.discoOf(at, s.discoInfoOf), advertise(nsDiscoInfo))
		items := []regOption{advertise(nsDiscoItems)}
		if at == toMUCService {
			// The room lists page with XEP-0059 (muc_iq.go, rsm.go).
			items = append(items, advertise(nsRSM))
		}
		s.mux.iq(at, "get", nsDiscoItems, "query", s.discoOf(at, discoItemsOf), items...)
	}
}

// discoOf is a disco query's handler on at: the entity's admission
// check, then a node's own answer, else answer's.
func (s *Server) discoOf(at addressee, answer func(ctx context.Context, e *entity, r *request) (*Element, error)) iqHandler {
	e := s.mux.entities[at]
	return func(ctx context.Context, r *request) (*Element, error) {
		if e.admit != nil {
			if err := e.admit(ctx, r); err != nil {
				return nil, err
			}
		}
		if node := r.payload.AttrValue("node"); node != "" {
			return e.answerNode(ctx, r, node)
		}
		return answer(ctx, e, r)
	}
}

// discoInfoOf answers disco#info on an entity (XEP-0030 §3.1): the identity, the
// table's features for at, and what the entity says of itself.
func (s *Server) discoInfoOf(ctx context.Context, e *entity, r *request) (*Element, error) {
	var st entityState
	if e.about != nil {
		var err error
		if st, err = e.about(ctx, r); err != nil {
			return nil, err
		}
	}
	name := e.name
	if st.name != "" {
		name = st.name
	}
	q := discoInfo("", e.category, e.typ, name, append(s.mux.features(r.at), st.features...))
	for i, id := range e.also {
		// Identities come before features (XEP-0030 §3.1 examples).
		q.Children = append(q.Children[:2+i], append([]any{NewElement(nsDiscoInfo, "identity", "category", id[0], "type", id[1])}, q.Children[2+i:]...)...)
	}
	return q.Append(st.forms...), nil
}

// discoItemsOf answers disco#items on an entity (XEP-0030 §4.1).
func discoItemsOf(ctx context.Context, e *entity, r *request) (*Element, error) {
	if e.items == nil {
		return NewElement(nsDiscoItems, "query"), nil
	}
	return e.items(ctx, r)
}

func (e *entity) answerNode(ctx context.Context, r *request, node string) (*Element, error) {
	for _, n := range e.nodes {
		if n.match(node) {
			return n.answer(ctx, r)
		}
	}
	return nil, errItemNotFound("no such node")
}

func discoInfo(node, category, typ, name string, features []string) *Element {
	q := NewElement(nsDiscoInfo, "query", "node", node)
	q.Append(NewElement(nsDiscoInfo, "identity", "category", category, "type", typ, "name", name))
	sorted := slices.Clone(features)
	slices.Sort(sorted)
	for _, f := range slices.Compact(sorted) {
		q.Append(NewElement(nsDiscoInfo, "feature", "var", f))
	}
	return q
}

// serverItems lists the server's services (XEP-0030 §4): the entities
// that ask to be listed, the MUC service and the upload service when they
// are on.
func (s *Server) serverItems(context.Context, *request) (*Element, error) {
	q := NewElement(nsDiscoItems, "query")
	for at := addressee(1); int(at) < len(addresseeNames); at++ {
		if e := s.mux.entities[at]; e != nil && e.listed != "" {
			q.Append(NewElement(nsDiscoItems, "item", "jid", e.jid, "name", e.listed))
		}
	}
	return q, nil
}

// mayDiscoverAccount applies XEP-0030 §... privacy as Prosody does: the
// account's owner and contacts with a presence subscription to it may see
// it; others get service-unavailable, as if it did not exist.
func (s *Server) mayDiscoverAccount(ctx context.Context, r *request) error {
	if r.to.String() == r.from.bareJID() {
		return nil
	}
	item, err := s.cfg.Store.RosterItem(ctx, r.to.Localpart(), r.from.bareJID())
	if isNotFound(err) {
		return errServiceUnavailable("")
	}
	if err != nil {
		return err
	}
	if !roster.ItemState(item).From() {
		return errServiceUnavailable("")
	}
	return nil
}
