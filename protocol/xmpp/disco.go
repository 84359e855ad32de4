package xmpp

import (
	"context"
	"slices"

	"github.com/parleychat/parley/storage"
)

// Service discovery (XEP-0030) on the server and on accounts.

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// serverFeatures is what the server itself implements; each entry is a
// feature with a handler in this package. Keep it truthful.
var serverFeatures = []string{
	nsDiscoInfo,
	nsDiscoItems,
	nsPing,       // XEP-0199
	nsVersion,    // XEP-0092
	"msgoffline", // XEP-0160 offline message storage
}

// accountFeatures is what the server answers on behalf of an account.
var accountFeatures = []string{nsDiscoInfo, nsDiscoItems, nsPing}

func (s *Server) registerDisco() {
	s.onIQ("get", nsDiscoInfo, "query", false, s.discoInfoServer)
	s.onIQ("get", nsDiscoItems, "query", false, s.discoItemsServer)
	s.onIQ("get", nsDiscoInfo, "query", true, s.discoInfoAccount)
	s.onIQ("get", nsDiscoItems, "query", true, s.discoItemsAccount)
}

func discoInfo(node, category, typ, name string, features []string) *Element {
	q := NewElement(nsDiscoInfo, "query", "node", node)
	q.Append(NewElement(nsDiscoInfo, "identity", "category", category, "type", typ, "name", name))
	sorted := slices.Clone(features)
	slices.Sort(sorted)
	for _, f := range sorted {
		q.Append(NewElement(nsDiscoInfo, "feature", "var", f))
	}
	return q
}

// discoInfoServer answers disco#info to the domain (XEP-0030 §3.1).
func (s *Server) discoInfoServer(ctx context.Context, req iqRequest) (*Element, error) {
	if node := req.payload.AttrValue("node"); node != "" {
		return nil, errItemNotFound("no such node")
	}
	return discoInfo("", "server", "im", "Parley", serverFeatures), nil
}

// discoItemsServer lists the server's services: the MUC service
// (conference.DOMAIN) when rooms are on.
func (s *Server) discoItemsServer(ctx context.Context, req iqRequest) (*Element, error) {
	if node := req.payload.AttrValue("node"); node != "" {
		return nil, errItemNotFound("no such node")
	}
	q := NewElement(nsDiscoItems, "query")
	if s.muc != nil {
		q.Append(NewElement(nsDiscoItems, "item", "jid", s.muc.domain, "name", "Chat rooms"))
	}
	if d := s.uploadDomain(); d != "" {
		q.Append(NewElement(nsDiscoItems, "item", "jid", d, "name", "HTTP File Upload"))
	}
	return q, nil
}

// mayDiscoverAccount applies XEP-0030 §... privacy as Prosody does: the
// account's owner and contacts with a presence subscription to it may see
// it; others get service-unavailable, as if it did not exist.
func (s *Server) mayDiscoverAccount(ctx context.Context, req iqRequest) error {
	if req.to.Localpart() == req.sess.jid.Localpart() {
		return nil
	}
	item, err := s.cfg.Store.RosterItem(ctx, req.to.Localpart(), req.sess.bare)
	if isNotFound(err) {
		return errServiceUnavailable("")
	}
	if err != nil {
		return err
	}
	if item.Subscription != storage.SubscriptionFrom && item.Subscription != storage.SubscriptionBoth {
		return errServiceUnavailable("")
	}
	return nil
}

// discoInfoAccount answers disco#info to a bare JID (XEP-0030 §3.1,
// identity account/registered).
func (s *Server) discoInfoAccount(ctx context.Context, req iqRequest) (*Element, error) {
	if err := s.mayDiscoverAccount(ctx, req); err != nil {
		return nil, err
	}
	if node := req.payload.AttrValue("node"); node != "" {
		return nil, errItemNotFound("no such node")
	}
	return discoInfo("", "account", "registered", "", accountFeatures), nil
}

// discoItemsAccount lists an account's items: none are published yet.
func (s *Server) discoItemsAccount(ctx context.Context, req iqRequest) (*Element, error) {
	if err := s.mayDiscoverAccount(ctx, req); err != nil {
		return nil, err
	}
	if node := req.payload.AttrValue("node"); node != "" {
		return nil, errItemNotFound("no such node")
	}
	return NewElement(nsDiscoItems, "query"), nil
}
