package xmpp

import (
	"context"
	"fmt"
	"strconv"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// Roster management (RFC 6121 §2) with roster versioning (§2.6).

const (
	nsRoster    = "jabber:iq:roster"
	nsRosterVer = "urn:xmpp:features:rosterver"
)

// Bounds on roster input (RFC 6121 §2.3.3 lets the server refuse
// over-long names and groups).
const (
	maxRosterNameLength = 1023
	maxRosterGroups     = 64
)

func (s *Server) registerRoster() {
	why := unadvertised("RFC 6121 §2: every account has a roster; versioning is a stream feature (conn.go)")
	// A session that fetched the roster gets pushes (§2.1.6): state of
	// the local session.
	s.mux.iq(toAccount, "get", nsRoster, "query", s.rosterGet, why, localOnly)
	s.mux.iq(toAccount, "set", nsRoster, "query", s.rosterSet, why, localOnly)
}

// ownRosterOnly refuses roster requests addressed to someone else's account
// (RFC 6121 §2.1.5 allows only the user's own roster).
func ownRosterOnly(r *request) error {
	if r.to.String() != r.from.bareJID() {
		return errForbidden("only your own roster")
	}
	return nil
}

// rosterGet returns the roster (RFC 6121 §2.1.3), or an empty result if
// the client already has the current version (§2.6.3).
func (s *Server) rosterGet(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	items, version, err := s.cfg.Store.Roster(ctx, r.to.Localpart())
	if err != nil {
		return nil, fmt.Errorf("reading roster: %w", err)
	}
	sess := r.from.session()
	sess.mu.Lock()
	sess.rosterRequested = true
	sess.mu.Unlock()
	ver := strconv.FormatInt(version, 10)
	if cv := r.payload.AttrValue("ver"); cv != "" && cv == ver {
		return nil, nil
	}
	q := NewElement(nsRoster, "query")
	q.SetAttr("ver", ver)
	for _, it := range items {
		q.Append(rosterItemElement(it))
	}
	return q, nil
}

func rosterItemElement(it storage.RosterItem) *Element {
	el := NewElement(nsRoster, "item", "jid", it.JID, "name", it.Name, "subscription", it.Subscription)
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	for _, g := range it.Groups {
		el.Append(NewElement(nsRoster, "group").AppendText(g))
	}
	return el
}

// rosterSet adds, updates or removes one item (RFC 6121 §2.3, §2.5).
func (s *Server) rosterSet(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	items := r.payload.Elements()
	if len(items) != 1 || items[0].Name.Local != "item" || items[0].Name.Space != nsRoster {
		return nil, errBadRequest("a roster set carries exactly one item")
	}
	el := items[0]
	contact, err := jid.Parse(el.AttrValue("jid"))
	if err != nil || contact.Resourcepart() != "" {
		return nil, errBadRequest("the item needs a valid bare JID")
	}
	owner := r.to.Localpart()
	if el.AttrValue("subscription") == "remove" {
		return nil, s.rosterRemove(ctx, r.from, contact)
	}
	name := el.AttrValue("name")
	if len(name) > maxRosterNameLength {
		return nil, errNotAcceptable("name too long")
	}
	var groups []string
	seen := map[string]bool{}
	for _, g := range el.Elements() {
		if g.Name.Space != nsRoster || g.Name.Local != "group" {
			continue
		}
		name := g.Text()
		switch {
		case name == "":
			return nil, errNotAcceptable("empty group name")
		case len(name) > maxRosterNameLength:
			return nil, errNotAcceptable("group name too long")
		case seen[name]:
			return nil, errBadRequest("duplicate group " + name)
		}
		seen[name] = true
		groups = append(groups, name)
	}
	if len(groups) > maxRosterGroups {
		return nil, errNotAcceptable("too many groups")
	}
	item, err := s.cfg.Store.RosterItem(ctx, owner, contact.String())
	switch {
	case isNotFound(err):
		item = storage.RosterItem{Owner: owner, JID: contact.String(), Subscription: storage.SubscriptionNone}
	case err != nil:
		return nil, fmt.Errorf("reading roster item: %w", err)
	}
	item.Name, item.Groups = name, groups
	if err := s.putRosterItem(ctx, item); err != nil {
		return nil, err
	}
	return nil, nil
}

// rosterRemove deletes an item and cancels the subscriptions in both
// directions (RFC 6121 §2.5.2).
func (s *Server) rosterRemove(ctx context.Context, o origin, contact jid.JID) error {
	user := o.fullJID().Bare()
	owner := user.Localpart()
	item, err := s.cfg.Store.RosterItem(ctx, owner, contact.String())
	if isNotFound(err) {
		return errItemNotFound("no such roster item")
	}
	if err != nil {
		return fmt.Errorf("reading roster item: %w", err)
	}
	version, err := s.cfg.Store.DeleteRosterItem(ctx, owner, contact.String())
	if err != nil {
		return fmt.Errorf("removing roster item: %w", err)
	}
	if err := s.cfg.Store.RemovePendingSubscription(ctx, owner, contact.String()); err != nil {
		return fmt.Errorf("removing pending subscription: %w", err)
	}
	removed := item
	removed.Subscription = "remove"
	removed.Ask = false
	removed.Groups = nil
	s.pushRoster(o.bareJID(), removed, version)

	from := user
	if item.Subscription == storage.SubscriptionTo || item.Subscription == storage.SubscriptionBoth || item.Ask {
		s.inboundSubscription(ctx, contact, from, subscriptionStanza("unsubscribe", from, contact))
	}
	if item.Subscription == storage.SubscriptionFrom || item.Subscription == storage.SubscriptionBoth {
		s.sendUnavailableTo(o.bareJID(), contact)
		s.inboundSubscription(ctx, contact, from, subscriptionStanza("unsubscribed", from, contact))
	}
	return nil
}

// putRosterItem stores an item and pushes it to the owner's interested
// resources (RFC 6121 §2.1.6).
func (s *Server) putRosterItem(ctx context.Context, item storage.RosterItem) error {
	version, err := s.cfg.Store.PutRosterItem(ctx, item)
	if err != nil {
		return fmt.Errorf("storing roster item: %w", err)
	}
	s.pushRoster(item.Owner+"@"+s.cfg.Domain, item, version)
	return nil
}

// pushRoster sends a roster push to every resource of bare that has
// requested the roster.
func (s *Server) pushRoster(bare string, item storage.RosterItem, version int64) {
	for _, sess := range s.router.sessions(bare) {
		sess.mu.Lock()
		interested := sess.rosterRequested
		sess.mu.Unlock()
		if !interested {
			continue
		}
		q := NewElement(nsRoster, "query")
		q.SetAttr("ver", strconv.FormatInt(version, 10))
		q.Append(rosterItemElement(item))
		push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", sess.jid.String())
		sess.sendElement(push.Append(q))
	}
	if s.cfg.Remote != nil {
		// The user's sessions on other nodes (their available ones).
		q := NewElement(nsRoster, "query")
		q.SetAttr("ver", strconv.FormatInt(version, 10))
		q.Append(rosterItemElement(item))
		push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", bare)
		s.cfg.Remote.Send(bare, push.Append(q).Bytes())
	}
}
