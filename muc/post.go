package muc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// PostRequest is a message to a room: a post, or a correction (XEP-0308),
// retraction (XEP-0424) or moderation (XEP-0425) of an earlier one.
type PostRequest struct {
	Room string
	// Address is the sending session. A session that is not in the room
	// may post only when AsUser is set (SIP pager mode, where posting does
	// not require joining): then the room's join rules apply to AsUser.
	Address string
	AsUser  string
	// FrontDoor is "xmpp" or "sip", recorded with the post.
	FrontDoor string
	Kind      string // storage.KindPost (default), KindCorrection, KindRetraction, KindModeration
	// Target is the stanza-id a correction, retraction or moderation
	// applies to.
	Target string
	Body   string
	// AltBodies is the text of the message's bodies in other languages,
	// one per line: searchable with Body (storage.HistoryMessage).
	AltBodies string
	OriginID  string
	// Stanza is the message as the front door received it (an XMPP
	// stanza, or the SIP body); it is archived as is.
	Stanza []byte
	// Reason explains a moderation.
	Reason string
}

// Post commits a message to the room's history and the compliance outbox
// in one transaction and only then delivers it to every occupant (DESIGN
// §3). It returns the committed history entry. Followers of the room are
// alerted after that, outside the room's lock (feeds.go).
func (e *Engine) Post(ctx context.Context, req PostRequest) (*storage.HistoryMessage, error) {
	if len(req.Body) > e.cfg.MaxBodyLength {
		return nil, refuse(CodeNotAcceptable, "message longer than %d bytes", e.cfg.MaxBodyLength)
	}
	var alert func(context.Context)
	defer func() {
		if alert != nil {
			alert(ctx) // deferred first, so it runs after unlockHost
		}
	}()
	h := e.lockHost(req.Room)
	defer e.unlockHost(h)
	r, err := e.room(ctx, req.Room)
	if err != nil {
		return nil, err
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return nil, err
	}
	if h.occupantAt(req.Address) == nil {
		// A secret room does not exist for a sender outside it, even a
		// disabled one.
		user := req.AsUser
		if user == "" {
			user, _, _ = strings.Cut(req.Address, "/")
		}
		st, err := e.standingOf(ctx, r.Name, user)
		if err != nil {
			return nil, err
		}
		if e.hidden(ctx, r, cat, st, user) {
			return nil, noRoom(r.Name)
		}
	}
	if r.Disabled {
		return nil, refuse(CodeForbidden, "room %q is disabled", r.Name)
	}
	// A wall or privacy change made elsewhere holds before this post:
	// whoever it shuts out is removed first, and cannot post or read it.
	if err := e.freshLocked(ctx, h, r, cat); err != nil {
		return nil, err
	}
	// A directory group changed writes nothing the freshness check sees:
	// the wall is applied to the poster's groups as they are now.
	if o := h.occupantAt(req.Address); o != nil && groupWalled(cat) && !isAdmin(o.User) && !e.allowed(ctx, cat, o.User) {
		if err := e.settleLocked(ctx, h, r, cat); err != nil {
			return nil, err
		}
		return nil, walledOut()
	}
	sender, err := e.sender(ctx, h, r, cat, req)
	if err != nil {
		return nil, err
	}
	kind := req.Kind
	if kind == "" {
		kind = storage.KindPost
	}
	msg := &storage.HistoryMessage{
		Room:       r.Name,
		StanzaID:   newID(),
		OriginID:   req.OriginID,
		OccupantID: sender.OccupantID,
		Nick:       sender.Nick,
		RealJID:    sender.User,
		FrontDoor:  req.FrontDoor,
		Kind:       kind,
		Target:     req.Target,
		Body:       req.Body,
		AltBodies:  req.AltBodies,
		Stanza:     req.Stanza,
		Time:       e.cfg.Now().UTC(),
	}
	switch kind {
	case storage.KindPost:
		if sender.Role == RoleVisitor {
			return nil, refuse(CodeForbidden, "only presenters may post in auditorium %q", r.Name)
		}
	case storage.KindCorrection, storage.KindRetraction, storage.KindModeration:
		if err := e.checkTarget(ctx, r, sender, req, kind); err != nil {
			return nil, err
		}
	default:
		return nil, refuse(CodeBadRequest, "unknown message kind %q", kind)
	}
	ev := e.event(kind, r.Name, sender.User, map[string]any{
		"stanza_id": msg.StanzaID, "origin_id": msg.OriginID, "nick": msg.Nick, "front_door": msg.FrontDoor,
		"target": msg.Target, "body": msg.Body, "stanza": string(msg.Stanza), "reason": req.Reason,
		"history_kept": cat.ChatHistory})
	write := storage.PostWrite{Event: ev}
	if cat.ChatHistory {
		write.History = msg
	}
	if kind == storage.KindRetraction || kind == storage.KindModeration {
		// The retracted message stays as a tombstone, never silently
		// deleted; it is replaced in the same transaction as the
		// retraction and its event, which records it (DESIGN §6).
		tomb := "This message was retracted."
		if kind == storage.KindModeration {
			tomb = "This message was removed by a moderator."
		}
		write.Tombstone = &storage.TombstoneWrite{StanzaID: req.Target, Body: tomb}
	}
	if e.cfg.Fence != nil {
		if write.Fence, err = e.cfg.Fence(r.Name); err != nil {
			return nil, fmt.Errorf("muc: post to %s: %w", r.Name, err)
		}
	}
	began := time.Now()
	written, err := e.commits.commit(e.cfg.Store, write)
	if err == nil {
		e.metrics.committed(time.Since(began))
	}
	if errors.Is(err, storage.ErrFenced) {
		e.evictLocked(h)
		return nil, fmt.Errorf("muc: post to %s: %w", r.Name, err)
	}
	if write.Tombstone != nil && errors.Is(err, storage.ErrNotFound) {
		// The target went away since checkTarget (removed by an
		// administrator): nothing was written.
		return nil, refuse(CodeNotFound, "no message %q in room %q", req.Target, r.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("muc: committing post to %s: %w", r.Name, err)
	}
	if written.History != nil {
		msg = written.History
	}
	h.broadcast(Event{Kind: EventMessage, Room: r.Name, Occupant: sender, Message: msg, Reason: req.Reason, Time: msg.Time})
	alert = e.alertFollowers(h, r, cat, msg)
	return msg, nil
}

// sender resolves who posts: the occupant behind the session, or, for a
// non-occupant allowed to post (AsUser), a standing checked like a join.
func (e *Engine) sender(ctx context.Context, h *host, r storage.Room, cat storage.Category, req PostRequest) (Occupant, error) {
	if o := h.occupantAt(req.Address); o != nil {
		return o.snapshot(), nil
	}
	if req.AsUser == "" {
		return Occupant{}, refuse(CodeNotAcceptable, "join room %q before posting", r.Name)
	}
	st, err := e.standingOf(ctx, r.Name, req.AsUser)
	if err != nil {
		return Occupant{}, err
	}
	switch {
	case !e.allowed(ctx, cat, req.AsUser):
		return Occupant{}, walledOut()
	case e.localOnly(cat, req.AsUser) != nil:
		return Occupant{}, e.localOnly(cat, req.AsUser)
	case st.aff == AffOutcast:
		return Occupant{}, refuse(CodeForbidden, "you are banned from %q", r.Name)
	case r.MembersOnly && st.aff == AffNone:
		return Occupant{}, refuse(CodeForbidden, "room %q is for members only", r.Name)
	}
	nick := req.AsUser
	if i := strings.IndexByte(nick, '@'); i > 0 {
		nick = nick[:i]
	}
	return Occupant{
		Room: r.Name, Nick: nick, User: req.AsUser, OccupantID: e.OccupantID(r.Name, req.AsUser),
		Affiliation: st.aff, Role: defaultRole(st.aff, st.presenter, r),
	}, nil
}

// checkTarget enforces who may correct, retract or moderate what:
// corrections and retractions only of one's own messages, moderation only
// by managers (moderators).
func (e *Engine) checkTarget(ctx context.Context, r storage.Room, sender Occupant, req PostRequest, kind string) error {
	if req.Target == "" {
		return refuse(CodeBadRequest, "%s needs the id of the message it applies to", kind)
	}
	target, err := e.cfg.Store.HistoryByStanzaID(ctx, r.Name, req.Target)
	if errors.Is(err, storage.ErrNotFound) {
		return refuse(CodeNotFound, "no message %q in room %q", req.Target, r.Name)
	}
	if err != nil {
		return fmt.Errorf("muc: reading message %s: %w", req.Target, err)
	}
	switch kind {
	case storage.KindModeration:
		if sender.Role != RoleModerator {
			return refuse(CodeForbidden, "only managers moderate messages")
		}
	default:
		if target.RealJID != sender.User {
			return refuse(CodeForbidden, "you may %s only your own messages", map[string]string{
				storage.KindCorrection: "correct", storage.KindRetraction: "retract"}[kind])
		}
		if sender.Role == RoleVisitor {
			return refuse(CodeForbidden, "only presenters may post in auditorium %q", r.Name)
		}
	}
	if target.Tombstone {
		return refuse(CodeNotAllowed, "message %q was already removed", req.Target)
	}
	return nil
}

// SetSubject changes the room's subject (XEP-0045 §8.1): moderators may,
// and participants too when the room allows it.
func (e *Engine) SetSubject(ctx context.Context, room, address, subject string, stanza []byte) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	o := h.occupantAt(address)
	if o == nil {
		return refuse(CodeNotAcceptable, "join room %q first", room)
	}
	r, err := e.room(ctx, room)
	if err != nil {
		return err
	}
	if o.Role != RoleModerator && !(r.ChangeSubject == "participants" && o.Role == RoleParticipant) {
		return refuse(CodeForbidden, "only moderators change the subject of %q", room)
	}
	now := e.cfg.Now().UTC()
	r.Subject, r.SubjectNick, r.SubjectTime, r.Updated = subject, o.Nick, now, now
	ev := e.event("subject", room, o.User, map[string]string{"nick": o.Nick, "subject": subject})
	if err := e.cfg.Store.UpdateRoom(ctx, r, ev); err != nil {
		return fmt.Errorf("muc: storing subject of %s: %w", room, err)
	}
	msg := &storage.HistoryMessage{Room: room, StanzaID: newID(), OccupantID: o.OccupantID, Nick: o.Nick,
		RealJID: o.User, Kind: storage.KindSubject, Body: subject, Stanza: stanza, Time: now}
	h.broadcast(Event{Kind: EventSubject, Room: room, Occupant: o.snapshot(), Message: msg, Time: now})
	return nil
}

