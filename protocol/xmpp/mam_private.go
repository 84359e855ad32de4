package xmpp

import (
	"context"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// archivePrivate keeps a private message between two occupants of a room
// (XEP-0045 §7.5), which the room passed on as sent, in the archives of
// the local accounts on either side (XEP-0313 §5.1.2: a user's archive
// holds the private messages of MUC rooms too): from's copy as sent to the
// room's occupant to, the recipient's as it was delivered, from the
// sender's occupant JID. Their 'with' is the room's bare JID (archives
// match 'with' by bare JID, so a query with either occupant JID or the
// room's finds the room's private messages). The room's compliance event
// already records it.
func (m *mucService) archivePrivate(ctx context.Context, msg *Element, typ string, from, to jid.JID, sent muc.PrivateSent) error {
	if !archivable(msg, typ) {
		return nil
	}
	body := ""
	if b := msg.Child(nsClient, "body"); b != nil {
		body = b.Text()
	}
	s := m.srv
	room := roomName(to)
	var rows []storage.ArchivedMessage
	add := func(owner jid.JID, with string, outgoing bool, stanza *Element) error {
		ok, err := s.archiveWanted(ctx, owner.Localpart(), with)
		if err != nil || !ok {
			return err
		}
		id := randomID(10)
		stanza.Append(NewElement(nsStanzaID, "stanza-id", "id", id, "by", owner.Bare().String()))
		rows = append(rows, storage.ArchivedMessage{Owner: owner.Localpart(), StanzaID: id, With: with,
			Outgoing: outgoing, Body: body, Stanza: stanza.Bytes()})
		return nil
	}
	withoutOwnStanzaIDs(msg, from.Bare().String(), sent.To)
	if s.isLocalAccount(from) {
		mine := msg.Copy()
		mine.SetAttr("from", from.String())
		mine.SetAttr("to", to.String())
		if err := add(from, to.Bare().String(), true, mine); err != nil {
			return err
		}
	}
	if recipient, err := jid.Parse(sent.To); err == nil && s.isLocalAccount(recipient) && recipient.Bare().String() != from.Bare().String() {
		sender := m.occupantJID(room, sent.FromNick)
		theirs := withoutRoomOwned(withoutPrivate(msg))
		theirs.SetAttr("from", sender)
		theirs.SetAttr("to", recipient.Bare().String())
		theirs.Append(NewElement(nsMUCUser, "x"))
		if err := add(recipient, to.Bare().String(), false, theirs); err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if err := s.cfg.Store.ArchiveMessages(ctx, rows, nil); err != nil && !isNotFound(err) {
		return fmt.Errorf("archiving a private message in %s: %w", room, err)
	}
	return nil
}

// isLocalAccount says whether j names an account of this server.
func (s *Server) isLocalAccount(j jid.JID) bool {
	return j.Localpart() != "" && j.Domainpart() == s.cfg.Domain
}
