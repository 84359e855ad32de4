package xmpp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/roster"
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
	return rosterElement(it, it.Subscription)
}

// rosterPushElement is the item of a push: subscription "remove" for a
// removed item (§2.5.2).
func rosterPushElement(p *roster.Push) *Element {
	if p.Removed {
		return rosterElement(p.Item, "remove")
	}
	return rosterItemElement(p.Item)
}

func rosterElement(it storage.RosterItem, subscription string) *Element {
	el := NewElement(nsRoster, "item", "jid", it.JID, "name", it.Name, "subscription", subscription)
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
	out, err := s.rosters.Set(ctx, owner, contact.String(), name, groups)
	if err != nil {
		return nil, s.rosterRefusal(err)
	}
	if out.Push != nil {
		s.pushRoster(r.from.bareJID(), out.Push)
	}
	return nil, nil
}

// rosterRemove deletes an item and cancels the subscriptions in both
// directions (RFC 6121 §2.5.2), as package roster says.
func (s *Server) rosterRemove(ctx context.Context, o origin, contact jid.JID) error {
	user := o.fullJID().Bare()
	out, err := s.rosters.Remove(ctx, user.Localpart(), contact.String())
	if errors.Is(err, roster.ErrNotOnRoster) {
		return errItemNotFound("no such roster item")
	}
	if err != nil {
		return err
	}
	s.subscriptionOutcome(ctx, user, contact, out, nil)
	return nil
}

// pushRoster sends a roster push (RFC 6121 §2.1.6) to every resource of
// bare that has requested the roster.
func (s *Server) pushRoster(bare string, p *roster.Push) {
	version := p.Version
	for _, sess := range s.router.sessions(bare) {
		sess.mu.Lock()
		interested := sess.rosterRequested
		sess.mu.Unlock()
		if !interested {
			continue
		}
		q := NewElement(nsRoster, "query")
		q.SetAttr("ver", strconv.FormatInt(version, 10))
		q.Append(rosterPushElement(p))
		push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", sess.jid.String())
		sess.sendElement(push.Append(q))
	}
	if s.cfg.Remote != nil {
		// The user's sessions on other nodes (their available ones).
		q := NewElement(nsRoster, "query")
		q.SetAttr("ver", strconv.FormatInt(version, 10))
		q.Append(rosterPushElement(p))
		push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", bare)
		s.cfg.Remote.Send(bare, push.Append(q).Bytes())
	}
}
