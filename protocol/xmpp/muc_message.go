package xmpp

import (
	"context"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

const nsOriginID = "urn:xmpp:sid:0"

// handleMessage processes a message sent to a room or an occupant.
func (m *mucService) handleMessage(ctx context.Context, sess *session, msg *Element, to jid.JID) {
	room := roomName(to)
	typ := msg.AttrValue("type")
	if room == "" {
		m.replyError(sess, msg, errServiceUnavailable("the MUC service takes no messages"))
		return
	}
	if to.Resourcepart() != "" {
		m.privateMessage(ctx, sess, msg, room, to.Resourcepart())
		return
	}
	if x := msg.Child(nsMUCUser, "x"); x != nil && typ != "groupchat" {
		m.mediatedInvitation(ctx, sess, msg, room, x)
		return
	}
	if typ != "groupchat" {
		if typ != "error" {
			m.replyError(sess, msg, &StanzaError{Type: "modify", Condition: "bad-request", Text: "messages to a room are of type groupchat"})
		}
		return
	}
	body := msg.Child(nsClient, "body")
	subject := msg.Child(nsClient, "subject")
	if subject != nil && body == nil {
		if err := m.engine.SetSubject(ctx, room, sess.jid.String(), subject.Text(), msg.Bytes()); err != nil {
			m.replyError(sess, msg, err)
		}
		return
	}
	req := muc.PostRequest{Room: room, Address: sess.jid.String(), FrontDoor: frontDoorXMPP, Kind: storage.KindPost}
	if body != nil {
		req.Body = body.Text()
	}
	if oid := msg.Child(nsOriginID, "origin-id"); oid != nil {
		req.OriginID = oid.AttrValue("id")
	}
	switch {
	case msg.Child(nsCorrect, "replace") != nil:
		// XEP-0308: the id the client uses is its own message id;
		// resolve it to the stanza-id through the archive.
		req.Kind = storage.KindCorrection
		req.Target = m.engine.ResolveOwnMessage(ctx, room, sess.bare, msg.Child(nsCorrect, "replace").AttrValue("id"), func(b []byte) string {
			if st := parseStored(b); st != nil {
				return st.AttrValue("id")
			}
			return ""
		})
	case msg.Child(nsRetract, "retract") != nil:
		// XEP-0424 §5.2: in a groupchat the id is the stanza-id.
		req.Kind = storage.KindRetraction
		req.Target = msg.Child(nsRetract, "retract").AttrValue("id")
	case body == nil:
		// Chat states and other body-less payloads are relayed to the
		// room, not archived; XEP-0045 has no place for them beyond
		// that, and we keep them out of history.
		m.replyError(sess, msg, errNotAcceptableText("messages to a room need a body"))
		return
	}
	// The archived stanza is the client's, without from/to: the room
	// sets those when it delivers.
	stored := msg.Copy()
	stored.SetAttr("from", "")
	stored.SetAttr("to", "")
	req.Stanza = stored.Bytes()
	if _, err := m.engine.Post(ctx, req); err != nil {
		m.replyError(sess, msg, err)
	}
}

func errNotAcceptableText(text string) *StanzaError {
	return &StanzaError{Type: "modify", Condition: "not-acceptable", Text: text}
}

// privateMessage relays a message to one occupant (XEP-0045 §7.5).
func (m *mucService) privateMessage(ctx context.Context, sess *session, msg *Element, room, nick string) {
	typ := msg.AttrValue("type")
	if typ == "groupchat" {
		m.replyError(sess, msg, errBadRequest("a groupchat message goes to the room, not to an occupant"))
		return
	}
	if typ == "error" {
		return
	}
	payload := msg.Copy()
	payload.SetAttr("from", "")
	payload.SetAttr("to", "")
	body := ""
	if b := msg.Child(nsClient, "body"); b != nil {
		body = b.Text()
	}
	if err := m.engine.SendPrivate(ctx, room, sess.jid.String(), nick, payload.Bytes(), body); err != nil {
		m.replyError(sess, msg, err)
	}
}

// mediatedInvitation relays invitations and declines (XEP-0045 §7.8.2,
// §7.8.2.1) where the room's category allows invitations.
func (m *mucService) mediatedInvitation(ctx context.Context, sess *session, msg *Element, room string, x *Element) {
	r, err := m.engine.Room(ctx, room, sess.bare)
	if err != nil {
		m.replyError(sess, msg, err)
		return
	}
	if inv := x.Child(nsMUCUser, "invite"); inv != nil {
		invitee, err := jid.Parse(inv.AttrValue("to"))
		if err != nil {
			m.replyError(sess, msg, errJIDMalformed("invite needs a valid 'to'"))
			return
		}
		out := NewElement(nsClient, "message", "from", m.roomJID(room), "to", invitee.String(), "id", randomID(6))
		ux := NewElement(nsMUCUser, "x")
		fwd := NewElement(nsMUCUser, "invite", "from", sess.bare)
		if reason := inv.Child(nsMUCUser, "reason"); reason != nil {
			fwd.Append(reason)
		}
		ux.Append(fwd)
		if r.Password != "" {
			ux.Append(NewElement(nsMUCUser, "password").AppendText(r.Password))
		}
		out.Append(ux)
		if err := m.engine.Invite(ctx, room, sess.jid.String(), invitee.Bare().String()); err != nil {
			m.replyError(sess, msg, err)
			return
		}
		m.srv.deliverFromService(ctx, out, invitee)
		return
	}
	if dec := x.Child(nsMUCUser, "decline"); dec != nil {
		inviter, err := jid.Parse(dec.AttrValue("to"))
		if err != nil {
			m.replyError(sess, msg, errJIDMalformed("decline needs a valid 'to'"))
			return
		}
		out := NewElement(nsClient, "message", "from", m.roomJID(room), "to", inviter.String(), "id", randomID(6))
		fwd := NewElement(nsMUCUser, "decline", "from", sess.bare)
		if reason := dec.Child(nsMUCUser, "reason"); reason != nil {
			fwd.Append(reason)
		}
		m.srv.deliverFromService(ctx, out.Append(NewElement(nsMUCUser, "x").Append(fwd)), inviter)
	}
}

// deliverFromService routes a message the MUC service originates to a
// local user (remote domains are unreachable until server-to-server).
func (s *Server) deliverFromService(ctx context.Context, msg *Element, to jid.JID) {
	if to.Domainpart() != s.cfg.Domain || to.Localpart() == "" {
		return
	}
	typ := msg.AttrValue("type")
	if typ == "" {
		typ = "normal"
	}
	_ = s.deliverMessage(ctx, msg, to, typ)
}
