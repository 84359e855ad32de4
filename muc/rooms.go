package muc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/storage"
)

// Administrators: the identity that parleyctl and the server act as. It
// may do anything, and its actions are captured like anyone's.
const (
	ActorAdmin = "parleyctl"
)

// adminPrefix marks an administrator acting by name (AdminActor). No JID
// starts with it: RFC 7622 forbids ':' in a localpart and IDNA in a
// domainpart.
const adminPrefix = ActorAdmin + ":"

// AdminActor is the actor for the administrator jid (a bare JID) acting
// through the admin API (package admin): it may do anything ActorAdmin
// may, and compliance records jid as the event's actor.
func AdminActor(jid string) string { return adminPrefix + jid }

func isAdmin(actor string) bool {
	return actor == ActorAdmin || actor == "parleyd" || strings.HasPrefix(actor, adminPrefix)
}

// shownActor is the actor occupants are shown: an administrator acting
// through the admin API as ActorAdmin is (not named), anyone else as is.
func shownActor(actor string) string {
	if strings.HasPrefix(actor, adminPrefix) {
		return ActorAdmin
	}
	return actor
}

// recordedActor is who an event records as its actor: the administrator's
// JID for an AdminActor, else the actor itself.
func recordedActor(actor string) string {
	if jid, ok := strings.CutPrefix(actor, adminPrefix); ok {
		return jid
	}
	return actor
}

// PutCategory creates or replaces a category.
func (e *Engine) PutCategory(ctx context.Context, actor string, c storage.Category) error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return refuse(CodeBadRequest, "a category needs a name")
	}
	for _, list := range []*[]string{&c.AllowedMembers, &c.DeniedMembers, &c.Creators} {
		norm, err := policyList(*list)
		if err != nil {
			return err
		}
		*list = norm
	}
	// A wall that would leave someone inside is refused: the ethical
	// wall means a denied user is never a member, so they are removed
	// from the rooms first, knowingly.
	rooms, err := e.cfg.Store.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("muc: listing rooms: %w", err)
	}
	for _, r := range rooms {
		if r.Category != c.Name {
			continue
		}
		affs, err := e.cfg.Store.Affiliations(ctx, r.Name)
		if err != nil {
			return fmt.Errorf("muc: reading affiliations of %s: %w", r.Name, err)
		}
		for _, a := range affs {
			if a.Affiliation != storage.AffiliationOutcast && !e.allowed(ctx, c, a.JID) {
				return refuse(CodeConflict, "%s is %s of room %q; remove them before walling them out of category %q", a.JID, a.Affiliation, r.Name, c.Name)
			}
		}
	}
	// Updated changes with every put: joins and posts compare it to see
	// whether a room's occupants need checking again (revoke.go).
	c.Updated = e.cfg.Now().UTC()
	ev := e.event("category.put", "", actor, c)
	if err := e.cfg.Store.PutCategory(ctx, c, ev); err != nil {
		return fmt.Errorf("muc: storing category %s: %w", c.Name, err)
	}
	e.logAdmin(ev, "category", c.Name)
	// The wall holds at once for whoever is in its rooms here; elsewhere
	// (other processes, other nodes) through the room change log.
	e.recheckCategory(ctx, c.Name)
	return nil
}

// Category returns one category.
func (e *Engine) Category(ctx context.Context, name string) (storage.Category, error) {
	return e.category(ctx, name)
}

// Categories lists every category.
func (e *Engine) Categories(ctx context.Context) ([]storage.Category, error) {
	cs, err := e.cfg.Store.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("muc: listing categories: %w", err)
	}
	return cs, nil
}