// SendPrivate delivers a private message between two occupants (XEP-0045
// §7.5), if the room allows it. Private messages are not archived; they
// are captured for compliance.
func (e *Engine) SendPrivate(ctx context.Context, room, address, toNick string, payload []byte, body string) (PrivateSent, error) {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	from := h.occupantAt(address)
	if from == nil {
		return PrivateSent{}, refuse(CodeNotAcceptable, "join room %q first", room)
	}
	to := h.occupants[toNick]
	if to == nil {
		return PrivateSent{}, refuse(CodeNotFound, "no occupant %q in %q", toNick, room)
	}
	r, err := e.room(ctx, room)
	if err != nil {
		return PrivateSent{}, err
	}
	allowed := false
	switch r.AllowPM {
	case "anyone", "":
		allowed = true
	case "participants":
		allowed = from.Role == RoleParticipant || from.Role == RoleModerator
	case "moderators":
		allowed = from.Role == RoleModerator
	}
	if !allowed {
		return PrivateSent{}, refuse(CodeNotAllowed, "private messages are not allowed in %q", room)
	}
	if err := e.cfg.Store.AppendOutbox(ctx, e.event("private", room, from.User, map[string]string{
		"from_nick": from.Nick, "to_nick": to.Nick, "to": to.User, "body": body})); err != nil {
		return PrivateSent{}, fmt.Errorf("muc: recording private message: %w", err)
	}
	ev := Event{Kind: EventPrivate, Room: room, Occupant: from.snapshot(), Private: payload, To: to.Nick, Time: e.cfg.Now()}
	for _, s := range to.Sessions {
		s.Sink.Deliver(ev)
	}
	return PrivateSent{FromNick: from.Nick, To: to.User}, nil
}

