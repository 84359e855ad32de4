package xmpp

import (
	"bytes"
	"context"

	"mellium.im/xmpp/carbons"
	"mellium.im/xmpp/jid"
)

// Message Carbons (XEP-0280): a session that enabled carbons gets a copy
// of the 1:1 messages its account's other resources send (<sent/>) and
// receive (<received/>), wrapped in <forwarded/> (XEP-0297), so that every
// device sees both sides of each conversation. The user's resources on
// other pool nodes get them too: the copy goes to the account's bare JID
// over Config.Remote, and each node hands it to its own carbon-enabled
// sessions (DeliverLocal).
//
// mellium.im/xmpp/carbons is client-side (Enable, Disable, Unwrap, over
// an xmpp.Session); its namespace is used here, the wrapping is ours, on
// the Element the stanza was parsed into once.

const (
	nsCarbons  = carbons.NS // urn:xmpp:carbons:2
	nsReceipts = "urn:xmpp:receipts"
	nsMarkers  = "urn:xmpp:chat-markers:0"
)

// registerCarbons registers enabling and disabling carbons on the user's
// own account (XEP-0280 §4, §5); the server advertises the feature (§3).
func (s *Server) registerCarbons() {
	feature := advertiseAt(toServer, nsCarbons)
	s.mux.iq(toAccount, "set", nsCarbons, "enable", s.carbonsSwitch(true), feature, localOnly)
	s.mux.iq(toAccount, "set", nsCarbons, "disable", s.carbonsSwitch(false), feature, localOnly)
	// Inline with Bind2 (XEP-0386 §3, XEP-0280 §4): on from the first
	// message the session gets.
	s.bind2Feature(nsCarbons, "enable", func(_ *conn, sess *session, _ *Element) *Element {
		sess.mu.Lock()
		sess.carbons = true
		sess.mu.Unlock()
		return nil
	})
}

// carbonsSwitch turns carbons on or off for the requesting session. Asking
// twice is not an error (§10.1 of v0.9, kept by 1.0: the state is set).
func (s *Server) carbonsSwitch(on bool) iqHandler {
	return func(_ context.Context, r *request) (*Element, error) {
		if r.to.String() != r.from.bareJID() {
			return nil, errForbidden("carbons are enabled on your own account")
		}
		sess := r.from.session()
		sess.mu.Lock()
		sess.carbons = on
		sess.mu.Unlock()
		return nil, nil
	}
}

func (sess *session) carbonsEnabled() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.carbons
}

// carbonEligible applies XEP-0280 §6 to a 1:1 message: no <private/>
// child and no no-copy hint (XEP-0334 §4.3), not groupchat, and either
// chat, normal with a body, an error, or a message carrying what an IM
// conversation carries (chat states, receipts, markers). inbound is set
// for a message the user receives: one a room sends to a full JID (a MUC
// private message, marked with muc#user) went to the one resource that is
// in the room and is not copied to the others.
func carbonEligible(m *Element, typ string, inbound bool) bool {
	if typ == "groupchat" {
		return false
	}
	im := false
	for _, c := range m.Elements() {
		switch {
		case c.Name.Space == nsCarbons && c.Name.Local == "private",
			c.Name.Space == nsHints && c.Name.Local == "no-copy",
			// Already a carbon: never wrapped again.
			c.Name.Space == nsCarbons && (c.Name.Local == "sent" || c.Name.Local == "received"):
			return false
		case inbound && c.Name.Space == nsMUCUser:
			if to, err := jid.Parse(m.AttrValue("to")); err == nil && to.Resourcepart() != "" {
				return false
			}
		case c.Name.Space == nsChatStates, c.Name.Space == nsReceipts, c.Name.Space == nsMarkers:
			im = true
		case typ == "normal" && c.Name.Space == nsClient && c.Name.Local == "body":
			im = true
		}
	}
	return im || typ == "chat" || typ == "error"
}

// withoutPrivate returns m without its <private/> child, which the
// sending server removes before routing (XEP-0280 §7).
func withoutPrivate(m *Element) *Element {
	if m.Child(nsCarbons, "private") == nil {
		return m
	}
	out := &Element{Name: m.Name, Attr: m.Attr}
	for _, c := range m.Children {
		if ce, ok := c.(*Element); ok && ce.Name.Space == nsCarbons && ce.Name.Local == "private" {
			continue
		}
		out.Children = append(out.Children, c)
	}
	return out
}

