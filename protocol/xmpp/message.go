package xmpp

import (
	"context"
	"errors"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// Message routing between local users (RFC 6121 §8.5) and offline storage
// (§8.5.2.2.1, XEP-0160) with delayed-delivery stamps (XEP-0203).

const (
	nsDelay      = "urn:xmpp:delay"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsHints      = "urn:xmpp:hints"
)

// registerMessages routes messages to the domain's users: their bare JID
// (offline storage when no resource is available) or one session.
func (s *Server) registerMessages() {
	s.mux.stanza(toAccount, "message", anyType, "", "", s.messageToUser, advertiseAt(toServer, "msgoffline"))
	s.mux.stanza(toFullJID, "message", anyType, "", "", s.messageToUser,
		unadvertised("routing (RFC 6121 §8.5.3): to one session, or as if to the bare JID"))
}

// messageToUser delivers a message to a local bare or full JID (RFC 6121
// §8.5.2, §8.5.3); a message without 'to' is for the sender's own account.
func (s *Server) messageToUser(ctx context.Context, r *request) error {
	if r.el.AttrValue("to") == "" {
		r.el.SetAttr("to", r.to.String())
	}
	from, sess, msg := r.from.fullJID(), r.from.session(), r.el
	// Archived in both local parties' archives before delivery, each
	// copy carrying its archive's stanza-id (mam_account.go).
	var senderID, recipientID string
	if r.typ == "chat" || r.typ == "normal" {
		withoutOwnStanzaIDs(msg, r.to.Bare().String(), from.Bare().String())
		var err error
		if senderID, recipientID, err = s.archiveDirect(ctx, msg, r.typ, from, r.to, sess != nil, true); err != nil {
			s.log.Error("message: archiving", "from", from.String(), "to", r.to.String(), "err", err)
			return errInternal("")
		}
	}
	if serr := s.deliverMessage(ctx, s.stampStanzaID(msg, recipientID, r.to), r.to, r.typ); serr != nil {
		return serr
	}
	if sess != nil {
		s.sentCarbons(sess, s.stampStanzaID(msg, senderID, from), r.typ)
	}
	return nil
}

// deliverMessage delivers a message to a local JID following RFC 6121
// §8.5.2 (bare JID) and §8.5.3 (full JID), with carbon copies for the
// user's other resources (carbons.go). It returns the error to bounce, if
// any.
func (s *Server) deliverMessage(ctx context.Context, m *Element, to jid.JID, typ string) *StanzaError {
	bare := to.Bare().String()
	copies := carbonEligible(m, typ, true)
	m = withoutPrivate(m)
	if res := to.Resourcepart(); res != "" {
		if r := s.router.session(bare, res); r != nil {
			r.sendElement(m)
			if copies {
				s.receivedCarbons(to, m, func(o *session) bool { return o == r })
			}
			s.pushIfAway(ctx, m, to, typ, []*session{r})
			return nil
		}
		// §8.5.3.2: no such resource.
		switch typ {
		case "groupchat":
			return errServiceUnavailable("")
		case "headline", "error":
			return nil
		}
		// normal and chat are treated as if sent to the bare JID.
	}
	targets := s.deliveryTargets(bare, typ)
	if typ == "groupchat" {
		return errServiceUnavailable("")
	}
	if len(targets) > 0 {
		data := m.Bytes()
		for _, r := range targets {
			r.send(data)
		}
	}
	if copies {
		s.receivedCarbons(to, m, func(o *session) bool { return containsSession(targets, o) })
	}
	// The user's endpoints on other front doors (SIP contacts) get it
	// too, as further resources would (interworking.go).
	if s.deliverElsewhere(ctx, m, to, typ) {
		return nil
	}
	if len(targets) > 0 {
		s.pushIfAway(ctx, m, to, typ, targets)
		return nil
	}
	if typ == "headline" || typ == "error" {
		return nil // §8.5.2.2.2: silently ignored
	}
	if serr := s.storeOffline(ctx, m, to); serr != nil {
		return serr
	}
	s.pushIfAway(ctx, m, to, typ, nil)
	return nil
}

// deliveryTargets picks the resources a message to a bare JID goes to:
// the available ones with non-negative priority; for normal and chat only
// those with the highest priority (§8.5.2.1.1).
func (s *Server) deliveryTargets(bare, typ string) []*session {
	var out []*session
	best := -129
	for _, r := range s.router.sessions(bare) {
		r.mu.Lock()
		avail, prio := r.available, r.priority
		r.mu.Unlock()
		if !avail || prio < 0 {
			continue
		}
		if typ == "headline" || typ == "error" {
			out = append(out, r)
			continue
		}
		switch {
		case prio > best:
			best = prio
			out = append(out[:0], r)
		case prio == best:
			out = append(out, r)
		}
	}
	return out
}

// storable applies XEP-0160 §... and XEP-0334: a message worth storing has
// some content beyond chat states, and no no-store hint.
func storable(m *Element) bool {
	content := false
	for _, c := range m.Elements() {
		switch {
		case c.Name.Space == nsHints && c.Name.Local == "store":
			return true
		case c.Name.Space == nsHints && (c.Name.Local == "no-store" || c.Name.Local == "no-permanent-store"):
			return false
		case c.Name.Space == nsChatStates, c.Name.Space == nsClient && c.Name.Local == "thread":
		default:
			content = true
		}
	}
	return content
}

// storeOffline keeps a message for a user with no available resource.
func (s *Server) storeOffline(ctx context.Context, m *Element, to jid.JID) *StanzaError {
	exists, err := s.accountExists(ctx, to.Localpart())
	if err != nil {
		s.log.Error("message: checking account", "to", to.String(), "err", err)
		return errInternal("")
	}
	if !exists {
		return errServiceUnavailable("")
	}
	if !storable(m) {
		return nil
	}
	now := time.Now().UTC()
	stamped := m.Copy()
	stamped.Append(NewElement(nsDelay, "delay", "from", s.cfg.Domain,
		"stamp", now.Format("2006-01-02T15:04:05.000Z")).AppendText("Offline Storage"))
	_, err = s.cfg.Store.StoreOffline(ctx, storage.OfflineMessage{
		Owner:  to.Localpart(),
		From:   m.AttrValue("from"),
		Stanza: stamped.Bytes(),
		Stored: now,
	}, s.limit().MaxOfflineMessages)
	switch {
	case errors.Is(err, storage.ErrQuotaExceeded):
		return errServiceUnavailable("the recipient's offline storage is full")
	case isNotFound(err):
		return errServiceUnavailable("")
	case err != nil:
		s.log.Error("message: storing offline", "to", to.String(), "err", err)
		return errInternal("")
	}
	s.metrics.offlineStored.Inc()
	return nil
}

// deliverOffline sends a newly available resource the messages stored
// while the user was offline. They are deleted from storage only after
// they were written to the socket.
func (s *Server) deliverOffline(ctx context.Context, sess *session) {
	u := s.router.user(sess.bare)
	if u == nil {
		return
	}
	u.offlineMu.Lock()
	defer u.offlineMu.Unlock()
	l := s.offline.of(sess.bare)
	l.Lock()
	defer l.Unlock()
	msgs, err := s.cfg.Store.OfflineMessages(ctx, sess.jid.Localpart())
	if err != nil {
		s.log.Error("offline: reading", "user", sess.bare, "err", err)
		return
	}
	var last int64
	for i, m := range msgs {
		if m.ID <= u.offlineDelivered {
			continue
		}
		it := outItem{data: m.Stanza}
		last = m.ID
		if i == len(msgs)-1 {
			owner, upTo := sess.jid.Localpart(), last
			it.afterWrite = func() {
				dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.cfg.Store.DeleteOfflineThrough(dctx, owner, upTo); err != nil {
					s.log.Error("offline: deleting delivered messages", "user", owner, "err", err)
				}
			}
		}
		if !sess.sendItem(it) {
			return
		}
	}
	if last > u.offlineDelivered {
		u.offlineDelivered = last
	}
}
