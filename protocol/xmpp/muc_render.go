package xmpp

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Deliver renders one engine event for this session (muc.Sink). It runs
// under the room's lock, so it only queues: sess.send never blocks.
func (k *mucSink) Deliver(ev muc.Event) {
	m := k.svc
	if ev.Kind == muc.EventMessage {
		// The hot path: rendered once per post, shared by every
		// recipient (a local session writes its own address in front).
		if sess, ok := k.sess.(*session); ok {
			sess.sendPost(m.postRest(ev))
		} else {
			k.sess.send(m.renderedPost(ev, k.sess.fullJID().String()))
		}
		return
	}
	to := k.sess.fullJID().String()
	switch ev.Kind {
	case muc.EventJoined:
		k.update(ev.Room, func(v *roomView) {
			v.nick, v.role, v.whoisAnyone = ev.Occupant.Nick, ev.Occupant.Role, ev.Joined.Room.WhoIs == "anyone"
		})
		m.renderJoined(k.sess, ev.Joined)
	case muc.EventPresence:
		self := ev.Occupant.User == k.sess.bareJID() && k.isSelf(ev)
		view, _ := k.view(ev.Room)
		if self {
			if ev.Occupant.Role == muc.RoleNone {
				k.forget(ev.Room)
			} else {
				k.update(ev.Room, func(v *roomView) { v.nick, v.role = ev.Occupant.Nick, ev.Occupant.Role })
			}
		}
		viewer := view
		if self {
			viewer.role = ev.Occupant.Role
		}
		if ev.OldNick != "" {
			// XEP-0045 §7.6: unavailable from the old nick with the
			// new one and 303, then available from the new nick.
			old := ev.Occupant
			old.Nick = ev.OldNick
			old.Role = muc.RoleNone
			p := m.occupantPresence(old, to, viewer, self, ev.Status, "", "")
			p.Child(nsMUCUser, "x").Child(nsMUCUser, "item").SetAttr("nick", ev.Occupant.Nick)
			k.sess.sendElement(p)
			k.sess.sendElement(m.occupantPresence(ev.Occupant, to, viewer, self, nil, "", ""))
			return
		}
		actor := ""
		if ev.Actor != "" && ev.Actor != muc.ActorAdmin {
			actor = "nick:" + ev.ActorNick
			if viewer.role == muc.RoleModerator || viewer.whoisAnyone || ev.ActorNick == "" {
				actor = "jid:" + ev.Actor
			}
		}
		k.sess.sendElement(m.occupantPresence(ev.Occupant, to, viewer, self, ev.Status, actor, ev.Reason))
	case muc.EventMessage:
		k.sess.send(m.renderedPost(ev, to))
	case muc.EventSubject:
		k.sess.sendElement(m.subjectMessage(ev.Room, ev.Message.Nick, ev.Message.Body, to))
	case muc.EventPrivate:
		msg := parseStored(ev.Private)
		if msg == nil {
			return
		}
		msg.SetAttr("from", m.occupantJID(ev.Room, ev.Occupant.Nick))
		msg.SetAttr("to", to)
		msg.Append(NewElement(nsMUCUser, "x"))
		k.sess.sendElement(msg)
	case muc.EventDestroyed:
		nick, _ := k.nick(ev.Room)
		k.forget(ev.Room)
		p := NewElement(nsClient, "presence", "type", "unavailable", "from", m.occupantJID(ev.Room, nick), "to", to)
		x := NewElement(nsMUCUser, "x").Append(NewElement(nsMUCUser, "item", "affiliation", "none", "role", "none"))
		d := NewElement(nsMUCUser, "destroy", "jid", ev.AlternateVenue)
		if ev.Reason != "" {
			d.Append(NewElement(nsMUCUser, "reason").AppendText(ev.Reason))
		}
		x.Append(d, NewElement(nsMUCUser, "status", "code", "110"))
		k.sess.sendElement(p.Append(x))
	case muc.EventConfig:
		if ev.Room != "" && ev.Config != nil {
			k.update(ev.Room, func(v *roomView) { v.whoisAnyone = ev.Config.WhoIs == "anyone" })
		}
		msg := NewElement(nsClient, "message", "type", "groupchat", "from", m.roomJID(ev.Room), "to", to, "id", randomID(6))
		x := NewElement(nsMUCUser, "x")
		for _, c := range ev.Status {
			x.Append(NewElement(nsMUCUser, "status", "code", strconv.Itoa(c)))
		}
		k.sess.sendElement(msg.Append(x))
	}
}