// DeleteCategory removes an empty category.
func (e *Engine) DeleteCategory(ctx context.Context, actor, name string) error {
	if name == DefaultCategory {
		return refuse(CodeNotAllowed, "category %q is where rooms created by users go; it cannot be deleted", name)
	}
	if _, err := e.category(ctx, name); err != nil {
		return err
	}
	rooms, err := e.cfg.Store.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("muc: listing rooms: %w", err)
	}
	for _, r := range rooms {
		if r.Category == name {
			return refuse(CodeConflict, "category %q still has rooms (e.g. %q)", name, r.Name)
		}
	}
	ev := e.event("category.delete", "", actor, map[string]string{"name": name})
	if err := e.cfg.Store.DeleteCategory(ctx, name, ev); err != nil {
		return fmt.Errorf("muc: deleting category %s: %w", name, err)
	}
	e.logAdmin(ev, "category", name)
	return nil
}

// mayNotCreate refuses a room to a user who is not a creator of its
// category. It does not name the category.
func mayNotCreate() *Error {
	return refuse(CodeForbidden, "you may not create rooms here")
}

// underRoomLimit refuses a user who has created Config.MaxRoomsPerUser
// rooms that still exist (policy-violation; the administrator can remove
// or hand over rooms, parleyctl room delete / set).
func (e *Engine) underRoomLimit(ctx context.Context, user string) error {
	all, err := e.cfg.Store.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("muc: counting rooms of %s: %w", user, err)
	}
	n := 0
	for _, r := range all {
		if r.Creator == user {
			n++
		}
	}
	if n >= e.cfg.MaxRoomsPerUser {
		e.metrics.roomsRefused.Inc()
		return refuse(CodePolicyViolation, "you have created %d rooms, the most allowed", n)
	}
	return nil
}

// CreateRoomRequest describes a room to create.
type CreateRoomRequest struct {
	Room storage.Room
	// Creator is who creates it: a bare JID (who becomes its owner) or
	// ActorAdmin.
	Creator string
	// Managers, Members and Presenters are initial lists of bare JIDs.
	Managers, Members, Presenters []string
	// Privacy sets Room's Public and MembersOnly flags; empty means
	// Closed, the default for new rooms.
	Privacy Privacy
}

// CreateRoom creates a persistent room. The creator must be a creator of
// the room's category; every member must be allowed by the category
// (DESIGN §1's ethical wall). New rooms are closed unless told otherwise.
func (e *Engine) CreateRoom(ctx context.Context, req CreateRoomRequest) (storage.Room, error) {
	r := req.Room
	name, err := identity.RoomName(r.Name)
	if err != nil || utf8.RuneCountInString(name) > storage.MaxRoomNameLength {
		return r, refuse(CodeBadRequest, "invalid room name %q", req.Room.Name)
	}
	r.Name = name
	if r.Category == "" {
		r.Category = DefaultCategory
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return r, err
	}
	if !e.mayCreate(ctx, cat, req.Creator) {
		return r, mayNotCreate()
	}
	if !isAdmin(req.Creator) {
		e.creating.Lock()
		defer e.creating.Unlock()
		if err := e.underRoomLimit(ctx, req.Creator); err != nil {
			return r, err
		}
	}
	if r.WhoIs == "" {
		r.WhoIs = "moderators"
	}
	if r.ChangeSubject == "" {
		r.ChangeSubject = "moderators"
	}
	if r.AllowPM == "" {
		r.AllowPM = "anyone"
	}
	if r.Title == "" {
		r.Title = r.Name
	}
	switch req.Privacy {
	case "":
		SetPrivacy(&r, Closed)
	case Open, Closed, Secret:
		SetPrivacy(&r, req.Privacy)
	default:
		return r, refuse(CodeBadRequest, "privacy must be open, closed or secret, not %q", req.Privacy)
	}
	r.Creator = recordedActor(req.Creator)
	now := e.cfg.Now().UTC()
	r.Created, r.Updated = now, now

	var affs []storage.Affiliation
	add := func(jid string, aff Affiliation, presenter bool) error {
		jid, err := policyJID(jid)
		if err != nil {
			return err
		}
		if !e.allowed(ctx, cat, jid) {
			return wall(jid, cat)
		}
		for i := range affs {
			if affs[i].JID == jid {
				if Affiliation(affs[i].Affiliation).rank() < aff.rank() {
					affs[i].Affiliation = string(aff)
				}
				affs[i].Presenter = affs[i].Presenter || presenter
				return nil
			}
		}
		affs = append(affs, storage.Affiliation{Room: r.Name, JID: jid, Affiliation: string(aff), Presenter: presenter})
		return nil
	}
	if !isAdmin(req.Creator) {
		if err := add(req.Creator, AffOwner, false); err != nil {
			return r, err
		}
	}
	// Persistent Chat's managers change a room's settings and lists:
	// XEP-0045 owners (admins, set over XMPP, are managers too).
	for _, m := range req.Managers {
		if err := add(m, AffOwner, false); err != nil {
			return r, err
		}
	}
	for _, m := range req.Members {
		if err := add(m, AffMember, false); err != nil {
			return r, err
		}
	}
	for _, m := range req.Presenters {
		if err := add(m, AffMember, true); err != nil {
			return r, err
		}
	}
	ev := e.event("room.create", r.Name, req.Creator, map[string]any{"room": r, "affiliations": affs})
	switch err := e.cfg.Store.CreateRoom(ctx, r, affs, ev); {
	case errors.Is(err, storage.ErrExists):
		return r, refuse(CodeConflict, "room %q exists", r.Name)
	case errors.Is(err, storage.ErrNotFound):
		return r, refuse(CodeNotFound, "no category %q", r.Category)
	case err != nil:
		return r, fmt.Errorf("muc: creating room %s: %w", r.Name, err)
	}
	e.metrics.roomsCreated.Inc()
	e.logAdmin(ev)
	return r, nil
}

