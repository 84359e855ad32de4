package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// CategoryChange is a change to a category's policy: nil fields stay as
// they are. Users are given as Service.Users takes them.
type CategoryChange struct {
	Description   *string   `json:"description,omitempty"`
	Allow         *[]string `json:"allow,omitempty"`
	Deny          *[]string `json:"deny,omitempty"`
	Creators      *[]string `json:"creators,omitempty"`
	Upload        *bool     `json:"upload,omitempty"`
	Invitations   *bool     `json:"invitations,omitempty"`
	History       *bool     `json:"history,omitempty"`
	Federated     *bool     `json:"federated,omitempty"`
	RetentionDays *int      `json:"retention_days,omitempty"`
}

// CategoryInfo is a category with the names of its rooms.
type CategoryInfo struct {
	storage.Category
	Rooms []string
}

func (s *Service) applyCategory(ctx context.Context, ch CategoryChange, c *storage.Category) error {
	var err error
	users := func(field string, l *[]string, everyone bool, to *[]string) {
		if l != nil && err == nil {
			*to, err = s.Users(ctx, *l, everyone)
			err = fieldError(field, err)
		}
	}
	users("allow", ch.Allow, true, &c.AllowedMembers)
	users("deny", ch.Deny, false, &c.DeniedMembers)
	users("creators", ch.Creators, true, &c.Creators)
	if err != nil {
		return err
	}
	set := func(p *bool, to *bool) {
		if p != nil {
			*to = *p
		}
	}
	if ch.Description != nil {
		c.Description = *ch.Description
	}
	set(ch.Upload, &c.FileUpload)
	set(ch.Invitations, &c.Invitations)
	set(ch.History, &c.ChatHistory)
	if ch.Federated != nil {
		c.LocalOnly = !*ch.Federated
	}
	if ch.RetentionDays != nil {
		if *ch.RetentionDays < 0 {
			return fieldError("retention-days", &BadRequest{"want 0 (forever) or more days"})
		}
		c.RetentionDays = *ch.RetentionDays
	}
	return nil
}

// AddCategory creates a category; a new one allows upload, invitations
// and history unless told otherwise.
func (b *bound) AddCategory(ctx context.Context, name string, ch CategoryChange) (storage.Category, error) {
	cat := storage.Category{Name: strings.TrimSpace(name), FileUpload: true, Invitations: true, ChatHistory: true}
	if err := b.s.applyCategory(ctx, ch, &cat); err != nil {
		return cat, err
	}
	e, err := b.engine(ctx)
	if err != nil {
		return cat, err
	}
	// PutCategory creates or replaces; add must not replace.
	switch _, err := e.Category(ctx, cat.Name); {
	case err == nil:
		return cat, fmt.Errorf("category %q exists", cat.Name)
	case muc.CodeOf(err) != muc.CodeNotFound:
		return cat, err
	}
	return cat, e.PutCategory(ctx, b.actor, cat)
}

// SetCategory changes a category's policy. A wall is refused while
// someone it denies holds a place in one of its rooms; occupants it shuts
// out of its open rooms are removed by every running parleyd (muc
// revoke.go).
func (b *bound) SetCategory(ctx context.Context, name string, ch CategoryChange) (storage.Category, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return storage.Category{}, err
	}
	cat, err := e.Category(ctx, strings.TrimSpace(name))
	if err != nil {
		return cat, err
	}
	if err := b.s.applyCategory(ctx, ch, &cat); err != nil {
		return cat, err
	}
	return cat, e.PutCategory(ctx, b.actor, cat)
}

func (b *bound) Categories(ctx context.Context) ([]CategoryInfo, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return nil, err
	}
	cats, err := e.Categories(ctx)
	if err != nil {
		return nil, err
	}
	rooms, err := e.ListRooms(ctx, b.actor, "")
	if err != nil {
		return nil, err
	}
	out := make([]CategoryInfo, len(cats))
	for i, c := range cats {
		out[i] = CategoryInfo{Category: c, Rooms: []string{}}
		for _, r := range rooms {
			if r.Category == c.Name {
				out[i].Rooms = append(out[i].Rooms, r.Name)
			}
		}
	}
	return out, nil
}

func (b *bound) Category(ctx context.Context, name string) (CategoryInfo, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return CategoryInfo{}, err
	}
	cat, err := e.Category(ctx, strings.TrimSpace(name))
	if err != nil {
		return CategoryInfo{}, err
	}
	rooms, err := e.ListRooms(ctx, b.actor, cat.Name)
	if err != nil {
		return CategoryInfo{}, err
	}
	info := CategoryInfo{Category: cat, Rooms: []string{}}
	for _, r := range rooms {
		info.Rooms = append(info.Rooms, r.Name)
	}
	return info, nil
}

