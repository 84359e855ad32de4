package xmpp

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// owner handles muc#owner (XEP-0045 §10): the room configuration form
// (muc#roomconfig), instant-room acceptance and destruction.
func (m *mucService) owner(ctx context.Context, r *request) (*Element, error) {
	room, sender, q := roomName(r.to), r.from.bareJID(), r.payload
	if r.typ == "get" {
		rm, err := m.engine.Room(ctx, room, sender)
		if err != nil {
			return nil, err
		}
		if !m.isOwner(ctx, room, sender) {
			return nil, errForbidden("only owners configure a room")
		}
		return NewElement(nsMUCOwner, "query").Append(m.configForm(rm).el), nil
	}
	if d := q.Child(nsMUCOwner, "destroy"); d != nil {
		reason := ""
		if re := d.Child(nsMUCOwner, "reason"); re != nil {
			reason = re.Text()
		}
		venue := ""
		if j := d.AttrValue("jid"); j != "" {
			if _, err := jid.Parse(j); err != nil {
				return nil, errJIDMalformed("alternate venue")
			}
			venue = j
		}
		return nil, m.engine.Destroy(ctx, sender, room, reason, venue)
	}
	x := q.Child(nsDataForms, "x")
	if x == nil {
		return nil, errBadRequest("submit the configuration form")
	}
	switch x.AttrValue("type") {
	case "cancel":
		return nil, nil
	case "submit":
	default:
		return nil, errBadRequest("form type must be submit or cancel")
	}
	values := formValues(x)
	var notes []string
	_, err := m.engine.Configure(ctx, sender, room, func(r *storage.Room) error {
		var err error
		notes, err = applyConfig(r, values)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		// The status note: what the room took but does not do, from the
		// room to the submitter, before the result (XEP-0045 §10.2 has no
		// place for it in the result itself).
		note := NewElement(nsClient, "message", "type", "groupchat", "from", m.roomJID(room),
			"to", r.from.fullJID().String(), "id", randomID(6))
		note.Append(NewElement(nsClient, "body").AppendText(strings.Join(notes, " ")))
		r.from.send(note.Bytes())
	}
	return nil, nil
}

func (m *mucService) isOwner(ctx context.Context, room, user string) bool {
	owners, err := m.engine.Affiliations(ctx, room, muc.ActorAdmin, muc.AffOwner)
	if err != nil {
		return false
	}
	for _, a := range owners {
		if a.JID == user {
			return true
		}
	}
	return false
}

// configForm is the muc#roomconfig form with the room's current values
// (XEP-0045 §10.2), plus Parley's category.
func (m *mucService) configForm(r storage.Room) *form {
	f := newForm("form", "http://jabber.org/protocol/muc#roomconfig")
	f.add("muc#roomconfig_roomname", "text-single", "Name", r.Title)
	f.add("muc#roomconfig_roomdesc", "text-single", "Description", r.Description)
	f.add("muc#roomconfig_persistentroom", "boolean", "Persistent (always on)", "1")
	f.add("muc#roomconfig_publicroom", "boolean", "Listed in the directory", boolField(r.Public))
	f.add("muc#roomconfig_membersonly", "boolean", "Members only", boolField(r.MembersOnly))
	f.add("muc#roomconfig_moderatedroom", "boolean", "Moderated (an auditorium)", boolField(r.Moderated))
	f.add("muc#roomconfig_passwordprotectedroom", "boolean", "Password protected", boolField(r.Password != ""))
	f.add("muc#roomconfig_roomsecret", "text-private", "Password", r.Password)
	who := f.add("muc#roomconfig_whois", "list-single", "Who may see real JIDs", r.WhoIs)
	option(who, "Moderators", "moderators")
	option(who, "Anyone", "anyone")
	f.add("muc#roomconfig_maxusers", "text-single", "Maximum occupants (0: service limit)", strconv.Itoa(r.MaxUsers))
	f.add("muc#roomconfig_changesubject", "boolean", "Occupants may change the subject", boolField(r.ChangeSubject == "participants"))
	pm := f.add("muc#roomconfig_allowpm", "list-single", "Who may send private messages", r.AllowPM)
	for _, v := range []string{"anyone", "participants", "moderators", "none"} {
		option(pm, v, v)
	}
	f.add("muc#roomconfig_allowinvites", "boolean", "Occupants may invite", boolField(r.AllowInvites))
	// XEP-0045 §15.5.3: the roles whose presence the room broadcasts
	// (muc/presence.go).
	var shown []string
	for _, role := range muc.BroadcastRoles(r) {
		shown = append(shown, string(role))
	}
	pb := f.add("muc#roomconfig_presencebroadcast", "list-multi", "Roles for which presence is broadcast", shown...)
	option(pb, "Moderator", string(muc.RoleModerator))
	option(pb, "Participant", string(muc.RoleParticipant))
	option(pb, "Visitor", string(muc.RoleVisitor))
	f.add("x-parley#category", "text-single", "Category", r.Category)
	return f
}

// Fields clients submit by default that a Parley room takes but does not
// change, with the note the submitter gets when its value asks for what the
// room does not do. Gajim, Conversations, Dino and Converse.js send back the
// whole form with their own defaults set (Conversations and Gajim add
// muc#roomconfig_enablearchiving, ejabberd's mam, Prosody's
// {http://prosody.im/protocol/muc}roomconfig_allowmemberinvites…); slixmpp's
// itests and several clients set persistentroom to 0 for rooms they make.
// A field not in this table and not read by applyConfig is ignored, as
// XEP-0004 §3.3 lets a form processor do with fields it did not ask for.
var acceptedFields = map[string]struct {
	keeps string // the value the room keeps
	note  string // said when the client asked for another
}{
	"muc#roomconfig_persistentroom":  {"1", "This room stays persistent: Parley keeps every room and its history until an owner destroys it."},
	"muc#roomconfig_enablelogging":   {"1", "This room's history is kept as its category says; it cannot be turned off per room."},
	"muc#roomconfig_enablearchiving": {"1", "This room's history is kept as its category says; it cannot be turned off per room."},
	"mam":                            {"1", "This room's history is kept as its category says; it cannot be turned off per room."},
}

// applyConfig sets the fields a client submitted; absent fields keep their
// values (XEP-0045 §10.2). It returns the notes for the submitter on
// fields it accepted without doing what they asked (acceptedFields): never
// not-acceptable for a value a mainstream client sends by default.
func applyConfig(r *storage.Room, values map[string][]string) ([]string, error) {
	bad := func(field string) error { return errBadRequest("invalid value for " + field) }
	setBool := func(field string, dst *bool) error {
		if v, ok := first(values, field); ok {
			b, valid := formBool(v)
			if !valid {
				return bad(field)
			}
			*dst = b
		}
		return nil
	}
	if v, ok := first(values, "muc#roomconfig_roomname"); ok {
		r.Title = v
	}
	if v, ok := first(values, "muc#roomconfig_roomdesc"); ok {
		r.Description = v
	}
	var notes []string
	for _, field := range []string{"muc#roomconfig_persistentroom", "muc#roomconfig_enablelogging", "muc#roomconfig_enablearchiving", "mam"} {
		a := acceptedFields[field]
		v, ok := first(values, field)
		if !ok {
			continue
		}
		if b, valid := formBool(v); valid && boolField(b) != a.keeps && !slices.Contains(notes, a.note) {
			notes = append(notes, a.note)
		}
	}
	for field, dst := range map[string]*bool{
		"muc#roomconfig_publicroom":    &r.Public,
		"muc#roomconfig_membersonly":   &r.MembersOnly,
		"muc#roomconfig_moderatedroom": &r.Moderated,
		"muc#roomconfig_allowinvites":  &r.AllowInvites,
	} {
		if err := setBool(field, dst); err != nil {
			return nil, err
		}
	}
	protected := r.Password != ""
	if err := setBool("muc#roomconfig_passwordprotectedroom", &protected); err != nil {
		return nil, err
	}
	if v, ok := first(values, "muc#roomconfig_roomsecret"); ok {
		r.Password = v
	}
	if !protected {
		r.Password = ""
	}
	if v, ok := first(values, "muc#roomconfig_whois"); ok {
		if v != "moderators" && v != "anyone" {
			return nil, bad("muc#roomconfig_whois")
		}
		r.WhoIs = v
	}
	if v, ok := first(values, "muc#roomconfig_maxusers"); ok {
		// XEP-0045 §10.2's example offers "none" (no limit) next to numbers.
		switch v = strings.TrimSpace(v); v {
		case "": // keeps the value
		case "none":
			r.MaxUsers = 0
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, bad("muc#roomconfig_maxusers")
			}
			r.MaxUsers = n
		}
	}
	var change bool
	if _, ok := first(values, "muc#roomconfig_changesubject"); ok {
		if err := setBool("muc#roomconfig_changesubject", &change); err != nil {
			return nil, err
		}
		r.ChangeSubject = pick(change, "participants", "moderators")
	}
	if v, ok := first(values, "muc#roomconfig_allowpm"); ok {
		switch v {
		case "anyone", "participants", "moderators", "none":
			r.AllowPM = v
		default:
			return nil, bad("muc#roomconfig_allowpm")
		}
	}
	if vals, ok := values["muc#roomconfig_presencebroadcast"]; ok {
		// Every value is a role; an empty one (a client's blank
		// list-multi) is none.
		var roles []muc.Role
		for _, v := range vals {
			if v = strings.TrimSpace(v); v != "" {
				roles = append(roles, muc.Role(v))
			}
		}
		if err := muc.SetBroadcastRoles(r, roles); err != nil {
			return nil, bad("muc#roomconfig_presencebroadcast")
		}
	}
	if v, ok := first(values, "x-parley#category"); ok && v != "" {
		r.Category = v
	}
	return notes, nil
}
