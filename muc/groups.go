package muc

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// Directory groups in policy. A category's allowed members, denied members
// and creators, and a room's affiliations (members, managers, presenters),
// may name a group of an external directory instead of a user:
// "group:NAME" or "group:DN" (GroupPrefix and what the directory takes
// for a group: package ldapauth, the group's cn under --ldap-group-base or
// its whole DN). The engine does not know directories: it asks the Groups
// it is given whether a user is in a group, at every check (join, post,
// read, create), and the implementation caches (--ldap-cache-ttl).
//
// A group entry is expanded per user before the rules run: a user in the
// group stands in the list as themselves. When membership cannot be
// resolved (the directory is down and nothing is cached) the answer fails
// closed: the user is taken to be in a denied group and not in an allowed
// one, so an outage never opens a wall.
//
// A user's own entry in a room's affiliations wins over the groups they
// are in (a user banned by name stays banned); among the groups, a ban
// wins, then the highest affiliation, and presenter if any group gives it.
// A group's affiliation is not checked against the category's wall: the
// wall is checked for each person at their join and post.
//
// Membership changes in the directory write nothing to the room change
// log: FollowGroups rechecks the live rooms whose policy names a group
// every interval, so that a user added to a denied group leaves the rooms
// they are in (revoke.go's removal, status 321, cause "ethical wall").

// GroupPrefix starts a policy entry that names a directory group.
const GroupPrefix = "group:"

// Groups resolves directory groups named in policy. Package ldapauth
// implements it; parleyd and parleyctl wire it in (Config.Groups).
type Groups interface {
	// InGroup reports whether user (a bare JID) is a member of group (what
	// follows GroupPrefix: a name or a DN), directly or through nested
	// groups. An error means it could not be resolved now.
	InGroup(ctx context.Context, user, group string) (bool, error)
}

// IsGroup reports whether a policy entry names a directory group.
func IsGroup(entry string) bool { return strings.HasPrefix(entry, GroupPrefix) }

// hasGroups reports whether a list names a directory group.
func hasGroups(list []string) bool { return slices.ContainsFunc(list, IsGroup) }

// groupWalled reports whether a category's wall names directory groups.
func groupWalled(c storage.Category) bool {
	return hasGroups(c.AllowedMembers) || hasGroups(c.DeniedMembers)
}

// inGroup asks Config.Groups. Without one (no directory configured) no
// group can be resolved: the answer is failClosed, as in an outage, so
// that a wall naming a group never opens because the directory settings
// went missing.
func (e *Engine) inGroup(ctx context.Context, user, entry string, failClosed bool) bool {
	if IsGroup(user) {
		return false
	}
	if e.cfg.Groups == nil {
		return failClosed
	}
	in, err := e.cfg.Groups.InGroup(ctx, user, strings.TrimPrefix(entry, GroupPrefix))
	if err != nil {
		e.log.Warn("cannot resolve a directory group; failing closed", "user", user, "group", entry, "err", err)
		return failClosed
	}
	return in
}

// expand returns list with each group user is in replaced by user, so
// that the plain list rules (listed, inList) apply. A group user is not in
// stays as it is: it matches nobody, and an allowed-members list that
// names only groups does not become empty (which would allow everyone).
// failClosed is the answer when membership cannot be resolved.
func (e *Engine) expand(ctx context.Context, list []string, user string, failClosed bool) []string {
	if !hasGroups(list) {
		return list
	}
	out := slices.Clone(list)
	for i, entry := range out {
		if IsGroup(entry) && e.inGroup(ctx, user, entry, failClosed) {
			out[i] = user
		}
	}
	return out
}

// forUser returns c with the groups in its lists resolved for user.
func (e *Engine) forUser(ctx context.Context, c storage.Category, user string) storage.Category {
	c.AllowedMembers = e.expand(ctx, c.AllowedMembers, user, false)
	c.DeniedMembers = e.expand(ctx, c.DeniedMembers, user, true)
	c.Creators = e.expand(ctx, c.Creators, user, false)
	return c
}