// PrivateSent says between whom SendPrivate passed a private message, for
// the front door that keeps it in the users' own archives.
type PrivateSent struct {
	// FromNick is the sender's nick in the room.
	FromNick string `json:"from_nick"`
	// To is the recipient's user (bare JID, or sip: address).
	To string `json:"to"`
}

// Invite checks that an occupant may invite someone to the room — the
// category allows invitations, and the room does or the inviter manages
// it (XEP-0045 §7.8) — and captures the invitation. The front door then
// delivers it.
func (e *Engine) Invite(ctx context.Context, room, address, invitee string) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	from := h.occupantAt(address)
	if from == nil {
		return refuse(CodeNotAcceptable, "only occupants of %q invite", room)
	}
	r, cat, err := e.roomAndCategory(ctx, room)
	if err != nil {
		return err
	}
	switch {
	case !cat.Invitations:
		return refuse(CodeNotAllowed, "category %q does not allow invitations", cat.Name)
	case !r.AllowInvites && !from.Affiliation.IsManager():
		return refuse(CodeNotAllowed, "only managers invite to %q", room)
	}
	if err := e.cfg.Store.AppendOutbox(ctx, e.event("invitation", room, from.User, map[string]string{"to": invitee, "nick": from.Nick})); err != nil {
		return fmt.Errorf("muc: recording invitation: %w", err)
	}
	// XEP-0045 §7.8.2: a manager's invitation to a members-only room
	// makes the invitee a member, if the category allows them.
	if r.MembersOnly && from.Affiliation.IsManager() && e.allowed(ctx, cat, invitee) {
		st, err := e.standingOf(ctx, room, invitee)
		if err != nil {
			return err
		}
		if st.aff == AffNone {
			a := storage.Affiliation{Room: room, JID: invitee, Affiliation: string(AffMember), Reason: "invited by " + from.User}
			ev := e.event("affiliation", room, from.User, map[string]string{"jid": invitee, "affiliation": "member", "before": "none", "reason": "invitation"})
			if err := e.cfg.Store.SetAffiliation(ctx, a, ev); err != nil {
				return fmt.Errorf("muc: adding invitee as member: %w", err)
			}
		}
	}
	return nil
}
