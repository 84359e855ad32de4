package xmpp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/roster"
	"github.com/parleychat/parley/storage"
)

// Presence (RFC 6121 §4) and presence subscriptions (§3) of local users,
// with each other and, over server-to-server links, with users of other
// servers (what arrives from those is s2s_remote.go's).

// registerPresence takes the presence a local user sends to anyone but a
// service: broadcasts (no 'to'), directed presence and subscription
// requests (RFC 6121 §3, §4). Presence to a room is XEP-0045's
// (muc_presence.go).
func (s *Server) registerPresence() {
	core := unadvertised("RFC 6121 presence and subscriptions are core, not disco features")
	for _, at := range []addressee{toServer, toAccount, toFullJID, toRemote} {
		for _, typ := range []string{"available", "unavailable"} {
			s.mux.stanza(at, "presence", typ, "", "", s.presenceAvailability, core, fromRemote(s.remotePresence))
		}
		for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed"} {
			s.mux.stanza(at, "presence", typ, "", "", s.presenceSubscription, core, fromRemote(s.remoteSubscription))
		}
		s.mux.stanza(at, "presence", "error", "", "", s.presenceError, core, fromRemote(s.remotePresence))
		// Probes are server business (RFC 6121 §4.3): clients do not
		// send them, other servers do (s2s_remote.go).
		s.mux.stanza(at, "presence", "probe", "", "", ignore, core, fromRemote(s.remoteProbe))
		s.mux.stanza(at, "presence", anyType, "", "", func(context.Context, *request) error {
			return errBadRequest("unknown presence type")
		}, core)
	}
}

// A presenceHook sees a session's broadcast presence (available or not)
// before it is kept and sent; it may add to p. Features that depend on
// what a session's presence says register one (caps.go, vcard.go).
type presenceHook func(ctx context.Context, sess *session, p *Element, available bool)

// ignore is the handler of stanzas that are dropped on purpose.
func ignore(context.Context, *request) error { return nil }

// presenceAvailability handles available and unavailable presence: without
// 'to' a broadcast (§4.2, §4.4, §4.5), with 'to' directed presence (§4.6).
func (s *Server) presenceAvailability(ctx context.Context, r *request) error {
	available := r.typ == "available"
	if r.el.AttrValue("to") == "" {
		return s.broadcastPresence(ctx, r.from.session(), r.el, available)
	}
	s.directedPresence(ctx, r.from.session(), r.el, r.to, available)
	return nil
}

// presenceSubscription handles a subscription request or answer (§3).
func (s *Server) presenceSubscription(ctx context.Context, r *request) error {
	if r.el.AttrValue("to") == "" {
		return errJIDMalformed("")
	}
	return s.outboundSubscription(ctx, r.from, r.typ, r.to.Bare(), r.el)
}

// presenceError passes a presence error on to whom it names.
func (s *Server) presenceError(ctx context.Context, r *request) error {
	if r.el.AttrValue("to") != "" {
		s.directedPresence(ctx, r.from.session(), r.el, r.to, false)
	}
	return nil
}

// presencePriority reads <priority/> (RFC 6121 §4.7.2.3): -128..127,
// default 0.
func presencePriority(p *Element) (int, bool) {
	el := p.Child(nsClient, "priority")
	if el == nil {
		return 0, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(el.Text()))
	if err != nil || n < -128 || n > 127 {
		return 0, false
	}
	return n, true
}

// broadcastPresence handles presence without 'to': initial presence,
// updates (§4.2, §4.4) and unavailable (§4.5).
func (s *Server) broadcastPresence(ctx context.Context, sess *session, p *Element, available bool) error {
	prio, ok := presencePriority(p)
	if available && !ok {
		return errBadRequest("priority must be an integer from -128 to 127")
	}
	for _, h := range s.presenceHooks {
		h(ctx, sess, p, available)
	}
	sess.mu.Lock()
	wasAvailable := sess.available
	sess.available = available
	var directed []string
	if available {
		sess.priority = prio
		sess.presence = p
	} else {
		sess.presence = nil
		for d := range sess.directed {
			directed = append(directed, d)
		}
		clear(sess.directed)
	}
	sess.mu.Unlock()

	if !available && !wasAvailable && len(directed) == 0 {
		return nil
	}
	// One roster read serves the broadcast and, on initial presence, the
	// answer to the probes.
	items, _, err := s.cfg.Store.Roster(ctx, sess.jid.Localpart())
	if err != nil {
		s.log.Error("presence: reading roster", "user", sess.bare, "err", err)
	}
	if available || wasAvailable {
		s.broadcastToContactsAndSelf(sess, p, items)
	}
	for _, d := range directed {
		if j, err := jid.Parse(d); err == nil {
			s.deliverPresence(p, j)
		}
	}
	if available && !wasAvailable {
		s.initialPresence(ctx, sess, prio, items)
	}
	return nil
}

