package xmpp

import (
	"context"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

const nsOriginID = "urn:xmpp:sid:0"

// registerMessages registers the messages to rooms and occupants: posts,
// subject changes, corrections and retractions (groupchat), mediated
// invitations (XEP-0045 §7.8.2) and private messages (§7.5). The MUC
// service itself takes no messages (the mux answers service-unavailable).
func (m *mucService) registerMessages(mx *mux) {
	mx.stanza(toRoom, "message", "groupchat", "", "", m.groupchat,
		advertise(nsStanzaID, nsOccupantID), advertiseAt(toMUCService, nsStanzaID, nsOccupantID))
	protocol := unadvertised("part of " + nsMUC + " (advertised with the join)")
	mx.stanza(toRoom, "message", anyType, nsMUCUser, "x", m.mediatedInvitation, protocol)
	mx.stanza(toRoom, "message", anyType, "", "", func(context.Context, *request) error {
		return errBadRequest("messages to a room are of type groupchat")
	}, protocol)
	mx.stanza(toOccupant, "message", anyType, "", "", m.privateMessage, protocol)
}

// groupchat posts to a room, or changes its subject (XEP-0045 §7.4, §8.1).
func (m *mucService) groupchat(ctx context.Context, r *request) error {
	msg, room, sender := r.el, roomName(r.to), r.from.fullJID().String()
	body := msg.Child(nsClient, "body")
	subject := msg.Child(nsClient, "subject")
	if subject != nil && body == nil {
		return m.engine.SetSubject(ctx, room, sender, subject.Text(), msg.Bytes())
	}
	req := muc.PostRequest{Room: room, Address: sender, FrontDoor: frontDoorXMPP, Kind: storage.KindPost}
	if body != nil {
		req.Body = body.Text()
		// A message may carry its text in several languages (RFC 6121
		// §5.2.3): all of it is searchable.
		var alt []string
		for _, b := range msg.Elements() {
			if b != body && b.Name.Space == nsClient && b.Name.Local == "body" && b.Text() != "" {
				alt = append(alt, b.Text())
			}
		}
		req.AltBodies = strings.Join(alt, "\n")
	}
	if oid := msg.Child(nsOriginID, "origin-id"); oid != nil {
		req.OriginID = oid.AttrValue("id")
	}
	switch {
	case msg.Child(nsCorrect, "replace") != nil:
		// XEP-0308: the id the client uses is its own message id;
		// resolve it to the stanza-id through the archive.
		req.Kind = storage.KindCorrection
		req.Target = m.engine.ResolveOwnMessage(ctx, room, r.from.bareJID(), msg.Child(nsCorrect, "replace").AttrValue("id"), func(b []byte) string {
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
		return errNotAcceptable("messages to a room need a body")
	}
	// The archived stanza is the client's, without from/to and without
	// anything only the room may state (a forged muc#user <item jid/>).
	req.Stanza = withoutRoomOwned(msg).Bytes()
	_, err := m.engine.Post(ctx, req)
	return err
}

// privateMessage relays a message to one occupant (XEP-0045 §7.5).
func (m *mucService) privateMessage(ctx context.Context, r *request) error {
	msg := r.el
	switch r.typ {
	case "groupchat":
		return errBadRequest("a groupchat message goes to the room, not to an occupant")
	case "error":
		return nil
	}
	payload := withoutRoomOwned(withoutPrivate(msg))
	body := ""
	if b := msg.Child(nsClient, "body"); b != nil {
		body = b.Text()
	}
	sent, err := m.engine.SendPrivate(ctx, roomName(r.to), r.from.fullJID().String(), r.to.Resourcepart(), payload.Bytes(), body)
	if err != nil {
		return err
	}
	if err := m.archivePrivate(ctx, msg, r.typ, r.from.fullJID(), r.to, sent); err != nil {
		// Delivered and captured for compliance; only the users' own
		// archives miss it.
		m.srv.log.Error("muc: archiving a private message", "room", roomName(r.to), "err", err)
	}
	// XEP-0280 §6: a private message the user sends is copied to their
	// other resources (clients mark it with muc#user, XEP-0045 §7.5).
	if sess := r.from.session(); sess != nil {
		m.srv.sentCarbons(sess, msg, r.typ)
	}
	return nil
}

// mediatedInvitation relays invitations and declines (XEP-0045 §7.8.2,
// §7.8.2.1) where the room's category allows invitations.
func (m *mucService) mediatedInvitation(ctx context.Context, r *request) error {
	room, x, sender := roomName(r.to), r.payload, r.from.bareJID()
	rm, err := m.engine.Room(ctx, room, sender)
	if err != nil {
		return err
	}
	if inv := x.Child(nsMUCUser, "invite"); inv != nil {
		invitee, err := jid.Parse(inv.AttrValue("to"))
		if err != nil {
			return errJIDMalformed("invite needs a valid 'to'")
		}
		out := NewElement(nsClient, "message", "from", m.roomJID(room), "to", invitee.String(), "id", randomID(6))
		ux := NewElement(nsMUCUser, "x")
		fwd := NewElement(nsMUCUser, "invite", "from", sender)
		if reason := inv.Child(nsMUCUser, "reason"); reason != nil {
			fwd.Append(reason)
		}
		ux.Append(fwd)
		if rm.Password != "" {
			ux.Append(NewElement(nsMUCUser, "password").AppendText(rm.Password))
		}
		out.Append(ux)
		if err := m.engine.Invite(ctx, room, r.from.fullJID().String(), invitee.Bare().String()); err != nil {
			return err
		}
		m.srv.deliverFromService(ctx, out, invitee)
		return nil
	}
	if dec := x.Child(nsMUCUser, "decline"); dec != nil {
		inviter, err := jid.Parse(dec.AttrValue("to"))
		if err != nil {
			return errJIDMalformed("decline needs a valid 'to'")
		}
		out := NewElement(nsClient, "message", "from", m.roomJID(room), "to", inviter.String(), "id", randomID(6))
		fwd := NewElement(nsMUCUser, "decline", "from", sender)
		if reason := dec.Child(nsMUCUser, "reason"); reason != nil {
			fwd.Append(reason)
		}
		m.srv.deliverFromService(ctx, out.Append(NewElement(nsMUCUser, "x").Append(fwd)), inviter)
	}
	return nil
}

// deliverFromService routes a message the MUC service originates to a
// local user, or to a remote one's server.
func (s *Server) deliverFromService(ctx context.Context, msg *Element, to jid.JID) {
	if s.fed != nil && s.isRemote(to) {
		_ = s.sendRemote(msg)
		return
	}
	if to.Domainpart() != s.cfg.Domain || to.Localpart() == "" {
		return
	}
	typ := msg.AttrValue("type")
	if typ == "" {
		typ = "normal"
	}
	_ = s.deliverMessage(ctx, msg, to, typ)
}
