package muc

import (
	"context"
	"fmt"

	"github.com/parleychat/parley/storage"
)

// SetRole changes an occupant's role (XEP-0045 §8.2-8.6, §9.6-9.7): kick
// (none), voice (participant), revoke voice (visitor), and grant or revoke
// moderator. actorAddress is the moderator's session; ActorAdmin may act
// without being in the room.
func (e *Engine) SetRole(ctx context.Context, room, actorAddress, nick string, role Role, reason string) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	target := h.occupants[nick]
	if target == nil {
		return refuse(CodeNotFound, "no occupant %q in %q", nick, room)
	}
	actorUser, actorAff := ActorAdmin, AffOwner
	if !isAdmin(actorAddress) {
		actor := h.occupantAt(actorAddress)
		if actor == nil || actor.Role != RoleModerator {
			return refuse(CodeForbidden, "only moderators change roles")
		}
		actorUser, actorAff = actor.User, actor.Affiliation
		// Granting or revoking moderator is for admins and owners
		// (§9.6, §9.7); nobody acts on an equal or higher affiliation
		// except owners on admins... kept simple: strictly higher.
		if (role == RoleModerator || target.Role == RoleModerator) && !actorAff.IsManager() {
			return refuse(CodeForbidden, "only managers grant or revoke moderator")
		}
		if target.Affiliation.rank() >= actorAff.rank() && target.User != actor.User {
			return refuse(CodeNotAllowed, "you cannot change the role of a %s", target.Affiliation)
		}
	}
	switch role {
	case RoleNone, RoleVisitor, RoleParticipant, RoleModerator:
	default:
		return refuse(CodeBadRequest, "unknown role %q", role)
	}
	ev := e.event("role", room, actorUser, map[string]string{"nick": nick, "user": target.User, "role": string(role), "reason": reason})
	if role == RoleNone {
		ev.Type = "kick"
	}
	if err := e.commits.record(e.cfg.Store, ev); err != nil {
		return fmt.Errorf("muc: recording role change: %w", err)
	}
	e.logAdmin(ev)
	if role == RoleNone {
		gone := target.snapshot()
		gone.Role = RoleNone
		h.presence(target, Event{Kind: EventPresence, Room: room, Occupant: gone, Status: []int{StatusKicked}, Actor: actorUser, ActorNick: h.nickOf(actorUser), Reason: reason, Time: e.cfg.Now()})
		h.remove(nick)
		return nil
	}
	was := target.Role
	h.setRole(target, role)
	h.roleChanged(target, was, Event{Kind: EventPresence, Room: room, Occupant: target.snapshot(), Actor: actorUser, Reason: reason, Time: e.cfg.Now()})
	return nil
}

// SetAffiliation changes a user's lasting standing (XEP-0045 §9, §10):
// ban (outcast), member, admin, owner or none. Owners change anything;
// admins only members, outcasts and none below admin. A user the category
// denies can never be made a member, admin or owner. Occupants affected
// are told (status 321, or 301 and removal for a ban, or removal from a
// members-only room).
func (e *Engine) SetAffiliation(ctx context.Context, room, actor, jid string, aff Affiliation, reason string) error {
	jid, err := policyJID(jid)
	if err != nil {
		return err
	}
	h := e.lockHost(room)
	defer e.unlockHost(h)
	r, cat, err := e.roomAndCategory(ctx, room)
	if err != nil {
		return err
	}
	current, err := e.standingOf(ctx, room, jid)
	if err != nil {
		return err
	}
	if !isAdmin(actor) {
		st, err := e.standingOf(ctx, room, actor)
		if err != nil {
			return err
		}
		switch {
		case st.aff == AffOwner:
			if jid == actor && aff != AffOwner {
				if err := e.keepOneOwner(ctx, room, jid); err != nil {
					return err
				}
			}
		case st.aff == AffAdmin:
			if aff.rank() >= AffAdmin.rank() || current.aff.rank() >= AffAdmin.rank() {
				return refuse(CodeNotAllowed, "admins change only members, outcasts and none")
			}
		default:
			return e.outsiderRefusal(ctx, r, actor, refuse(CodeForbidden, "only managers change affiliations"))
		}
	}
	switch aff {
	case AffOwner, AffAdmin, AffMember:
		if !e.allowed(ctx, cat, jid) {
			return wall(jid, cat)
		}
	case AffOutcast, AffNone:
	default:
		return refuse(CodeBadRequest, "unknown affiliation %q", aff)
	}
	a := storage.Affiliation{Room: room, JID: jid, Affiliation: string(aff), Presenter: current.presenter && aff != AffOutcast, Reason: reason}
	typ := "affiliation"
	if aff == AffOutcast {
		typ = "ban"
	}
	ev := e.event(typ, room, actor, map[string]string{"jid": jid, "affiliation": string(aff), "before": string(current.aff), "reason": reason})
	if err := e.cfg.Store.SetAffiliation(ctx, a, ev); err != nil {
		return fmt.Errorf("muc: storing affiliation: %w", err)
	}
	e.logAdmin(ev)
	e.applyStandingLocked(ctx, h, r, cat, jid, standing{aff, a.Presenter}, actor, reason)
	return nil
}