// broadcastToContactsAndSelf sends p to every contact with a subscription
// to the user (from/both) and to the user's other resources.
func (s *Server) broadcastToContactsAndSelf(sess *session, p *Element, items []storage.RosterItem) {
	for _, it := range items {
		if roster.ItemState(it).From() {
			if j, err := jid.Parse(it.JID); err == nil {
				s.deliverPresence(p, j)
			}
		}
	}
	for _, other := range s.router.sessions(sess.bare) {
		// The sender's own available session gets its presence back
		// too (RFC 6121 §4.2.2, §4.4.2).
		if other.isAvailable() {
			out := p.Copy()
			out.SetAttr("to", other.jid.String())
			other.sendElement(out)
		}
	}
	if s.cfg.Remote != nil {
		// The user's resources on other nodes.
		out := p.Copy()
		out.SetAttr("to", sess.bare)
		s.cfg.Remote.Send(sess.bare, out.Bytes())
	}
}

// initialPresence completes a resource's first available presence: the
// presence of its contacts and other resources (the answer to the probes
// of §4.2.3), pending subscription requests (§3.1.3) and, at non-negative
// priority, offline messages (§8.5.2.2.1; XEP-0160).
func (s *Server) initialPresence(ctx context.Context, sess *session, prio int, items []storage.RosterItem) {
	var contacts []string
	for _, it := range items {
		if !roster.ItemState(it).To() {
			continue
		}
		j, err := jid.Parse(it.JID)
		switch {
		case err == nil && j.Domainpart() == s.cfg.Domain:
			s.sendPresenceOf(j.String(), sess)
			contacts = append(contacts, j.String())
		case err == nil && s.fed != nil && s.isRemote(j):
			// §4.3.1: the contact's server answers our probe.
			_ = s.sendRemote(NewElement(nsClient, "presence", "type", "probe", "from", sess.bare, "to", j.String()))
		}
	}
	s.sendPresenceOf(sess.bare, sess)
	if s.cfg.Remote != nil {
		for _, p := range s.cfg.Remote.Presences(ctx, append(contacts, sess.bare), sess.jid.String()) {
			sess.send(p)
		}
	}

	pending, err := s.cfg.Store.PendingSubscriptions(ctx, sess.jid.Localpart())
	if err != nil {
		s.log.Error("presence: reading pending subscriptions", "user", sess.bare, "err", err)
	}
	for _, ps := range pending {
		sess.send(ps.Stanza)
	}
	if prio >= 0 {
		s.deliverOffline(ctx, sess)
	}
}

// sendPresenceOf sends the current presence of every available resource of
// bare to sess (except sess itself).
func (s *Server) sendPresenceOf(bare string, sess *session) {
	for _, r := range s.router.sessions(bare) {
		if r == sess {
			continue
		}
		r.mu.Lock()
		p := r.presence
		r.mu.Unlock()
		if p != nil && !s.presenceBlocked(p, sess.jid) {
			out := p.Copy()
			out.SetAttr("to", sess.jid.String())
			sess.sendElement(out)
		}
	}
}

// sendUnavailableTo tells contact that every available resource of bare
// went away (RFC 6121 §3.2.2, §3.3.3).
func (s *Server) sendUnavailableTo(bare string, contact jid.JID) {
	for _, r := range s.router.sessions(bare) {
		if r.isAvailable() {
			p := NewElement(nsClient, "presence", "type", "unavailable", "from", r.jid.String())
			s.deliverPresence(p, contact)
		}
	}
}