// isSelf reports whether a presence event is about this session's own
// occupant (the nick it is joined as, or the session itself).
func (k *mucSink) isSelf(ev muc.Event) bool {
	addr := k.sess.fullJID().String()
	for _, s := range ev.Occupant.Sessions {
		if s.Address == addr {
			return true
		}
	}
	nick, ok := k.nick(ev.Room)
	return ok && (nick == ev.Occupant.Nick || nick == ev.OldNick)
}

// renderJoined sends a new occupant the room as XEP-0045 §7.2 orders it:
// the others' presence, its own (110), the history, then the subject.
func (m *mucService) renderJoined(sess occupantStream, j *muc.Joined) {
	to := sess.fullJID().String()
	nonAnonymous := j.Room.WhoIs == "anyone"
	viewer := roomView{nick: j.Self.Nick, role: j.Self.Role, whoisAnyone: nonAnonymous}
	// The join snapshot is queued as one batch that may exceed the
	// session's queue limit: it is bounded by the room's size and
	// history limit, and a 16,000-occupant room must be joinable.
	batch := make([][]byte, 0, len(j.Others)+len(j.History)+2)
	for _, o := range j.Others {
		batch = append(batch, m.occupantPresence(o, to, viewer, false, nil, "", "").Bytes())
	}
	var status []int
	if nonAnonymous {
		status = append(status, 100)
	}
	if j.Created {
		status = append(status, muc.StatusRoomCreated)
	} else {
		status = append(status, 170) // the room is logged (archived)
	}
	if j.NickAssigned {
		// §7.2.3: the room normalised the nick asked for (RFC 8266).
		status = append(status, muc.StatusNickAssigned)
	}
	batch = append(batch, m.occupantPresence(j.Self, to, viewer, true, status, "", "").Bytes())
	for i := range j.History {
		batch = append(batch, m.historyMessage(&j.History[i], to).Bytes())
	}
	batch = append(batch, m.subjectMessage(j.Room.Name, j.Room.SubjectNick, j.Room.Subject, to).Bytes())
	sess.sendBatch(batch)
}

// occupantPresence renders an occupant's presence (XEP-0045 §7.2.3): the
// occupant's own presence payload, the muc#user item (with the real JID if
// the room shows it to this viewer), status codes, and the XEP-0421
// occupant-id.
func (m *mucService) occupantPresence(o muc.Occupant, to string, viewer roomView, self bool, status []int, actor, reason string) *Element {
	p := NewElement(nsClient, "presence", "from", m.occupantJID(o.Room, o.Nick), "to", to)
	if o.Role == muc.RoleNone {
		p.SetAttr("type", "unavailable")
		// An occupant who leaves with a status says it to the room
		// (XEP-0045 §7.14); a removal (kick, ban, nick change, shutdown:
		// any status code) does not repeat their last status.
		if stored := parseStored(o.Presence); stored != nil && len(status) == 0 {
			for _, c := range stored.Elements() {
				if c.Name.Space == nsClient && c.Name.Local == "status" {
					p.Append(c)
				}
			}
		}
	} else if stored := parseStored(o.Presence); stored != nil {
		for _, c := range stored.Elements() {
			if c.Name.Space != nsMUC && c.Name.Space != nsMUCUser {
				p.Append(c)
			}
		}
	}
	item := NewElement(nsMUCUser, "item", "affiliation", string(o.Affiliation), "role", string(o.Role))
	if self || viewer.role == muc.RoleModerator || viewer.whoisAnyone {
		item.SetAttr("jid", o.User)
		if len(o.Sessions) == 1 && o.Sessions[0].FrontDoor == frontDoorXMPP {
			item.SetAttr("jid", o.Sessions[0].Address)
		}
	}
	// actor is "nick:NICK" or "jid:JID": XEP-0045 §8.2 names the actor by
	// nick, and by real JID only to those who may see real JIDs.
	if kind, value, ok := strings.Cut(actor, ":"); ok && value != "" {
		item.Append(NewElement(nsMUCUser, "actor", kind, value))
	}
	if reason != "" {
		item.Append(NewElement(nsMUCUser, "reason").AppendText(reason))
	}
	x := NewElement(nsMUCUser, "x").Append(item)
	codes := slices.Clone(status)
	if self && !slices.Contains(codes, 110) {
		codes = append(codes, 110)
	}
	for _, c := range codes {
		x.Append(NewElement(nsMUCUser, "status", "code", strconv.Itoa(c)))
	}
	p.Append(x)
	p.Append(NewElement(nsOccupantID, "occupant-id", "id", o.OccupantID))
	return p
}

