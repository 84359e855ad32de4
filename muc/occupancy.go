package muc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
)

// HistoryRequest is what a joining client asks to be replayed (XEP-0045
// §7.2.14): limits that all apply; zero values mean "not given".
type HistoryRequest struct {
	// MaxStanzas < 0 means the room default; 0 means none.
	MaxStanzas int
	MaxChars   int
	Seconds    int
	Since      time.Time
}

// JoinRequest asks to enter a room.
type JoinRequest struct {
	Room     string
	Nick     string
	User     string // bare JID
	Session  Session
	Password string
	Presence []byte
	History  HistoryRequest
	// Create allows the join to create a missing room (XEP-0045 §10.1),
	// if User may create rooms in the default category.
	Create bool
}

// Joined is the state a new occupant receives, as the first event on its
// session (EventJoined), before any later event of the room: the other
// occupants, itself, the history and the subject, in the order XEP-0045
// §7.2 sends them.
type Joined struct {
	Room    storage.Room
	Self    Occupant
	Others  []Occupant
	History []storage.HistoryMessage
	// Created is true when the join created the room (status 201); the
	// room stays locked until its owner configures it.
	Created bool
	// Rejoin is true when the session was already in the room under the
	// same nick (a client resynchronising, XEP-0410).
	Rejoin bool
	// NickAssigned is true when Self.Nick is not the nick asked for but
	// its normalised form (NormalizeNick): XEP-0045 status 210.
	NickAssigned bool
}

// Resync puts a session back into a room's live state without telling
// anyone and without recording a join: the room has just moved to this
// node (DESIGN §4) and the session's node re-declares who of its sessions
// were in it. The session gets no EventJoined; its earlier join stands.
// A session already present, or a nick now held by another user, is left
// as it is (the latter is refused with CodeConflict). A session whose user
// lost access while the room moved (revoke.go) is not put back: it gets
// its removal (EventPresence with 301, 321 or 322, as the room's other
// occupants do), or EventDestroyed if the room was disabled or deleted.
func (e *Engine) Resync(ctx context.Context, req JoinRequest) error {
	nick, err := NormalizeNick(req.Nick)
	if err != nil {
		return err
	}
	h := e.lockHost(req.Room)
	defer e.unlockHost(h)
	if o := h.occupantAt(req.Session.Address); o != nil {
		for i := range o.Sessions {
			if o.Sessions[i].Address == req.Session.Address {
				o.Sessions[i] = req.Session // the newest way to reach it
			}
		}
		return nil
	}
	r, err := e.room(ctx, req.Room)
	if CodeOf(err) == CodeNotFound || (err == nil && r.Disabled) {
		if req.Session.Sink != nil {
			req.Session.Sink.Deliver(Event{Kind: EventDestroyed, Room: req.Room, Reason: "the room was closed", Time: e.cfg.Now()})
		}
		return nil
	}
	if err != nil {
		return err
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return err
	}
	st, err := e.standingOf(ctx, r.Name, req.User)
	if err != nil {
		return err
	}
	o := h.occupants[nick]
	if o != nil && o.User != req.User {
		return refuse(CodeConflict, "the nick %q is taken", nick)
	}
	// The room's setting as read now; nobody is told anything (the
	// previous host told them).
	h.quiet = quietRoles(r)
	// What the user was before the move is not known here: a non-member
	// of a members-only room lost its membership (321).
	was := &Occupant{User: req.User, Affiliation: AffMember}
	if status, cause := removalStatus(r, e.forUser(ctx, cat, req.User), was, st); status != 0 {
		gone := &Occupant{Room: r.Name, Nick: nick, User: req.User, OccupantID: e.OccupantID(r.Name, req.User),
			Affiliation: st.aff, Role: RoleNone, Presence: req.Presence, Sessions: []Session{req.Session}}
		if o == nil {
			// The room's other occupants saw it before the move.
			h.admit(gone)
			e.removeLocked(ctx, h, []removal{{nick, st.aff, status, cause}}, "", "")
		} else {
			// Its other sessions are still in, for now: only this one
			// is told (the change log removes the rest).
			ev := Event{Kind: EventPresence, Room: r.Name, Occupant: *gone, Status: []int{status}, Time: e.cfg.Now()}
			if req.Session.Sink != nil {
				req.Session.Sink.Deliver(ev)
			}
		}
		return nil
	}
	if o == nil {
		o = &Occupant{Room: r.Name, Nick: nick, User: req.User, OccupantID: e.OccupantID(r.Name, req.User),
			Affiliation: st.aff, Role: defaultRole(st.aff, st.presenter, r), Presence: req.Presence, presenter: st.presenter}
		h.admit(o)
		// The previous host let this nick in: it is indexed, not judged.
		h.indexNick(nick)
	}
	o.Sessions = append(o.Sessions, req.Session)
	h.byAddress[req.Session.Address] = nick
	return nil
}