// directedPresence sends presence to one entity (§4.6) and remembers it, so
// that the recipient is told when the session goes away.
func (s *Server) directedPresence(ctx context.Context, sess *session, p *Element, j jid.JID, available bool) {
	s.deliverPresence(p, j)
	if p.AttrValue("type") == "error" {
		return
	}
	// §4.6.1: presence directed at a contact who already gets the
	// broadcast (from/both) is not remembered as directed presence, or
	// the contact would get unavailable presence twice.
	if item, err := s.cfg.Store.RosterItem(ctx, sess.jid.Localpart(), j.Bare().String()); err == nil && roster.ItemState(item).From() {
		return
	}
	sess.mu.Lock()
	if available {
		if sess.directed == nil {
			sess.directed = make(map[string]bool)
		}
		sess.directed[j.String()] = true
	} else {
		delete(sess.directed, j.String())
	}
	sess.mu.Unlock()
}

// deliverPresence delivers presence to a local JID: a full JID's session,
// or every available resource of a bare JID (RFC 6121 §8.5.2.1.2,
// §8.5.3.1); presence to another domain goes to its server.
func (s *Server) deliverPresence(p *Element, to jid.JID) {
	if s.presenceBlocked(p, to) {
		return // XEP-0191 §3.3
	}
	s.deliverLocalPresence(p, to)
}

// deliverLocalPresence is deliverPresence without the blocklists: for the
// unavailable presence a block itself sends (blocking.go).
func (s *Server) deliverLocalPresence(p *Element, to jid.JID) {
	out := p.Copy()
	out.SetAttr("to", to.String())
	if s.fed != nil && s.isRemote(to) {
		_ = s.sendRemote(out)
		return
	}
	if to.Domainpart() != s.cfg.Domain || to.Localpart() == "" {
		return
	}
	if to.Resourcepart() != "" {
		if r := s.router.session(to.Bare().String(), to.Resourcepart()); r != nil {
			r.sendElement(out)
		}
		return
	}
	data := out.Bytes()
	for _, r := range s.router.sessions(to.String()) {
		if r.isAvailable() {
			r.send(data)
		}
	}
	if s.cfg.Remote != nil {
		s.cfg.Remote.Send(to.String(), data)
	}
}

// DeliverLocal delivers a stanza another pool node addressed to to (a JID
// of this domain) to this node's sessions: the full JID's session, or
// every available resource of a bare JID.
func (s *Server) DeliverLocal(to string, stanza []byte) {
	j, err := jid.Parse(to)
	if err != nil || j.Domainpart() != s.cfg.Domain {
		return
	}
	if s.carbonFromNode(j, stanza) || s.blockingPushFromNode(j, stanza) {
		return
	}
	if list := s.blocklistOf(s.ctx, j.Bare().String(), false); len(list) > 0 {
		// The sender's node checked the sender's blocklist; the
		// recipient's is known here (XEP-0191 §3.3).
		if el := parseStored(stanza); el != nil {
			if from, err := jid.Parse(el.AttrValue("from")); err == nil && blocks(list, from) {
				return
			}
		}
	}
	if res := j.Resourcepart(); res != "" {
		if r := s.router.session(j.Bare().String(), res); r != nil {
			r.send(stanza)
		}
		return
	}
	for _, r := range s.router.sessions(j.String()) {
		if r.isAvailable() {
			r.send(stanza)
		}
	}
}

// LocalPresences returns the presence of the available sessions here of
// each bare JID, addressed to to: another node's new session asks for
// its contacts' presence (RFC 6121 §4.2.3).
func (s *Server) LocalPresences(bares []string, to string) [][]byte {
	var out [][]byte
	for _, bare := range bares {
		for _, r := range s.router.sessions(bare) {
			r.mu.Lock()
			p := r.presence
			r.mu.Unlock()
			if p != nil {
				c := p.Copy()
				c.SetAttr("to", to)
				out = append(out, c.Bytes())
			}
		}
	}
	return out
}

// presenceGone is called when a session ends: if it was available (or had
// sent directed presence) its contacts get unavailable presence (§4.5.2).
func (s *Server) presenceGone(sess *session) {
	sess.mu.Lock()
	was := sess.available || len(sess.directed) > 0
	sess.mu.Unlock()
	if !was {
		return
	}
	p := NewElement(nsClient, "presence", "type", "unavailable", "from", sess.jid.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	_ = s.broadcastPresence(ctx, sess, p, false)
}

func (sess *session) isAvailable() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.available
}

// subscriptionStanza builds a subscription presence from one bare JID to
// another.
func subscriptionStanza(typ roster.Event, from, to jid.JID) *Element {
	return NewElement(nsClient, "presence", "type", string(typ), "from", from.String(), "to", to.String())
}