// DeleteCategory removes a category that has no rooms.
func (b *bound) DeleteCategory(ctx context.Context, name string) error {
	name = strings.TrimSpace(name)
	if name == muc.DefaultCategory {
		// The engine creates it again at every start.
		return fmt.Errorf("the default category %q cannot be deleted", name)
	}
	e, err := b.engine(ctx)
	if err != nil {
		return err
	}
	return e.DeleteCategory(ctx, b.actor, name)
}

// RoomSpec is a room to create: its settings, with a new room's defaults
// for those left empty (the default category, closed, normal), and its
// first managers, members and presenters.
type RoomSpec struct {
	Name string `json:"name"`
	RoomChange
	Managers   []string `json:"managers,omitempty"`
	Members    []string `json:"members,omitempty"`
	Presenters []string `json:"presenters,omitempty"`
}

// RoomChange is a change to a room's settings: nil fields stay as they
// are. Privacy is open, closed or secret; Type normal or auditorium.
type RoomChange struct {
	Category    *string `json:"category,omitempty"`
	Privacy     *string `json:"privacy,omitempty"`
	Type        *string `json:"type,omitempty"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Subject     *string `json:"subject,omitempty"`
	AddInURL    *string `json:"addin_url,omitempty"`
	// PresenceBroadcast is the roles whose presence the room broadcasts
	// (muc#roomconfig_presencebroadcast): moderator, participant and
	// visitor, comma-separated, or all, or none.
	PresenceBroadcast *string `json:"presence_broadcast,omitempty"`
}

// RoomInfo is a room as stored, with its address, what its flags mean
// and, from Room and the changes, who holds which place in it.
type RoomInfo struct {
	storage.Room
	Address      string
	Privacy      muc.Privacy
	Type         muc.RoomType
	Affiliations []storage.Affiliation `json:",omitempty"`
}

// BroadcastRoles reads a RoomChange.PresenceBroadcast: roles
// comma-separated, or all, or none.
func BroadcastRoles(v string) ([]muc.Role, error) {
	switch v = strings.TrimSpace(v); v {
	case "all":
		return []muc.Role{muc.RoleModerator, muc.RoleParticipant, muc.RoleVisitor}, nil
	case "none":
		return nil, nil
	}
	var roles []muc.Role
	for role := range strings.SplitSeq(v, ",") {
		roles = append(roles, muc.Role(strings.TrimSpace(role)))
	}
	var r storage.Room
	if err := muc.SetBroadcastRoles(&r, roles); err != nil {
		return nil, fieldError("presence-broadcast", &BadRequest{fmt.Sprintf("want moderator, participant and visitor, comma-separated, or all, or none; not %q", v)})
	}
	return roles, nil
}

// Check reports a bad value before anything is opened or changed.
func (ch RoomChange) Check() error {
	if ch.Privacy != nil {
		switch muc.Privacy(*ch.Privacy) {
		case muc.Open, muc.Closed, muc.Secret:
		default:
			return fieldError("privacy", &BadRequest{fmt.Sprintf("want open, closed or secret, not %q", *ch.Privacy)})
		}
	}
	if ch.Type != nil {
		switch muc.RoomType(*ch.Type) {
		case muc.Normal, muc.Auditorium:
		default:
			return fieldError("type", &BadRequest{fmt.Sprintf("want normal or auditorium, not %q", *ch.Type)})
		}
	}
	if ch.PresenceBroadcast != nil {
		if _, err := BroadcastRoles(*ch.PresenceBroadcast); err != nil {
			return err
		}
	}
	if ch.AddInURL != nil {
		v := *ch.AddInURL
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return fieldError("addin-url", &BadRequest{fmt.Sprintf("want an http or https URL, not %q", v)})
		}
	}
	return nil
}

// apply copies the settings into r; privacy is left to the caller.
func (ch RoomChange) apply(r *storage.Room, now time.Time) {
	str := func(p *string, to *string) {
		if p != nil {
			*to = *p
		}
	}
	if ch.Category != nil {
		r.Category = strings.TrimSpace(*ch.Category)
	}
	if ch.Type != nil {
		r.Moderated = muc.RoomType(*ch.Type) == muc.Auditorium
	}
	str(ch.Title, &r.Title)
	str(ch.Description, &r.Description)
	str(ch.AddInURL, &r.AddInURL)
	if ch.PresenceBroadcast != nil {
		roles, _ := BroadcastRoles(*ch.PresenceBroadcast) // checked by Check
		_ = muc.SetBroadcastRoles(r, roles)
	}
	if ch.Subject != nil {
		// Set by the room itself, as a service-set subject is
		// (XEP-0045 §8.1 lets the room be the sender).
		r.Subject, r.SubjectNick, r.SubjectTime = *ch.Subject, "", now
	}
}

// RoomName normalises a room name as every front door does with the
// localpart of room@conference.DOMAIN (internal/identity: RFC 7622 §3.3,
// then lower case).
func RoomName(s string) (string, error) {
	name, err := identity.RoomName(s)
	if err != nil {
		return "", fmt.Errorf("invalid room name %q: want what may be the localpart of a JID (no spaces, @, /, :, quotes, &, < or >)", s)
	}
	return name, nil
}

func (b *bound) info(r storage.Room) RoomInfo {
	r.Password = "" // the room's own secret: not shown
	return RoomInfo{Room: r, Address: r.Name + "@conference." + b.s.cfg.Domain, Privacy: muc.PrivacyOf(r), Type: muc.TypeOf(r)}
}

// CreateRoom creates a room: closed unless the spec says otherwise.
func (b *bound) CreateRoom(ctx context.Context, spec RoomSpec) (RoomInfo, error) {
	name, err := RoomName(spec.Name)
	if err != nil {
		return RoomInfo{}, err
	}
	if err := spec.Check(); err != nil {
		return RoomInfo{}, err
	}
	req := muc.CreateRoomRequest{Room: storage.Room{Name: name, Category: muc.DefaultCategory}, Creator: b.actor, Privacy: muc.Closed}
	if spec.Privacy != nil {
		req.Privacy = muc.Privacy(*spec.Privacy)
	}
	spec.apply(&req.Room, b.s.cfg.Now())
	for _, l := range []struct {
		field string
		from  []string
		to    *[]string
	}{{"managers", spec.Managers, &req.Managers}, {"members", spec.Members, &req.Members}, {"presenters", spec.Presenters, &req.Presenters}} {
		if *l.to, err = b.s.Users(ctx, l.from, false); err != nil {
			return RoomInfo{}, fieldError(l.field, err)
		}
	}
	e, err := b.engine(ctx)
	if err != nil {
		return RoomInfo{}, err
	}
	r, err := e.CreateRoom(ctx, req)
	if err != nil {
		return RoomInfo{}, err
	}
	return b.info(r), nil
}

// Rooms lists the rooms, of one category or all.
func (b *bound) Rooms(ctx context.Context, category string) ([]RoomInfo, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return nil, err
	}
	if category = strings.TrimSpace(category); category != "" {
		if _, err := e.Category(ctx, category); err != nil {
			return nil, err
		}
	}
	rooms, err := e.ListRooms(ctx, b.actor, category)
	if err != nil {
		return nil, err
	}
	out := make([]RoomInfo, len(rooms))
	for i, r := range rooms {
		out[i] = b.info(r)
	}
	return out, nil
}

// Room returns a room's settings and affiliations.
func (b *bound) Room(ctx context.Context, name string) (RoomInfo, error) {
	name, err := RoomName(name)
	if err != nil {
		return RoomInfo{}, err
	}
	e, err := b.engine(ctx)
	if err != nil {
		return RoomInfo{}, err
	}
	r, err := e.Room(ctx, name, b.actor)
	if err != nil {
		return RoomInfo{}, err
	}
	affs, err := e.Affiliations(ctx, name, b.actor, "")
	if err != nil {
		return RoomInfo{}, err
	}
	info := b.info(r)
	info.Affiliations = affs
	return info, nil
}

// SetRoom changes a room's settings (through its host, which applies the
// change to its occupants and logs it for every node).
func (b *bound) SetRoom(ctx context.Context, name string, ch RoomChange) (RoomInfo, error) {
	name, err := RoomName(name)
	if err != nil {
		return RoomInfo{}, err
	}
	if err := ch.Check(); err != nil {
		return RoomInfo{}, err
	}
	if ch == (RoomChange{}) {
		return RoomInfo{}, &BadRequest{"nothing to change: give at least one setting"}
	}
	return b.configure(ctx, name, func(r *storage.Room) {
		if ch.Privacy != nil {
			muc.SetPrivacy(r, muc.Privacy(*ch.Privacy))
		}
		ch.apply(r, b.s.cfg.Now())
	})
}

func (b *bound) configure(ctx context.Context, name string, change func(*storage.Room)) (RoomInfo, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return RoomInfo{}, err
	}
	r, err := e.Configure(ctx, b.actor, name, func(r *storage.Room) error { change(r); return nil })
	if err != nil {
		return RoomInfo{}, err
	}
	return b.info(r), nil
}

// SetRoomDisabled disables a room (joins refused, history kept) or
// enables it again.
func (b *bound) SetRoomDisabled(ctx context.Context, name string, disabled bool) (RoomInfo, error) {
	name, err := RoomName(name)
	if err != nil {
		return RoomInfo{}, err
	}
	return b.configure(ctx, name, func(r *storage.Room) { r.Disabled = disabled })
}

// DeleteRoom deletes a room with its affiliations and history.
func (b *bound) DeleteRoom(ctx context.Context, name, reason string) error {
	name, err := RoomName(name)
	if err != nil {
		return err
	}
	e, err := b.engine(ctx)
	if err != nil {
		return err
	}
	return e.Destroy(ctx, b.actor, name, reason, "")
}

// A Place is one of the lists of users a room keeps, as Persistent Chat
// names them: managers (XEP-0045 owners and admins), members, and
// presenters (members with voice in an auditorium).
type Place string

const (
	Members    Place = "members"
	Managers   Place = "managers"
	Presenters Place = "presenters"
)

// Holds reports whether a stored affiliation puts its user on the list.
func (l Place) Holds(a storage.Affiliation) bool {
	switch l {
	case Managers:
		return muc.Affiliation(a.Affiliation).IsManager()
	case Presenters:
		return a.Presenter
	}
	return a.Affiliation == storage.AffiliationMember
}

// Singular names one place on the list: "a member".
func (l Place) Singular() string {
	return "a " + strings.TrimSuffix(string(l), "s")
}

// PlaceResult is what ChangePlaces did for one user: Already names the
// place they held, so nothing changed ("" when it changed).
type PlaceResult struct {
	User    string `json:"user"`
	Already Place  `json:"already,omitempty"`
}

// ChangePlaces adds users to a room's list or removes them from it.
// Adding someone already on the list, or a manager as a member, changes
// nothing. Removing someone who is not on the list fails before anything
// changes. Managers removed stay members; members removed lose their place
// (and their presenter right) altogether; presenters removed stay members.
func (b *bound) ChangePlaces(ctx context.Context, room string, list Place, add bool, users []string) ([]PlaceResult, error) {
	switch list {
	case Members, Managers, Presenters:
	default:
		return nil, &BadRequest{fmt.Sprintf("no list %q: want members, managers or presenters", list)}
	}
	room, err := RoomName(room)
	if err != nil {
		return nil, err
	}
	jids, err := b.s.Users(ctx, users, false)
	if err != nil {
		return nil, fieldError("users", err)
	}
	if len(jids) == 0 {
		return nil, &BadRequest{"no users given"}
	}
	e, err := b.engine(ctx)
	if err != nil {
		return nil, err
	}
	affs, err := e.Affiliations(ctx, room, b.actor, "")
	if err != nil {
		return nil, err
	}
	current := make(map[string]storage.Affiliation, len(affs))
	for _, a := range affs {
		current[a.JID] = a
	}
	if !add {
		for _, u := range jids {
			if !list.Holds(current[u]) {
				return nil, fmt.Errorf("%s is not %s of %s", u, list.Singular(), room)
			}
		}
	}
	var out []PlaceResult
	for _, u := range jids {
		a := current[u]
		switch {
		case add && list.Holds(a):
			out = append(out, PlaceResult{User: u, Already: list})
			continue
		case add && list == Members && Managers.Holds(a):
			out = append(out, PlaceResult{User: u, Already: Managers})
			continue
		}
		if err := b.changePlace(ctx, e, room, u, list, add); err != nil {
			return out, err
		}
		out = append(out, PlaceResult{User: u})
	}
	return out, nil
}

func (b *bound) changePlace(ctx context.Context, e Engine, room, user string, list Place, add bool) error {
	switch {
	case list == Presenters:
		return e.SetPresenter(ctx, room, b.actor, user, add)
	case list == Members && add, list == Managers && !add:
		return e.SetAffiliation(ctx, room, b.actor, user, muc.AffMember, "")
	case list == Managers:
		return e.SetAffiliation(ctx, room, b.actor, user, muc.AffOwner, "")
	}
	return e.SetAffiliation(ctx, room, b.actor, user, muc.AffNone, "")
}

// ClearRoom deletes a room's messages posted before a time, except what
// legal holds cover.
func (b *bound) ClearRoom(ctx context.Context, room string, before time.Time) (int, error) {
	room, err := RoomName(room)
	if err != nil {
		return 0, err
	}
	if before.IsZero() {
		return 0, fieldError("before", &BadRequest{"a time is required"})
	}
	e, err := b.engine(ctx)
	if err != nil {
		return 0, err
	}
	return e.ClearRoom(ctx, b.actor, room, before)
}

// RemoveMessage replaces one message with text (or a notice) and marks it
// removed.
func (b *bound) RemoveMessage(ctx context.Context, room, stanzaID, text string) error {
	room, err := RoomName(room)
	if err != nil {
		return err
	}
	if stanzaID == "" {
		return errors.New("no message id given")
	}
	e, err := b.engine(ctx)
	if err != nil {
		return err
	}
	return e.RemoveMessage(ctx, b.actor, room, stanzaID, text)
}