// Join enters a room, or changes nick if the session is already in it
// under another nick. The result reaches the session as an EventJoined on
// its Sink, ordered before every later event of the room.
func (e *Engine) Join(ctx context.Context, req JoinRequest) error {
	nick, err := NormalizeNick(req.Nick)
	if err != nil {
		return err
	}
	if err := e.rateLimited(e.joinRate, req.User); err != nil {
		return err
	}
	h := e.lockHost(req.Room)
	defer e.unlockHost(h)
	if cur := h.occupantAt(req.Session.Address); cur != nil && cur.Nick != nick {
		return e.changeNickLocked(ctx, h, cur, req.Session.Address, nick)
	}

	created := false
	r, err := e.room(ctx, req.Room)
	if CodeOf(err) == CodeNotFound && req.Create {
		r, err = e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: req.Room}, Creator: req.User})
		if err == nil {
			created = true
			h.locked = true
		}
	}
	if err != nil {
		return err
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return err
	}
	st, err := e.standingOf(ctx, r.Name, req.User)
	if err != nil {
		return err
	}
	// A secret room does not exist for outsiders (as in disco): they get
	// what a join of a missing room gets, before even that it is disabled.
	if e.hidden(ctx, r, cat, st, req.User) {
		return e.absent(ctx, r.Name, req.User, req.Create)
	}
	if r.Disabled {
		return refuse(CodeForbidden, "room %q is disabled", r.Name)
	}
	// Those inside first: a wall or privacy change made elsewhere since
	// they were last checked holds before anyone new comes in.
	if err := e.freshLocked(ctx, h, r, cat); err != nil {
		return err
	}
	switch {
	case h.locked && st.aff != AffOwner:
		return refuse(CodeNotFound, "room %q is being created", r.Name)
	case !e.allowed(ctx, cat, req.User):
		return walledOut()
	case e.localOnly(cat, req.User) != nil:
		return e.localOnly(cat, req.User)
	case st.aff == AffOutcast:
		return refuse(CodeForbidden, "you are banned from %q", r.Name)
	case r.MembersOnly && st.aff == AffNone:
		return refuse(CodeRegistrationRequired, "room %q is for members only", r.Name)
	case r.Password != "" && req.Password != r.Password && !st.aff.IsManager():
		return refuse(CodeNotAuthorized, "room %q needs a password", r.Name)
	}

	o := h.occupants[nick]
	rejoin := false
	switch {
	case o != nil && o.User != req.User:
		return refuse(CodeConflict, "the nick %q is taken", nick)
	case o != nil && h.byAddress[req.Session.Address] == nick:
		rejoin = true
	case o == nil:
		if other := h.lookalike(nick, nil); other != nil {
			return refuseLookalike(nick, other)
		}
		max := r.MaxUsers
		if max <= 0 {
			max = e.cfg.MaxUsers
		}
		if len(h.occupants) >= max && !st.aff.IsManager() {
			return refuse(CodeServiceUnavailable, "room %q is full", r.Name)
		}
	}

	history, err := e.joinHistory(ctx, r, cat, req.History)
	if err != nil {
		return err
	}
	evs := []storage.OutboxEvent{e.event("join", r.Name, req.User, map[string]string{
		"nick": nick, "session": req.Session.Address, "front_door": req.Session.FrontDoor})}
	if len(history) > 0 {
		evs = append(evs, e.event("history.read", r.Name, req.User, map[string]any{
			"via": "join", "from_seq": history[0].Seq, "to_seq": history[len(history)-1].Seq, "count": len(history)}))
	}
	if !rejoin {
		// With compliance on, a join is not acknowledged unless its
		// event committed.
		if err := e.commits.record(e.cfg.Store, evs...); err != nil {
			return fmt.Errorf("muc: recording join: %w", err)
		}
		e.log.Info("room join", "room", r.Name, "user", req.User, "front_door", req.Session.FrontDoor, "event_id", evs[0].EventID)
	}

	if o == nil {
		o = &Occupant{
			Room:        r.Name,
			Nick:        nick,
			User:        req.User,
			OccupantID:  e.OccupantID(r.Name, req.User),
			Affiliation: st.aff,
			Role:        defaultRole(st.aff, st.presenter, r),
			presenter:   st.presenter,
		}
		h.admit(o)
		h.indexNick(nick)
	}
	if !rejoin {
		o.Sessions = append(o.Sessions, req.Session)
		h.byAddress[req.Session.Address] = nick
	} else {
		// The same address may now be reached another way (in a pool,
		// a client that reconnected through another node under the same
		// full JID): events go to the newest sink.
		for i := range o.Sessions {
			if o.Sessions[i].Address == req.Session.Address {
				o.Sessions[i] = req.Session
			}
		}
	}
	if req.Presence != nil {
		o.Presence = req.Presence
	}
	// The newcomer sees the occupants whose presence the room
	// broadcasts (presence.go), read from the role index.
	joined := &Joined{Room: r, Self: o.snapshot(), Others: h.shownOthers(o), History: history, Created: created,
		Rejoin: rejoin, NickAssigned: nick != req.Nick}
	// Everyone else learns of the newcomer first; then the newcomer gets
	// its view, so no event of the room can come between. A newcomer
	// whose role is not broadcast is news to its own other sessions only.
	if !rejoin {
		ev := Event{Kind: EventPresence, Room: r.Name, Occupant: o.snapshot(), Time: e.cfg.Now()}
		if h.shows(o.Role) {
			for _, other := range h.occupants {
				for _, s := range other.Sessions {
					if s.Address != req.Session.Address {
						s.Sink.Deliver(ev)
					}
				}
			}
			h.watchers.deliver(r.Name, ev)
		} else {
			for _, s := range o.Sessions {
				if s.Address != req.Session.Address {
					s.Sink.Deliver(ev)
				}
			}
		}
	}
	req.Session.Sink.Deliver(Event{Kind: EventJoined, Room: r.Name, Occupant: o.snapshot(), Joined: joined, Time: e.cfg.Now()})
	return nil
}