// outboundSubscription takes a subscription stanza a user sends (RFC 6121
// §3.1.2, §3.1.5, §3.2.2, §3.3.2): package roster applies it to the user's
// roster, and this sends what it says to: the roster push, unavailable
// presence, the stanza stamped with the user's bare JID (§3) for the
// contact, the user's presence to a new subscriber.
func (s *Server) outboundSubscription(ctx context.Context, o origin, typ string, contact jid.JID, p *Element) error {
	user := o.fullJID().Bare()
	if contact.Equal(user) {
		return nil
	}
	out, err := s.rosters.Outbound(ctx, user.Localpart(), contact.String(), roster.Event(typ))
	if err != nil {
		return s.rosterRefusal(err)
	}
	stamped := p.Copy()
	stamped.SetAttr("from", user.String())
	stamped.SetAttr("to", contact.String())
	s.subscriptionOutcome(ctx, user, contact, out, func() { s.inboundSubscription(ctx, contact, user, stamped) })
	return nil
}

// inboundSubscription takes a subscription stanza p that from sends to
// user, a JID of this domain (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3):
// package roster applies it to the user's roster, and this sends what it
// says to. For a user of another server, p goes to that server.
func (s *Server) inboundSubscription(ctx context.Context, user, from jid.JID, p *Element) {
	if s.fed != nil && s.isRemote(user) {
		// The user's own server does the user's side (§3.1.3).
		_ = s.sendRemote(p)
		return
	}
	if user.Domainpart() != s.cfg.Domain || user.Localpart() == "" {
		return
	}
	out, err := s.rosters.Inbound(ctx, user.Localpart(), from.String(), roster.Event(p.AttrValue("type")), p.Bytes())
	if err != nil {
		s.log.Error("subscription", "user", user.String(), "from", from.String(), "type", p.AttrValue("type"), "err", err)
		return
	}
	if out.Dropped {
		s.metrics.rosterLimited.WithLabelValues("requests").Inc()
		return
	}
	s.subscriptionOutcome(ctx, user, from, out, func() { s.deliverPresenceEverywhere(p, user) })
}

// deliverPresenceEverywhere delivers presence to a JID of this domain as
// deliverPresence does, and to its sessions on the other nodes of a pool
// (Server.DeliverLocal there): for presence that did not come from one of
// the user's own sessions, such as a remote contact's, which reaches
// whichever node the link from its server came to.
func (s *Server) deliverPresenceEverywhere(p *Element, to jid.JID) {
	s.deliverPresence(p, to)
	if s.cfg.Remote != nil && to.Domainpart() == s.cfg.Domain && to.Localpart() != "" {
		out := p.Copy()
		out.SetAttr("to", to.String())
		s.cfg.Remote.Send(to.String(), out.Bytes())
	}
}

// rosterRefusal is the stanza error for a roster change refused by a
// limit (policy-violation, counted), or err itself.
func (s *Server) rosterRefusal(err error) error {
	if errors.Is(err, roster.ErrRosterFull) {
		s.metrics.rosterLimited.WithLabelValues("items").Inc()
		return stanzaError(interop.PolicyViolation, fmt.Sprintf("your roster holds %d contacts, the most allowed: remove some first", s.cfg.MaxRosterItems))
	}
	return err
}

// subscriptionOutcome sends what a change to user's roster about contact
// asks for (roster.Outcome), in its order. forward passes the stanza on:
// routes it to the contact for an outbound change, delivers it to the
// user's resources for an inbound one; nil when there is no stanza.
func (s *Server) subscriptionOutcome(ctx context.Context, user, contact jid.JID, out roster.Outcome, forward func()) {
	if out.Push != nil {
		s.pushRoster(user.String(), out.Push)
	}
	if out.Unavailable {
		s.sendUnavailableTo(user.String(), contact)
	}
	if out.Forward && forward != nil {
		forward()
	}
	for _, ev := range out.Send {
		s.inboundSubscription(ctx, contact, user, subscriptionStanza(ev, user, contact))
	}
	if out.Presence {
		for _, r := range s.router.sessions(user.String()) {
			r.mu.Lock()
			pres := r.presence
			r.mu.Unlock()
			if pres != nil {
				s.deliverPresence(pres, contact)
			}
		}
		// The new subscriber also gets the user's last PEP items.
		s.pepSubscribed(ctx, user, contact)
	}
}