// Room returns a room's stored state, if asker may see it: secret rooms
// exist only for their members and managers.
func (e *Engine) Room(ctx context.Context, name, asker string) (storage.Room, error) {
	r, err := e.room(ctx, name)
	if err != nil {
		return r, err
	}
	if ok, err := e.maySee(ctx, r, asker); err != nil || !ok {
		if err == nil {
			err = noRoom(name)
		}
		return storage.Room{}, err
	}
	return r, nil
}

// maySee reports whether asker may know that r exists: not a secret
// room's outsiders (hidden), and not a disabled listed room but for the
// administrator.
func (e *Engine) maySee(ctx context.Context, r storage.Room, asker string) (bool, error) {
	if isAdmin(asker) {
		return true, nil
	}
	hide, err := e.hiddenFrom(ctx, r, asker)
	return !hide && !(r.Public && r.Disabled), err
}

// ListRooms lists the rooms asker may see, optionally of one category.
func (e *Engine) ListRooms(ctx context.Context, asker, category string) ([]storage.Room, error) {
	all, err := e.cfg.Store.Rooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("muc: listing rooms: %w", err)
	}
	var out []storage.Room
	for _, r := range all {
		if category != "" && r.Category != category {
			continue
		}
		ok, err := e.maySee(ctx, r, asker)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b storage.Room) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Configure changes a room's settings. Only its owners (and the