// joinHistory picks the messages a join replays (XEP-0045 §7.2.14).
func (e *Engine) joinHistory(ctx context.Context, r storage.Room, cat storage.Category, hr HistoryRequest) ([]storage.HistoryMessage, error) {
	n := hr.MaxStanzas
	if n < 0 {
		n = e.cfg.DefaultHistory
	}
	n = min(n, e.cfg.MaxHistory)
	if n == 0 || !cat.ChatHistory {
		return nil, nil
	}
	q := storage.HistoryQuery{Room: r.Name, Limit: n, Last: true}
	if hr.Seconds > 0 {
		q.Start = e.cfg.Now().Add(-time.Duration(hr.Seconds) * time.Second)
	}
	if !hr.Since.IsZero() && hr.Since.After(q.Start) {
		q.Start = hr.Since
	}
	msgs, _, err := e.cfg.Store.QueryHistory(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("muc: reading history of %s: %w", r.Name, err)
	}
	if hr.MaxChars > 0 {
		// Keep the newest messages whose stanzas fit in MaxChars.
		total := 0
		for i := len(msgs) - 1; i >= 0; i-- {
			total += len(msgs[i].Stanza)
			if total > hr.MaxChars {
				msgs = msgs[i+1:]
				break
			}
		}
	}
	return msgs, nil
}

// Leave takes a session out of a room (XEP-0045 §7.14). Leaving a room one
// is not in is not an error.
func (e *Engine) Leave(ctx context.Context, room, address string, presence []byte) error {
	return e.leave(ctx, room, address, presence, nil)
}

// LeaveWithStatus is Leave with status codes every recipient gets: 332
// (server shutdown) or 333 (the session's node was lost, DESIGN §4).
func (e *Engine) LeaveWithStatus(ctx context.Context, room, address string, presence []byte, status []int) error {
	return e.leave(ctx, room, address, presence, status)
}

// AnnounceGone tells a room's occupants that an occupant who is no longer
// in the room's live state has left, with status codes (333 when its node
// was lost while the room moved, DESIGN §4). An occupant present again is
// not announced.
func (e *Engine) AnnounceGone(room string, gone Occupant, status []int) {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	if h.occupants[gone.Nick] != nil || !h.shows(gone.Role) {
		return
	}
	gone.Role = RoleNone
	h.broadcast(Event{Kind: EventPresence, Room: room, Occupant: gone, Status: status, Time: e.cfg.Now()})
}

func (e *Engine) leave(ctx context.Context, room, address string, presence []byte, status []int) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	o := h.occupantAt(address)
	if o == nil {
		return nil
	}
	if err := e.commits.record(e.cfg.Store, e.event("leave", room, o.User, map[string]string{"nick": o.Nick, "session": address})); err != nil {
		// The session is leaving anyway; the capture gap is logged.
		e.log.Error("recording leave", "room", room, "err", err)
	}
	switch {
	case presence != nil:
		o.Presence = presence // the unavailable presence, with its status (XEP-0045 §7.14)
	case len(o.Sessions) == 1:
		o.Presence = nil // a connection that ended said nothing more: no stale status on the way out
	}
	e.removeSessionLocked(h, o, address, Event{Kind: EventPresence, Room: room, Status: status, Time: e.cfg.Now()})
	return nil
}