// carbon wraps m in a carbon copy of kind ("sent" or "received") from the
// user's bare JID (XEP-0280 §6, §7 examples), addressed to to.
func carbon(kind, user, to string, m *Element) *Element {
	fwd := NewElement(nsForward, "forwarded").Append(m)
	c := NewElement(nsClient, "message", "from", user, "to", to)
	if typ := m.AttrValue("type"); typ != "" {
		c.SetAttr("type", typ)
	}
	return c.Append(NewElement(nsCarbons, kind).Append(fwd))
}

// sentCarbons copies m, a message a local session sent, to the sender's
// other carbon-enabled resources, here and on the other nodes (XEP-0280
// §7).
func (s *Server) sentCarbons(sender *session, m *Element, typ string) {
	if !carbonEligible(m, typ, false) {
		return
	}
	m = withoutPrivate(m)
	s.sendCarbons("sent", sender.bare, m, func(r *session) bool { return r == sender })
}

// receivedCarbons copies m, a message eligible for carbons (carbonEligible)
// delivered to the local account to, to the account's carbon-enabled
// resources that did not get it themselves (XEP-0280 §6): got says which
// did.
func (s *Server) receivedCarbons(to jid.JID, m *Element, got func(*session) bool) {
	s.sendCarbons("received", to.Bare().String(), m, got)
}

// sendCarbons sends a carbon of kind for m to user's carbon-enabled
// sessions here, except those skip names, and once to the other nodes.
func (s *Server) sendCarbons(kind, user string, m *Element, skip func(*session) bool) {
	s.localCarbons(kind, user, m, skip)
	if s.cfg.Remote != nil {
		s.cfg.Remote.Send(user, carbon(kind, user, user, m).Bytes())
	}
}

// localCarbons sends a carbon of kind for m to user's carbon-enabled
// sessions on this node, except those skip names.
func (s *Server) localCarbons(kind, user string, m *Element, skip func(*session) bool) {
	for _, r := range s.router.sessions(user) {
		if skip(r) || !r.carbonsEnabled() {
			continue
		}
		r.sendElement(carbon(kind, user, r.jid.String(), m))
	}
}

// carbonFromNode delivers a carbon another node addressed to a bare JID
// (sendCarbons) to this node's carbon-enabled sessions of it. A <sent/>
// copy skips the resource that sent the message; a <received/> copy
// skips the resource the message was for and, for a chat or normal
// message to the bare JID, which this node's front door was also handed
// (deliverElsewhere), the resources that delivery reached. It reports
// whether data was a carbon at all.
func (s *Server) carbonFromNode(to jid.JID, data []byte) bool {
	if to.Resourcepart() != "" || !bytes.Contains(data, []byte(nsCarbons)) || !bytes.HasPrefix(data, []byte("<message")) {
		return false
	}
	el := parseStored(data)
	if el == nil {
		return false
	}
	var kind string
	var inner *Element
	for _, k := range [...]string{"sent", "received"} {
		if c := el.Child(nsCarbons, k); c != nil {
			if fwd := c.Child(nsForward, "forwarded"); fwd != nil {
				kind, inner = k, fwd.Child(nsClient, "message")
			}
		}
	}
	if inner == nil {
		return false
	}
	bare := to.String()
	skipJID := inner.AttrValue("from")
	var targets []*session
	if kind == "received" {
		skipJID = inner.AttrValue("to")
		typ := inner.AttrValue("type")
		if t, err := jid.Parse(skipJID); err == nil && t.Resourcepart() == "" && (typ == "chat" || typ == "normal" || typ == "") {
			targets = s.deliveryTargets(bare, "chat")
		}
	}
	for _, r := range s.router.sessions(bare) {
		if r.jid.String() == skipJID || containsSession(targets, r) || !r.carbonsEnabled() {
			continue
		}
		out := el.Copy()
		out.SetAttr("to", r.jid.String())
		r.sendElement(out)
	}
	return true
}

func containsSession(list []*session, s *session) bool {
	for _, r := range list {
		if r == s {
			return true
		}
	}
	return false
}