// allowed applies the category's ethical wall (allowedBy) to user with
// the directory groups resolved. An affiliation that names a group is
// not judged here: its members are, one by one, when they come in.
func (e *Engine) allowed(ctx context.Context, c storage.Category, user string) bool {
	if IsGroup(user) {
		return true
	}
	return allowedBy(e.forUser(ctx, c, user), user)
}

// mayCreate reports whether the category's creators list user, with the
// directory groups resolved.
func (e *Engine) mayCreate(ctx context.Context, c storage.Category, user string) bool {
	return isAdmin(user) || listed(e.expand(ctx, c.Creators, user, false), user)
}

// standingTable is a room's affiliations by bare JID, and those that name
// directory groups.
type standingTable struct {
	users  map[string]standing
	groups []groupStanding
}

type groupStanding struct {
	group string // with GroupPrefix
	st    standing
}

// add puts one stored affiliation in the table.
func (t *standingTable) add(a storage.Affiliation) {
	st := standing{Affiliation(a.Affiliation), a.Presenter}
	if IsGroup(a.JID) {
		t.groups = append(t.groups, groupStanding{a.JID, st})
		return
	}
	if t.users == nil {
		t.users = make(map[string]standing)
	}
	t.users[a.JID] = st
}

// standingFrom is user's standing: their own entry, else what the groups they are
// in give (a ban wins, then the highest affiliation), else none. An
// unresolvable group gives nothing, except a ban.
func (e *Engine) standingFrom(ctx context.Context, t standingTable, user string) standing {
	if st, ok := t.users[user]; ok {
		return st
	}
	out := standing{aff: AffNone}
	for _, g := range t.groups {
		banned := g.st.aff == AffOutcast
		if !e.inGroup(ctx, user, g.group, banned) {
			continue
		}
		switch {
		case banned:
			return standing{aff: AffOutcast}
		case g.st.aff.rank() > out.aff.rank():
			out.aff = g.st.aff
		}
		out.presenter = out.presenter || g.st.presenter
	}
	return out
}

// policyNamesGroups reports whether a room's standing depends on directory
// groups: its category's lists or its affiliations name one.
func (e *Engine) policyNamesGroups(ctx context.Context, room string) (bool, error) {
	r, cat, err := e.roomAndCategory(ctx, room)
	if err != nil {
		return false, err
	}
	if groupWalled(cat) {
		return true, nil
	}
	affs, err := e.cfg.Store.Affiliations(ctx, r.Name)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(affs, func(a storage.Affiliation) bool { return IsGroup(a.JID) }), nil
}

// FollowGroups rechecks, every interval until ctx ends, the live rooms on
// this engine whose policy names a directory group (revoke.go's recheck),
// so that membership changed in the directory holds for the people inside
// within about interval plus the groups' cache time. It does nothing
// without Config.Groups. The server runs it for as long as it serves.
func (e *Engine) FollowGroups(ctx context.Context, interval time.Duration) error {
	if e.cfg.Groups == nil {
		return nil
	}
	if interval <= 0 {
		interval = time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, room := range e.liveRooms() {
			named, err := e.policyNamesGroups(ctx, room)
			if err != nil || !named {
				continue
			}
			e.access.groupChecks.Add(1)
			e.warmGroups(ctx, room)
			if err := e.recheck(ctx, room, ""); err != nil && ctx.Err() == nil {
				e.log.Error("rechecking a room's directory groups", "room", room, "err", err)
			}
		}
	}
}

// warmGroups asks Groups about each occupant of room before the recheck
// takes the room's lock, so that the directory lookups of a large room
// (one per user whose cached groups expired) happen outside it and the
// recheck finds them cached. The answers are not used here.
func (e *Engine) warmGroups(ctx context.Context, room string) {
	seen := map[string]bool{}
	for _, o := range e.Occupants(room) {
		if !seen[o.User] && !isAdmin(o.User) {
			seen[o.User] = true
			_, _ = e.cfg.Groups.InGroup(ctx, o.User, "")
		}
	}
}