// parseStored parses a stanza the server keeps as bytes (an occupant's
// presence, a post as received, an offline message). They are written by
// Element.Bytes, in the jabber:client default namespace without declaring
// it, so they are read inside a wrapper that declares what a stream header
// declares. Nil for empty input or input that is not well-formed.
func parseStored(b []byte) *Element {
	if len(b) == 0 {
		return nil
	}
	d := xml.NewDecoder(io.MultiReader(strings.NewReader(storedOpen), bytes.NewReader(b), strings.NewReader(storedClose)))
	if _, err := d.Token(); err != nil { // the wrapper
		return nil
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		if start, ok := tok.(xml.StartElement); ok {
			el, err := readElement(d, start, streamScope)
			if err != nil {
				return nil
			}
			return el
		}
	}
}

// The wrapper parseStored reads a stored stanza in: streamScope's
// declarations.
const (
	storedOpen  = `<stored xmlns="` + nsClient + `" xmlns:stream="` + nsStreams + `">`
	storedClose = `</stored>`
)

// groupchatMessage renders a committed post for one recipient: the
// client's payload as archived, from room/nick, with the room's XEP-0359
// stanza-id and the XEP-0421 occupant-id.
func (m *mucService) groupchatMessage(h *storage.HistoryMessage, to, reason string) *Element {
	if h.Kind == storage.KindModeration {
		return m.moderationMessage(h, to, reason)
	}
	msg := NewElement(nsClient, "message", "type", "groupchat", "from", m.occupantJID(h.Room, h.Nick), "to", to)
	if stored := parseStored(h.Stanza); stored != nil {
		if id := stored.AttrValue("id"); id != "" {
			msg.SetAttr("id", id)
		}
		for _, c := range stored.Elements() {
			if !roomOwned(c) {
				msg.Append(c)
			}
		}
	} else if h.Body != "" {
		msg.Append(NewElement(nsClient, "body").AppendText(h.Body))
	}
	if h.Tombstone {
		msg.Children = nil
		msg.Append(NewElement(nsClient, "body").AppendText(h.Body))
	}
	msg.Append(NewElement(nsStanzaID, "stanza-id", "id", h.StanzaID, "by", m.roomJID(h.Room)))
	if h.OccupantID != "" {
		msg.Append(NewElement(nsOccupantID, "occupant-id", "id", h.OccupantID))
	}
	return msg
}

// roomOwned reports whether a child of an occupant's message is the
// room's to state, never the occupant's: the XEP-0359 stanza-id, the
// XEP-0421 occupant-id, the XEP-0203 delay, and the XEP-0045 muc#user <x/>,
// whose <item/> tells the recipient an occupant's real JID, affiliation
// and role (§7.2.3) and whose status codes speak for the room. The room
// adds its own; a client's copy would be a forgery.
func roomOwned(c *Element) bool {
	switch {
	case c.Name.Space == nsStanzaID && c.Name.Local == "stanza-id":
	case c.Name.Space == nsOccupantID, c.Name.Space == nsDelay, c.Name.Space == nsMUCUser:
	default:
		return false
	}
	return true
}

// withoutRoomOwned returns a copy of an occupant's message as the room
// keeps it: without from and to (the room sets those when it delivers) and
// without what roomOwned names.
func withoutRoomOwned(msg *Element) *Element {
	out := msg.Copy()
	out.SetAttr("from", "")
	out.SetAttr("to", "")
	out.Children = slices.DeleteFunc(out.Children, func(c any) bool {
		ce, ok := c.(*Element)
		return ok && roomOwned(ce)
	})
	return out
}

