package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/pubsub"

	"github.com/parleychat/parley/pep"
	"github.com/parleychat/parley/storage"
)

// Personal eventing (XEP-0163): who is told of a change to an account's
// node, and how. Package pep says which accounts (the owner and its
// presence subscribers, by the node's access model); this file sends each
// of their available resources that asks for the node (a NODE+notify
// capability, caps.go) an event message (XEP-0060 §7.1.2.1), on this node
// and, through Config.Remote, on the other nodes of a pool. A resource
// whose capabilities become known gets the last item of each node it asks
// for, of its own account and of the contacts it is subscribed to
// (XEP-0163 §4.3.4, "last published item" on presence).

// registerPEP declares what the account is as a PEP service and
// registers the pubsub subset and capabilities.
func (s *Server) registerPEP() {
	if e := s.mux.entities[toAccount]; e != nil {
		// XEP-0163 §8: a PEP service is the account's pubsub/pep identity.
		e.also = append(e.also, [2]string{"pubsub", "pep"})
		e.items = s.pepNodes
	}
	s.registerPubSub()
	s.registerCaps()
}

// pepPublished notifies a publish (XEP-0060 §7.1.2.1, XEP-0163 §4.3).
func (s *Server) pepPublished(ctx context.Context, pub pep.Published) {
	item := itemElement(pubsub.NSEvent, pub.Item)
	item.SetAttr("publisher", pub.Item.Publisher)
	s.pepChanged(ctx, pub.Node, NewElement(pubsub.NSEvent, "items", "node", pub.Node.Name).Append(item))
}

// pepNodes lists the account's nodes the requester may read (XEP-0060
// §5.2, disco#items on the service).
func (s *Server) pepNodes(ctx context.Context, r *request) (*Element, error) {
	nodes, err := s.cfg.Store.PubSubNodes(ctx, r.to.Localpart())
	if err != nil {
		return nil, err
	}
	q := NewElement(nsDiscoItems, "query")
	for _, n := range nodes {
		if s.pep.MayRead(ctx, n, r.from.bareJID()) == nil {
			q.Append(NewElement(nsDiscoItems, "item", "jid", r.to.Bare().String(), "node", n.Name))
		}
	}
	return q, nil
}

// serverPublish publishes an item the server converted from another form
// of the account's data (bookmarks.go, vcard.go) with the options that
// form calls for, or, when the client configured the node otherwise, as
// the node is; and notifies it.
func (s *Server) serverPublish(ctx context.Context, owner, publisher, node, id string, payload []byte, options map[string][]string) error {
	pub, err := s.pep.Publish(ctx, owner, publisher, node, id, payload, options)
	if errors.Is(err, pep.ErrPrecondition) {
		pub, err = s.pep.Publish(ctx, owner, publisher, node, id, payload, nil)
	}
	if err != nil {
		return err
	}
	s.pepPublished(ctx, pub)
	return nil
}

// pepChanged sends an event to every subscriber of node n whose resources
// ask for it; change is the <event/>'s content: items, retract, purge or
// delete.
func (s *Server) pepChanged(ctx context.Context, n storage.PubSubNode, change *Element) {
	subs, err := s.pep.Subscribers(ctx, n)
	if err != nil {
		s.log.Error("pep: finding subscribers", "owner", n.Owner, "node", n.Name, "err", err)
	}
	owner := n.Owner + "@" + s.cfg.Domain
	event := NewElement(pubsub.NSEvent, "event").Append(change)
	for _, bare := range subs {
		j, err := jid.Parse(bare)
		if err != nil {
			continue
		}
		msg := NewElement(nsClient, "message", "type", "headline", "from", owner, "to", bare, "id", randomID(6)).Append(event)
		if j.Domainpart() != s.cfg.Domain {
			// A user of another server: its server delivers the event
			// to the bare JID as it would any headline (RFC 6121
			// §8.5.2.1.1); this server does not see that user's
			// capabilities to filter by them.
			if s.fed != nil && s.isRemote(j) {
				_ = s.sendRemote(msg)
			}
			continue
		}
		data := msg.Bytes()
		s.DeliverNotify(bare, n.Name, data)
		if s.cfg.Remote != nil {
			s.cfg.Remote.SendNotify(bare, n.Name, data)
		}
	}
}

// DeliverNotify delivers a PEP event addressed to to (a bare JID of this
// domain) to this node's available sessions of it whose capabilities ask
// for node's notifications: the pool calls it for events raised on other
// nodes.
func (s *Server) DeliverNotify(to, node string, stanza []byte) {
	for _, r := range s.router.sessions(to) {
		if r.wantsNotify(node) {
			r.send(stanza)
		}
	}
}

// sendLastItems sends a session the last item of each node it asks for
// (names), of its own account and of the local contacts whose presence it
// is subscribed to, as far as it may read them.
func (s *Server) sendLastItems(ctx context.Context, sess *session, names []string) {
	items, _, err := s.cfg.Store.Roster(ctx, sess.jid.Localpart())
	if err != nil {
		s.log.Error("pep: reading roster", "user", sess.bare, "err", err)
		return
	}
	s.sendLastItemsOf(ctx, sess, s.pep.Publishers(ctx, sess.bare, items), names, false)
}

// pepSubscribed sends the local resources of contact, newly subscribed to
// user's presence, the last items of user's nodes they ask for (XEP-0163
// §4.3 with XEP-0060 §12.15 send_last_published_item on_sub). Resources on
// other pool nodes get them at their next presence.
func (s *Server) pepSubscribed(ctx context.Context, user, contact jid.JID) {
	if contact.Domainpart() != s.cfg.Domain || user.Domainpart() != s.cfg.Domain {
		return
	}
	for _, sess := range s.router.sessions(contact.Bare().String()) {
		sess.mu.Lock()
		c, avail := sess.caps, sess.available
		sess.mu.Unlock()
		if c != nil && avail && len(c.notify) > 0 {
			s.sendLastItemsOf(ctx, sess, []string{user.Localpart()}, c.notify, true)
		}
	}
}

// sendLastItemsOf sends sess the last items of publishers' nodes names it
// may read: those sent on presence, or with onSub those sent on
// subscription too.
func (s *Server) sendLastItemsOf(ctx context.Context, sess *session, publishers, names []string, onSub bool) {
	last, err := s.pep.LastItems(ctx, sess.bare, publishers, names, onSub)
	if err != nil {
		s.log.Error("pep: reading last items", "user", sess.bare, "err", err)
		return
	}
	for _, l := range last {
		item := itemElement(pubsub.NSEvent, l.Item)
		item.SetAttr("publisher", l.Item.Publisher)
		msg := NewElement(nsClient, "message", "type", "headline", "from", l.Node.Owner+"@"+s.cfg.Domain,
			"to", sess.jid.String(), "id", randomID(6)).Append(
			NewElement(pubsub.NSEvent, "event").Append(NewElement(pubsub.NSEvent, "items", "node", l.Node.Name).Append(item)))
		sess.sendElement(msg)
	}
}