// SetPresenter makes a user a presenter of an auditorium, or not
// (Persistent Chat's presenters: lasting voice). Managers and the
// administrator may.
func (e *Engine) SetPresenter(ctx context.Context, room, actor, jid string, presenter bool) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	r, cat, err := e.roomAndCategory(ctx, room)
	if err != nil {
		return err
	}
	if !isAdmin(actor) {
		st, err := e.standingOf(ctx, room, actor)
		if err != nil {
			return err
		}
		if !st.aff.IsManager() {
			return e.outsiderRefusal(ctx, r, actor, refuse(CodeForbidden, "only managers choose presenters"))
		}
	}
	current, err := e.standingOf(ctx, room, jid)
	if err != nil {
		return err
	}
	aff := current.aff
	if presenter {
		if !e.allowed(ctx, cat, jid) {
			return wall(jid, cat)
		}
		if aff == AffOutcast {
			return refuse(CodeNotAllowed, "%s is banned from %q", jid, room)
		}
		if aff == AffNone {
			aff = AffMember
		}
	}
	a := storage.Affiliation{Room: room, JID: jid, Affiliation: string(aff), Presenter: presenter}
	ev := e.event("presenter", room, actor, map[string]any{"jid": jid, "presenter": presenter})
	if err := e.cfg.Store.SetAffiliation(ctx, a, ev); err != nil {
		return fmt.Errorf("muc: storing presenter: %w", err)
	}
	e.logAdmin(ev)
	e.applyStandingLocked(ctx, h, r, cat, jid, standing{aff, presenter}, actor, "")
	return nil
}

// keepOneOwner refuses to let the last owner step down (XEP-0045 §10.6).
func (e *Engine) keepOneOwner(ctx context.Context, room, leaving string) error {
	affs, err := e.cfg.Store.Affiliations(ctx, room)
	if err != nil {
		return fmt.Errorf("muc: reading affiliations: %w", err)
	}
	for _, a := range affs {
		if a.Affiliation == storage.AffiliationOwner && a.JID != leaving {
			return nil
		}
	}
	return refuse(CodeConflict, "a room keeps at least one owner")
}

// applyStandingLocked updates the occupants of user after an affiliation
// or presenter change: those who may no longer be in the room are removed
// (301, 321 or 322), the others get their new role; the user's watches of
// a room they may no longer read end.
func (e *Engine) applyStandingLocked(ctx context.Context, h *host, r storage.Room, cat storage.Category, user string, st standing, actor, reason string) {
	var out []removal
	for nick, o := range h.occupants {
		if o.User != user {
			continue
		}
		if status, cause := removalStatus(r, e.forUser(ctx, cat, o.User), o, st); status != 0 {
			out = append(out, removal{nick, st.aff, status, cause})
			continue
		}
		e.setStandingLocked(h, r, o, st, actor, reason)
	}
	e.removeLocked(ctx, h, out, actor, reason)
	e.revokeWatchersLocked(h, func(u string) error {
		if u != user {
			return nil
		}
		return e.mayReadWith(ctx, r, cat, st, u)
	})
}

// Affiliations lists a room's users with affiliation aff ("" for all).
// Managers may list; members may list members (XEP-0045 §9.5, §10.5).
func (e *Engine) Affiliations(ctx context.Context, room, asker string, aff Affiliation) ([]storage.Affiliation, error) {
	r, err := e.room(ctx, room)
	if err != nil {
		return nil, err
	}
	if !isAdmin(asker) {
		st, err := e.standingOf(ctx, room, asker)
		if err != nil {
			return nil, err
		}
		if !st.aff.IsManager() && !(aff == AffMember && st.aff == AffMember) {
			return nil, e.outsiderRefusal(ctx, r, asker, refuse(CodeForbidden, "only managers list affiliations"))
		}
	}
	all, err := e.cfg.Store.Affiliations(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("muc: reading affiliations: %w", err)
	}
	var out []storage.Affiliation
	for _, a := range all {
		if aff == "" || Affiliation(a.Affiliation) == aff {
			out = append(out, a)
		}
	}
	return out, nil
}
