package xmpp

import (
	"context"
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
	_, err := m.engine.Configure(ctx, sender, room, func(r *storage.Room) error {
		return applyConfig(r, values)
	})
	return nil, err
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
	f.add("x-parley#category", "text-single", "Category", r.Category)
	return f
}

// applyConfig sets the fields a client submitted; absent fields keep their
// values (XEP-0045 §10.2).
func applyConfig(r *storage.Room, values map[string][]string) error {
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
	if v, ok := first(values, "muc#roomconfig_persistentroom"); ok {
		if b, _ := formBool(v); !b {
			return errNotAcceptable("Parley rooms are always persistent")
		}
	}
	for field, dst := range map[string]*bool{
		"muc#roomconfig_publicroom":    &r.Public,
		"muc#roomconfig_membersonly":   &r.MembersOnly,
		"muc#roomconfig_moderatedroom": &r.Moderated,
		"muc#roomconfig_allowinvites":  &r.AllowInvites,
	} {
		if err := setBool(field, dst); err != nil {
			return err
		}
	}
	protected := r.Password != ""
	if err := setBool("muc#roomconfig_passwordprotectedroom", &protected); err != nil {
		return err
	}
	if v, ok := first(values, "muc#roomconfig_roomsecret"); ok {
		r.Password = v
	}
	if !protected {
		r.Password = ""
	}
	if v, ok := first(values, "muc#roomconfig_whois"); ok {
		if v != "moderators" && v != "anyone" {
			return bad("muc#roomconfig_whois")
		}
		r.WhoIs = v
	}
	if v, ok := first(values, "muc#roomconfig_maxusers"); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return bad("muc#roomconfig_maxusers")
		}
		r.MaxUsers = n
	}
	var change bool
	if _, ok := first(values, "muc#roomconfig_changesubject"); ok {
		if err := setBool("muc#roomconfig_changesubject", &change); err != nil {
			return err
		}
		r.ChangeSubject = pick(change, "participants", "moderators")
	}
	if v, ok := first(values, "muc#roomconfig_allowpm"); ok {
		switch v {
		case "anyone", "participants", "moderators", "none":
			r.AllowPM = v
		default:
			return bad("muc#roomconfig_allowpm")
		}
	}
	if v, ok := first(values, "x-parley#category"); ok && v != "" {
		r.Category = v
	}
	return nil
}
