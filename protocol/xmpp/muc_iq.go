package xmpp

import (
	"context"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// handleIQ answers IQs to the MUC service, a room, or an occupant.
func (m *mucService) handleIQ(ctx context.Context, sess *session, iq *Element, to jid.JID) {
	typ := iq.AttrValue("type")
	if typ != "get" && typ != "set" {
		if to.Resourcepart() != "" {
			m.relayToOccupant(ctx, sess, iq, to)
		}
		return
	}
	payloads := iq.Elements()
	if len(payloads) != 1 {
		m.replyError(sess, iq, errBadRequest("a get or set IQ has exactly one payload"))
		return
	}
	q := payloads[0]
	room := roomName(to)
	var result *Element
	var err error
	switch {
	case room == "" && q.Name.Space == nsCommands && q.Name.Local == "command" && typ == "set":
		m.command(ctx, sess, iq, q) // adhoc.go: topic feeds (XEP-0050)
		return
	case room == "" && (q.Name.Space == nsDiscoInfo || q.Name.Space == nsDiscoItems) && typ == "get" && isCommandNode(q.AttrValue("node")):
		result, err = m.commandDisco(q)
	case room == "" && q.Name.Space == nsDiscoInfo && typ == "get":
		result, err = m.serviceInfo(ctx, sess, q)
	case room == "" && q.Name.Space == nsDiscoItems && typ == "get":
		result, err = m.serviceItems(ctx, sess, q)
	case room == "" && q.Name.Space == nsPing && typ == "get":
	case room == "":
		err = errServiceUnavailable("")
	case to.Resourcepart() != "":
		// XEP-0410: a ping to one's own occupant JID tells whether one
		// is still joined; other IQs are relayed to the occupant.
		if q.Name.Space == nsPing {
			if nick, in := m.sinkFor(sess).nick(room); !in || nick != to.Resourcepart() {
				err = errNotAcceptableText("you are not joined with this nick")
			}
			break
		}
		m.relayToOccupant(ctx, sess, iq, to)
		return
	case q.Name.Space == nsDiscoInfo && typ == "get":
		result, err = m.roomInfo(ctx, sess, room, q)
	case q.Name.Space == nsDiscoItems && typ == "get":
		if _, err = m.engine.Room(ctx, room, sess.bare); err == nil {
			result = NewElement(nsDiscoItems, "query")
		}
	case q.Name.Space == nsMUCAdmin && q.Name.Local == "query":
		result, err = m.admin(ctx, sess, room, q, typ)
	case q.Name.Space == nsMUCOwner && q.Name.Local == "query":
		result, err = m.owner(ctx, sess, room, q, typ)
	case q.Name.Space == nsModerate && q.Name.Local == "moderate" && typ == "set":
		err = m.moderate(ctx, sess, room, q.AttrValue("id"), q.Child(nsRetract, "retract") != nil, q.Child(nsModerate, "reason"))
	case q.Name.Space == nsFasten && q.Name.Local == "apply-to" && typ == "set" && q.Child(nsModerate0, "moderate") != nil:
		// XEP-0425 v0.2 (message-moderate:0 wrapped in XEP-0422
		// apply-to), which slixmpp 1.8 and older clients send.
		mod := q.Child(nsModerate0, "moderate")
		err = m.moderate(ctx, sess, room, q.AttrValue("id"), mod.Child(nsRetract0, "retract") != nil, mod.Child(nsModerate0, "reason"))
	case q.Name.Space == nsMAM && q.Name.Local == "query" && typ == "set":
		m.mamQuery(ctx, sess, iq, room, q)
		return
	case q.Name.Space == nsMAM && q.Name.Local == "query" && typ == "get":
		result = mamForm()
	default:
		err = errServiceUnavailable("")
	}
	if err != nil {
		m.replyError(sess, iq, err)
		return
	}
	reply := NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"), "from", to.String(), "to", sess.jid.String())
	if result != nil {
		reply.Append(result)
	}
	sess.sendElement(reply)
}

// relayToOccupant passes an IQ to the occupant's real session (XEP-0045
// §7.2.4 leaves this to the service; we relay within the room).
func (m *mucService) relayToOccupant(ctx context.Context, sess *session, iq *Element, to jid.JID) {
	room := roomName(to)
	if _, in := m.sinkFor(sess).view(room); !in {
		m.replyError(sess, iq, errNotAcceptableText("join the room first"))
		return
	}
	for _, o := range m.engine.Occupants(room) {
		if o.Nick != to.Resourcepart() {
			continue
		}
		for _, s := range o.Sessions {
			if target, err := jid.Parse(s.Address); err == nil && s.FrontDoor == frontDoorXMPP {
				if r := m.srv.router.session(target.Bare().String(), target.Resourcepart()); r != nil {
					out := iq.Copy()
					nick, _ := m.sinkFor(sess).nick(room)
					out.SetAttr("from", m.occupantJID(room, nick))
					out.SetAttr("to", s.Address)
					r.sendElement(out)
					return
				}
			}
		}
	}
	m.replyError(sess, iq, errItemNotFound("no such occupant"))
}

// mucFeatures lists what the service implements (XEP-0045 §6.1, XEP-0313,
// XEP-0359, XEP-0421, XEP-0410, XEP-0425, XEP-0431, XEP-0050).
var mucFeatures = []string{
	nsDiscoInfo, nsDiscoItems, nsMUC, nsMAM, nsStanzaID, nsOccupantID,
	"http://jabber.org/protocol/muc#self-ping-optimization", nsModerate, nsFullText, nsCommands,
}

// serviceInfo is disco#info on conference.DOMAIN, or on a category node.
func (m *mucService) serviceInfo(ctx context.Context, sess *session, q *Element) (*Element, error) {
	node := q.AttrValue("node")
	if node == "" {
		return discoInfo("", "conference", "text", "Parley rooms", mucFeatures), nil
	}
	cat, ok := strings.CutPrefix(node, "category/")
	if !ok {
		return nil, errItemNotFound("no such node")
	}
	c, err := m.engine.Category(ctx, cat)
	if err != nil {
		return nil, err
	}
	info := discoInfo(node, "hierarchy", "branch", c.Name, []string{nsDiscoInfo, nsDiscoItems})
	return info, nil
}

// serviceItems lists the rooms the asker may see (secret rooms only for
// their members), and the categories as nodes; a category node lists its
// rooms (XEP-0030 §4).
func (m *mucService) serviceItems(ctx context.Context, sess *session, q *Element) (*Element, error) {
	node := q.AttrValue("node")
	category := ""
	if node != "" {
		var ok bool
		if category, ok = strings.CutPrefix(node, "category/"); !ok {
			return nil, errItemNotFound("no such node")
		}
		if _, err := m.engine.Category(ctx, category); err != nil {
			return nil, err
		}
	}
	rooms, err := m.engine.ListRooms(ctx, sess.bare, category)
	if err != nil {
		return nil, err
	}
	out := NewElement(nsDiscoItems, "query", "node", node)
	for _, r := range rooms {
		out.Append(NewElement(nsDiscoItems, "item", "jid", m.roomJID(r.Name), "name", r.Title))
	}
	if node == "" {
		cats, err := m.engine.Categories(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cats {
			out.Append(NewElement(nsDiscoItems, "item", "jid", m.domain, "node", "category/"+c.Name, "name", c.Name))
		}
	}
	return out, nil
}

// roomInfo is disco#info on a room (XEP-0045 §6.4) with the muc#roominfo
// form.
func (m *mucService) roomInfo(ctx context.Context, sess *session, room string, q *Element) (*Element, error) {
	if q.AttrValue("node") != "" {
		return nil, errItemNotFound("no such node")
	}
	r, err := m.engine.Room(ctx, room, sess.bare)
	if err != nil {
		return nil, err
	}
	features := []string{nsMUC, nsMAM, nsStanzaID, nsOccupantID, nsFullText, nsModerate, "muc_persistent",
		"http://jabber.org/protocol/muc#self-ping-optimization"}
	features = append(features, pick(r.Public, "muc_public", "muc_hidden"), pick(r.MembersOnly, "muc_membersonly", "muc_open"),
		pick(r.Moderated, "muc_moderated", "muc_unmoderated"), pick(r.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(r.WhoIs == "anyone", "muc_nonanonymous", "muc_semianonymous"))
	info := discoInfo("", "conference", "text", r.Title, features)
	form := newForm("result", "http://jabber.org/protocol/muc#roominfo")
	form.field("muc#roominfo_description", "Description", r.Description)
	form.field("muc#roominfo_subject", "Subject", r.Subject)
	form.field("muc#roominfo_occupants", "Number of occupants", strconv.Itoa(len(m.engine.Occupants(room))))
	form.field("muc#roomconfig_roomname", "Name", r.Title)
	form.field("muc#roominfo_changesubject", "Occupants may change the subject", boolField(r.ChangeSubject == "participants"))
	form.field("x-parley#category", "Category", r.Category)
	form.field("x-parley#privacy", "Privacy", string(muc.PrivacyOf(r)))
	form.field("x-parley#type", "Type", string(muc.TypeOf(r)))
	if r.AddInURL != "" {
		form.field("x-parley#addin", "Add-in URL", r.AddInURL)
	}
	return info.Append(form.el), nil
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

func boolField(b bool) string { return pick(b, "1", "0") }

// admin handles muc#admin (XEP-0045 §8, §9): get lists by affiliation or
// role, set roles (kick, voice, moderator) and affiliations (ban, member,
// admin, owner).
func (m *mucService) admin(ctx context.Context, sess *session, room string, q *Element, typ string) (*Element, error) {
	items := q.Elements()
	if len(items) == 0 {
		return nil, errBadRequest("an admin query needs an item")
	}
	if typ == "get" {
		it := items[0]
		out := NewElement(nsMUCAdmin, "query")
		if aff := it.AttrValue("affiliation"); aff != "" {
			list, err := m.engine.Affiliations(ctx, room, sess.bare, muc.Affiliation(aff))
			if err != nil {
				return nil, err
			}
			for _, a := range list {
				el := NewElement(nsMUCAdmin, "item", "affiliation", a.Affiliation, "jid", a.JID)
				if a.Reason != "" {
					el.Append(NewElement(nsMUCAdmin, "reason").AppendText(a.Reason))
				}
				out.Append(el)
			}
			return out, nil
		}
		role := it.AttrValue("role")
		if role == "" {
			return nil, errBadRequest("ask for an affiliation or a role")
		}
		v, in := m.sinkFor(sess).view(room)
		if !in || v.role != muc.RoleModerator {
			return nil, errForbidden("only moderators list roles")
		}
		for _, o := range m.engine.Occupants(room) {
			if string(o.Role) == role {
				out.Append(NewElement(nsMUCAdmin, "item", "role", string(o.Role), "affiliation", string(o.Affiliation), "nick", o.Nick, "jid", o.User))
			}
		}
		return out, nil
	}
	for _, it := range items {
		reason := ""
		if r := it.Child(nsMUCAdmin, "reason"); r != nil {
			reason = r.Text()
		}
		switch {
		case it.AttrValue("role") != "":
			nick := it.AttrValue("nick")
			if nick == "" {
				return nil, errBadRequest("a role change names the occupant by nick")
			}
			if err := m.engine.SetRole(ctx, room, sess.jid.String(), nick, muc.Role(it.AttrValue("role")), reason); err != nil {
				return nil, err
			}
		case it.AttrValue("affiliation") != "":
			target, err := jid.Parse(it.AttrValue("jid"))
			if err != nil {
				return nil, errJIDMalformed("an affiliation change names a JID")
			}
			if err := m.engine.SetAffiliation(ctx, room, sess.bare, target.Bare().String(), muc.Affiliation(it.AttrValue("affiliation")), reason); err != nil {
				return nil, err
			}
		default:
			return nil, errBadRequest("an item needs a role or an affiliation")
		}
	}
	return nil, nil
}

// moderate handles a XEP-0425 moderation request: a manager retracts
// someone's message, which stays in history as a tombstone.
func (m *mucService) moderate(ctx context.Context, sess *session, room, id string, retract bool, reasonEl *Element) error {
	if id == "" || !retract {
		return errBadRequest("moderate needs an id and <retract/>")
	}
	reason := ""
	if reasonEl != nil {
		reason = reasonEl.Text()
	}
	_, err := m.engine.Post(ctx, muc.PostRequest{Room: room, Address: sess.jid.String(), FrontDoor: frontDoorXMPP,
		Kind: storage.KindModeration, Target: id, Reason: reason})
	return err
}
