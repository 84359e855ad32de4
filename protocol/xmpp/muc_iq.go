package xmpp

import (
	"context"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// registerIQs declares the MUC service and its rooms to disco (XEP-0045
// §6) and registers the IQs they answer: administration (§8, §9), owner
// configuration (§10), moderation (XEP-0425), and at an occupant's address
// self-pings (XEP-0410) and relays.
func (m *mucService) registerIQs(mx *mux) {
	mx.entity(toMUCService, entity{category: "conference", typ: "text", name: "Parley rooms",
		jid: m.domain, listed: "Chat rooms", items: m.serviceItems})
	mx.node(toMUCService, isCategoryNode, m.categoryNode)
	mx.entity(toRoom, entity{category: "conference", typ: "text", about: m.roomAbout, items: m.roomItems})

	protocol := unadvertised("XEP-0045 administration, part of " + nsMUC + " (advertised with the join)")
	for _, typ := range []string{"get", "set"} {
		mx.iq(toRoom, typ, nsMUCAdmin, "query", m.admin, protocol)
		mx.iq(toRoom, typ, nsMUCOwner, "query", m.owner, protocol)
	}
	mx.iq(toRoom, "set", nsModerate, "moderate", m.moderate, advertise(nsModerate), advertiseAt(toMUCService, nsModerate))
	mx.iq(toRoom, "set", nsFasten, "apply-to", m.moderateV0,
		unadvertised("XEP-0425 v0.2 (message-moderate:0 in XEP-0422 apply-to), which slixmpp 1.8 and older clients send; the current version is advertised"))

	selfPing := "http://jabber.org/protocol/muc#self-ping-optimization"
	mx.iq(toOccupant, "get", nsPing, "ping", m.selfPing, advertiseAt(toRoom, selfPing), advertiseAt(toMUCService, selfPing))
	mx.stanza(toOccupant, "iq", anyType, "", "", m.relayToOccupant,
		unadvertised("routing (XEP-0045 §7.2.4 leaves IQs to occupants to the service): the occupant answers"))
}

// viewOf is the sender's view of a room, if the sender is in it: a local
// session, or a remote occupant (s2s_remote.go).
func (m *mucService) viewOf(o origin, room string) (roomView, bool) {
	sess := o.session()
	if sess == nil {
		if k := m.remoteSinkOf(o.fullJID().String()); k != nil {
			return k.view(room)
		}
		return roomView{}, false
	}
	sess.mu.Lock()
	k := sess.muc
	sess.mu.Unlock()
	if k == nil {
		return roomView{}, false
	}
	return k.view(room)
}

// selfPing answers XEP-0410: a ping to one's own occupant JID tells
// whether one is still joined.
func (m *mucService) selfPing(ctx context.Context, r *request) (*Element, error) {
	if v, in := m.viewOf(r.from, roomName(r.to)); !in || v.nick != r.to.Resourcepart() {
		return nil, errNotAcceptable("you are not joined with this nick")
	}
	return nil, nil
}

// relayToOccupant passes an IQ to the occupant's real session (XEP-0045
// §7.2.4 leaves this to the service; we relay within the room).
func (m *mucService) relayToOccupant(ctx context.Context, r *request) error {
	room := roomName(r.to)
	v, in := m.viewOf(r.from, room)
	if !in {
		return errNotAcceptable("join the room first")
	}
	for _, o := range m.engine.Occupants(room) {
		if o.Nick != r.to.Resourcepart() {
			continue
		}
		for _, s := range o.Sessions {
			if target, err := jid.Parse(s.Address); err == nil && s.FrontDoor == frontDoorXMPP {
				out := r.el.Copy()
				out.SetAttr("from", m.occupantJID(room, v.nick))
				out.SetAttr("to", s.Address)
				if m.srv.isRemote(target) {
					return m.srv.sendRemote(out).orNil()
				}
				if t := m.srv.router.session(target.Bare().String(), target.Resourcepart()); t != nil {
					t.sendElement(out)
					return nil
				}
			}
		}
	}
	return errItemNotFound("no such occupant")
}

func isCategoryNode(node string) bool { return strings.HasPrefix(node, "category/") }

// categoryNode is disco#info on a category node (a hierarchy branch) and
// disco#items on it (its rooms, XEP-0030 §4).
func (m *mucService) categoryNode(ctx context.Context, r *request) (*Element, error) {
	node := r.payload.AttrValue("node")
	cat := strings.TrimPrefix(node, "category/")
	c, err := m.engine.Category(ctx, cat)
	if err != nil {
		return nil, err
	}
	if r.payload.Name.Space == nsDiscoInfo {
		return discoInfo(node, "hierarchy", "branch", c.Name, []string{nsDiscoInfo, nsDiscoItems}), nil
	}
	return m.roomList(ctx, r, cat)
}

// serviceItems lists the rooms the asker may see (secret rooms only for
// their members), and the categories as nodes.
func (m *mucService) serviceItems(ctx context.Context, r *request) (*Element, error) {
	return m.roomList(ctx, r, "")
}

func (m *mucService) roomList(ctx context.Context, r *request, category string) (*Element, error) {
	rooms, err := m.engine.ListRooms(ctx, r.from.bareJID(), category)
	if err != nil {
		return nil, err
	}
	node := ""
	if category != "" {
		node = "category/" + category
	}
	var items []*Element
	var ids []string
	for _, rm := range rooms {
		items = append(items, NewElement(nsDiscoItems, "item", "jid", m.roomJID(rm.Name), "name", rm.Title))
		ids = append(ids, m.roomJID(rm.Name))
	}
	if category == "" {
		cats, err := m.engine.Categories(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cats {
			items = append(items, NewElement(nsDiscoItems, "item", "jid", m.domain, "node", "category/"+c.Name, "name", c.Name))
			ids = append(ids, "category/"+c.Name)
		}
	}
	// XEP-0059 paging (rsm.go): a service with thousands of rooms answers
	// a page at a time.
	page, set, err := rsmPage(items, ids, r.payload.Child(nsRSM, "set"))
	if err != nil {
		return nil, err
	}
	out := NewElement(nsDiscoItems, "query", "node", node)
	for _, it := range page {
		out.Append(it)
	}
	if set != nil {
		out.Append(set)
	}
	return out, nil
}

// roomItems is disco#items on a room: none, to those who may see it.
func (m *mucService) roomItems(ctx context.Context, r *request) (*Element, error) {
	if _, err := m.engine.Room(ctx, roomName(r.to), r.from.bareJID()); err != nil {
		return nil, err
	}
	return NewElement(nsDiscoItems, "query"), nil
}

// roomAbout is what a room says of itself in disco#info (XEP-0045 §6.4):
// its name, the muc_ features of its configuration and the muc#roominfo
// form.
func (m *mucService) roomAbout(ctx context.Context, r *request) (entityState, error) {
	room := roomName(r.to)
	rm, err := m.engine.Room(ctx, room, r.from.bareJID())
	if err != nil {
		return entityState{}, err
	}
	features := []string{"muc_persistent",
		pick(rm.Public, "muc_public", "muc_hidden"), pick(rm.MembersOnly, "muc_membersonly", "muc_open"),
		pick(rm.Moderated, "muc_moderated", "muc_unmoderated"), pick(rm.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(rm.WhoIs == "anyone", "muc_nonanonymous", "muc_semianonymous")}
	form := newForm("result", "http://jabber.org/protocol/muc#roominfo")
	form.field("muc#roominfo_description", "Description", rm.Description)
	form.field("muc#roominfo_subject", "Subject", rm.Subject)
	form.field("muc#roominfo_occupants", "Number of occupants", strconv.Itoa(len(m.engine.Occupants(room))))
	form.field("muc#roomconfig_roomname", "Name", rm.Title)
	form.field("muc#roominfo_changesubject", "Occupants may change the subject", boolField(rm.ChangeSubject == "participants"))
	form.field("x-parley#category", "Category", rm.Category)
	form.field("x-parley#privacy", "Privacy", string(muc.PrivacyOf(rm)))
	form.field("x-parley#type", "Type", string(muc.TypeOf(rm)))
	if rm.AddInURL != "" {
		form.field("x-parley#addin", "Add-in URL", rm.AddInURL)
	}
	return entityState{name: rm.Title, features: features, forms: []*Element{form.el}}, nil
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
func (m *mucService) admin(ctx context.Context, r *request) (*Element, error) {
	room, sender := roomName(r.to), r.from.bareJID()
	items := r.payload.Elements()
	if len(items) == 0 {
		return nil, errBadRequest("an admin query needs an item")
	}
	if r.typ == "get" {
		it := items[0]
		out := NewElement(nsMUCAdmin, "query")
		if aff := it.AttrValue("affiliation"); aff != "" {
			list, err := m.engine.Affiliations(ctx, room, sender, muc.Affiliation(aff))
			if err != nil {
				return nil, err
			}
			for _, a := range list {
				if muc.IsGroup(a.JID) {
					// A directory group (parleyctl): not a JID a client
					// could show or change.
					continue
				}
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
		v, in := m.viewOf(r.from, room)
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
		if re := it.Child(nsMUCAdmin, "reason"); re != nil {
			reason = re.Text()
		}
		switch {
		case it.AttrValue("role") != "":
			nick := it.AttrValue("nick")
			if nick == "" {
				return nil, errBadRequest("a role change names the occupant by nick")
			}
			if err := m.engine.SetRole(ctx, room, r.from.fullJID().String(), nick, muc.Role(it.AttrValue("role")), reason); err != nil {
				return nil, err
			}
		case it.AttrValue("affiliation") != "":
			target, err := jid.Parse(it.AttrValue("jid"))
			if err != nil {
				return nil, errJIDMalformed("an affiliation change names a JID")
			}
			if err := m.engine.SetAffiliation(ctx, room, sender, target.Bare().String(), muc.Affiliation(it.AttrValue("affiliation")), reason); err != nil {
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
func (m *mucService) moderate(ctx context.Context, r *request) (*Element, error) {
	q := r.payload
	return nil, m.moderateMessage(ctx, r, q.AttrValue("id"), q.Child(nsRetract, "retract") != nil, q.Child(nsModerate, "reason"))
}

// moderateV0 handles XEP-0425 v0.2: message-moderate:0 wrapped in a
// XEP-0422 apply-to.
func (m *mucService) moderateV0(ctx context.Context, r *request) (*Element, error) {
	mod := r.payload.Child(nsModerate0, "moderate")
	if mod == nil {
		return nil, errServiceUnavailable("")
	}
	return nil, m.moderateMessage(ctx, r, r.payload.AttrValue("id"), mod.Child(nsRetract0, "retract") != nil, mod.Child(nsModerate0, "reason"))
}

func (m *mucService) moderateMessage(ctx context.Context, r *request, id string, retract bool, reasonEl *Element) error {
	if id == "" || !retract {
		return errBadRequest("moderate needs an id and <retract/>")
	}
	reason := ""
	if reasonEl != nil {
		reason = reasonEl.Text()
	}
	_, err := m.engine.Post(ctx, muc.PostRequest{Room: roomName(r.to), Address: r.from.fullJID().String(), FrontDoor: frontDoorXMPP,
		Kind: storage.KindModeration, Target: id, Reason: reason})
	return err
}