// removeSessionLocked takes one session out; when it was the nick's last,
// everyone (the leaver included) gets the unavailable presence in ev.
func (e *Engine) removeSessionLocked(h *host, o *Occupant, address string, ev Event) {
	var leaving Session
	for i, s := range o.Sessions {
		if s.Address == address {
			leaving = s
			o.Sessions = append(o.Sessions[:i], o.Sessions[i+1:]...)
			break
		}
	}
	delete(h.byAddress, address)
	gone := o.snapshot()
	gone.Role = RoleNone
	gone.Sessions = []Session{leaving}
	ev.Occupant = gone
	if len(o.Sessions) == 0 {
		h.drop(o)
		h.unindexNick(o.Nick)
		if h.shows(o.Role) {
			h.broadcast(ev)
		}
	}
	if leaving.Sink != nil {
		leaving.Sink.Deliver(ev)
	}
}

// LeaveAll takes a session out of every room it is in (its connection
// ended).
func (e *Engine) LeaveAll(ctx context.Context, address string) {
	e.leaveAll(ctx, address, nil)
}

// ShutdownSession takes a session out of every room because the service is
// shutting down: everyone sees its unavailable presence with status 332
// (XEP-0045 §15.6).
func (e *Engine) ShutdownSession(ctx context.Context, address string) {
	e.leaveAll(ctx, address, []int{StatusShutdown})
}

func (e *Engine) leaveAll(ctx context.Context, address string, status []int) {
	e.mu.Lock()
	var hosts []*host
	for _, h := range e.rooms {
		hosts = append(hosts, h)
	}
	e.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		in := h.occupantAt(address) != nil
		h.mu.Unlock()
		if in {
			if err := e.leave(ctx, h.name, address, nil, status); err != nil {
				e.log.Error("leaving on disconnect", "room", h.name, "err", err)
			}
		}
	}
}

// changeNickLocked renames an occupant (XEP-0045 §7.6).
func (e *Engine) changeNickLocked(ctx context.Context, h *host, o *Occupant, address, nick string) error {
	if other := h.occupants[nick]; other != nil && other.User != o.User {
		return refuse(CodeConflict, "the nick %q is taken", nick)
	}
	if other := h.lookalike(nick, o); other != nil {
		return refuseLookalike(nick, other)
	}
	if len(o.Sessions) > 1 {
		return refuse(CodeNotAllowed, "a nick joined from several sessions cannot change")
	}
	if err := e.commits.record(e.cfg.Store, e.event("nick", h.name, o.User, map[string]string{"old": o.Nick, "new": nick})); err != nil {
		return fmt.Errorf("muc: recording nick change: %w", err)
	}
	old := o.Nick
	delete(h.occupants, old)
	h.unindexNick(old)
	o.Nick = nick
	h.occupants[nick] = o
	h.indexNick(nick)
	h.byAddress[address] = nick
	h.presence(o, Event{Kind: EventPresence, Room: h.name, Occupant: o.snapshot(), OldNick: old, Status: []int{StatusNickChanged}, Time: e.cfg.Now()})
	return nil
}

// SetPresence updates an occupant's presence (show/status) and tells the
// room.
func (e *Engine) SetPresence(ctx context.Context, room, address string, presence []byte) error {
	h := e.lockHost(room)
	defer e.unlockHost(h)
	o := h.occupantAt(address)
	if o == nil {
		return refuse(CodeNotAcceptable, "you are not in room %q", room)
	}
	o.Presence = presence
	h.presence(o, Event{Kind: EventPresence, Room: room, Occupant: o.snapshot(), Time: e.cfg.Now()})
	return nil
}

// Occupant returns the occupant a session is joined as, if any.
func (e *Engine) Occupant(room, address string) (Occupant, bool) {
	e.mu.Lock()
	h := e.rooms[room]
	e.mu.Unlock()
	if h == nil {
		return Occupant{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.occupantAt(address)
	if o == nil {
		return Occupant{}, false
	}
	return o.snapshot(), true
}

// Occupants returns a room's occupants now, all of them, whatever roles
// the room broadcasts the presence of (Snapshot has those only).
func (e *Engine) Occupants(room string) []Occupant {
	e.mu.Lock()
	h := e.rooms[room]
	e.mu.Unlock()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Occupant, 0, len(h.occupants))
	for _, o := range h.occupants {
		out = append(out, o.snapshot())
	}
	return out
}

var errNoSession = errors.New("muc: no such session")

// absent is what a join of room gets when the room does not exist, for a
// secret room's outsiders (hidden): with create, the refusal of a user who
// may not create rooms in the default category, if user is one; else
// item-not-found. (A user who may create rooms would have made a new room;
// one that exists cannot be made again, so that user learns the name is
// taken, as with any name that must be unique.)
func (e *Engine) absent(ctx context.Context, room, user string, create bool) error {
	if create {
		cat, err := e.category(ctx, DefaultCategory)
		if err != nil {
			return err
		}
		if !e.mayCreate(ctx, cat, user) {
			return mayNotCreate()
		}
	}
	return noRoom(room)
}