// administrator) may; members stay allowed by the (possibly new) category.
// Occupants are told (status 104, and 170/171 style changes are the front
// door's to render).
func (e *Engine) Configure(ctx context.Context, actor, name string, change func(*storage.Room) error) (storage.Room, error) {
	h := e.lockHost(name)
	defer e.unlockHost(h)
	r, err := e.room(ctx, name)
	if err != nil {
		return r, err
	}
	if !isAdmin(actor) {
		st, err := e.standingOf(ctx, name, actor)
		if err != nil {
			return r, err
		}
		if st.aff != AffOwner {
			return r, e.outsiderRefusal(ctx, r, actor, refuse(CodeForbidden, "only owners configure a room"))
		}
	}
	updated := r
	if err := change(&updated); err != nil {
		return r, err
	}
	updated.Name, updated.Created, updated.Creator = r.Name, r.Created, r.Creator
	updated.Updated = e.cfg.Now().UTC()
	if updated.Category != r.Category {
		cat, err := e.category(ctx, updated.Category)
		if err != nil {
			return r, err
		}
		if !e.mayCreate(ctx, cat, actor) {
			return r, refuse(CodeForbidden, "%s may not move rooms into category %q", actor, cat.Name)
		}
		affs, err := e.cfg.Store.Affiliations(ctx, name)
		if err != nil {
			return r, fmt.Errorf("muc: reading affiliations: %w", err)
		}
		for _, a := range affs {
			if a.Affiliation != storage.AffiliationOutcast && !e.allowed(ctx, cat, a.JID) {
				return r, wall(a.JID, cat)
			}
		}
	}
	ev := e.event("room.config", name, actor, map[string]any{"before": r, "after": updated})
	if err := e.cfg.Store.UpdateRoom(ctx, updated, ev); err != nil {
		return r, fmt.Errorf("muc: updating room %s: %w", name, err)
	}
	e.logAdmin(ev)
	h.locked = false
	if updated.Disabled && !r.Disabled {
		h.evictAll(Event{Kind: EventDestroyed, Room: name, Reason: "the room was disabled", Time: e.cfg.Now()})
		return updated, nil
	}
	h.broadcast(Event{Kind: EventConfig, Room: name, Config: &updated, Status: []int{StatusConfigChanged}, Time: e.cfg.Now()})
	// Made members-only (XEP-0045 §9.3: 322 for non-members) or moved
	// into a category that walls someone in it out.
	cat, err := e.category(ctx, updated.Category)
	if err == nil {
		err = e.settleLocked(ctx, h, updated, cat)
	}
	if err != nil {
		// Stored, but not applied to the occupants here: the room
		// change log applies it on its next read.
		e.log.Error("applying a room's new configuration to its occupants", "room", name, "err", err)
	}
	return updated, nil
}

// evictAll tells every session the room is gone and forgets them.
func (h *host) evictAll(ev Event) {
	h.broadcast(ev)
	clear(h.occupants)
	clear(h.byAddress)
	clear(h.byRole)
}

// remove forgets an occupant and its sessions.
func (h *host) remove(nick string) {
	o := h.occupants[nick]
	if o == nil {
		return
	}
	for _, s := range o.Sessions {
		delete(h.byAddress, s.Address)
	}
	h.drop(o)
	h.unindexNick(nick)
}

// Destroy deletes a room (XEP-0045 §10.9): occupants are told, with the
// reason and an alternate venue; history goes with it.
func (e *Engine) Destroy(ctx context.Context, actor, name, reason, venue string) error {
	h := e.lockHost(name)
	defer e.unlockHost(h)
	r, err := e.room(ctx, name)
	if err != nil {
		return err
	}
	if !isAdmin(actor) {
		st, err := e.standingOf(ctx, name, actor)
		if err != nil {
			return err
		}
		if st.aff != AffOwner {
			return e.outsiderRefusal(ctx, r, actor, refuse(CodeForbidden, "only owners destroy a room"))
		}
	}
	ev := e.event("room.delete", name, actor, map[string]string{"reason": reason, "alternate": venue})
	if err := e.cfg.Store.DeleteRoom(ctx, name, ev); err != nil {
		return fmt.Errorf("muc: deleting room %s: %w", name, err)
	}
	e.logAdmin(ev)
	h.evictAll(Event{Kind: EventDestroyed, Room: name, Actor: shownActor(actor), Reason: reason, AlternateVenue: venue, Time: e.cfg.Now()})
	return nil
}

// policyJID normalises a JID stored in affiliations or a category's lists
// (internal/identity: RFC 7622, PRECIS), so that every spelling of one
// user is one entry: a bare JID, a domain (every user of it), "*" or a
// directory group (GroupPrefix, kept as it is).
func policyJID(j string) (string, error) {
	n, err := identity.PolicyEntry(strings.TrimSpace(j), GroupPrefix)
	if err != nil {
		return "", refuse(CodeBadRequest, "invalid JID %q: want a bare JID (alice@example.org)", j)
	}
	return n, nil
}

// policyList is policyJID over a list, without repeats.
func policyList(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, j := range list {
		n, err := policyJID(j)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