// moderationMessage announces a moderated message (XEP-0425 §5 with
// XEP-0424 retraction).
func (m *mucService) moderationMessage(h *storage.HistoryMessage, to, reason string) *Element {
	msg := NewElement(nsClient, "message", "type", "groupchat", "from", m.roomJID(h.Room), "to", to, "id", randomID(6))
	r := NewElement(nsRetract, "retract", "id", h.Target)
	mod := NewElement(nsModerate, "moderated", "by", m.occupantJID(h.Room, h.Nick))
	if h.OccupantID != "" {
		mod.Append(NewElement(nsOccupantID, "occupant-id", "id", h.OccupantID))
	}
	r.Append(mod)
	if reason != "" {
		r.Append(NewElement(nsRetract, "reason").AppendText(reason))
	}
	msg.Append(r)
	// The same in XEP-0425 v0.2 (message-moderate:0 in a XEP-0422
	// apply-to), which slixmpp 1.8 and clients of its time understand
	// and current ones ignore: both forms in one message, as Prosody's
	// mod_muc_moderation sends them.
	mod0 := NewElement(nsModerate0, "moderated", "by", m.occupantJID(h.Room, h.Nick)).Append(NewElement(nsRetract0, "retract"))
	if reason != "" {
		mod0.Append(NewElement(nsModerate0, "reason").AppendText(reason))
	}
	msg.Append(NewElement(nsFasten, "apply-to", "id", h.Target).Append(mod0))
	msg.Append(NewElement(nsStanzaID, "stanza-id", "id", h.StanzaID, "by", m.roomJID(h.Room)))
	return msg
}

// historyMessage is a post replayed on join, with its original time
// (XEP-0203 delay from the room).
func (m *mucService) historyMessage(h *storage.HistoryMessage, to string) *Element {
	msg := m.groupchatMessage(h, to, "")
	msg.Append(NewElement(nsDelay, "delay", "from", m.roomJID(h.Room), "stamp", h.Time.UTC().Format("2006-01-02T15:04:05.000Z")))
	return msg
}

// subjectMessage carries the subject (XEP-0045 §7.2.15: always sent last
// on join, empty if there is none).
func (m *mucService) subjectMessage(room, nick, subject, to string) *Element {
	from := m.roomJID(room)
	if nick != "" {
		from = m.occupantJID(room, nick)
	}
	msg := NewElement(nsClient, "message", "type", "groupchat", "from", from, "to", to, "id", randomID(6))
	subj := NewElement(nsClient, "subject")
	subj.AppendText(subject)
	return msg.Append(subj)
}

// renderedPost serialises a post once per room broadcast and then only
// prefixes each recipient's 'to' (STYLE.md: serialise each post once, not
// once per recipient). The engine delivers one event to all of a room's
// sessions in a row, so a one-entry cache per room suffices.
func (m *mucService) renderedPost(ev muc.Event, to string) []byte {
	rest := m.postRest(ev)
	var b bytes.Buffer
	b.Grow(len(rest) + len(to) + 16)
	b.WriteString(`<message to="`)
	escapeAttr(&b, to)
	b.WriteByte('"')
	b.Write(rest)
	return b.Bytes()
}

// postRest is the post of ev rendered after `<message to="…"`: once per
// post (the room's last post is cached), the same bytes for every
// recipient, never modified.
func (m *mucService) postRest(ev muc.Event) []byte {
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	c, ok := m.postCache[ev.Room]
	if !ok || c.msg != ev.Message {
		el := m.groupchatMessage(ev.Message, "", ev.Reason)
		el.SetAttr("to", "")
		c = postCacheEntry{msg: ev.Message, rest: el.Bytes()[len("<message"):]}
		if m.postCache == nil {
			m.postCache = make(map[string]postCacheEntry)
		}
		m.postCache[ev.Room] = c
	}
	return c.rest
}

type postCacheEntry struct {
	msg  *storage.HistoryMessage
	rest []byte
}
