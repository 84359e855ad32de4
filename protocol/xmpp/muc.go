package xmpp

import (
	"context"
	"sync"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/muc"
)

// Multi-User Chat (XEP-0045) at conference.DOMAIN: the XMPP front door of
// the room engine (package muc). Files: muc.go (registration and the
// per-session Sink), muc_render.go (engine events to stanzas), muc_presence.go (join,
// nick, leave), muc_message.go (posts, subject, private messages,
// invitations), muc_iq.go (disco, admin, owner, self-ping), mam.go (the
// archive).

const (
	nsMUC          = "http://jabber.org/protocol/muc"
	nsMUCUser      = "http://jabber.org/protocol/muc#user"
	nsMUCAdmin     = "http://jabber.org/protocol/muc#admin"
	nsMUCOwner     = "http://jabber.org/protocol/muc#owner"
	nsStanzaID     = "urn:xmpp:sid:0"         // XEP-0359
	nsOccupantID   = "urn:xmpp:occupant-id:0" // XEP-0421
	nsDataForms    = "jabber:x:data"
	nsConference   = "jabber:x:conference" // XEP-0249
	nsRetract      = "urn:xmpp:message-retract:1"
	nsModerate     = "urn:xmpp:message-moderate:1"
	nsModerate0    = "urn:xmpp:message-moderate:0" // XEP-0425 v0.2
	nsRetract0     = "urn:xmpp:message-retract:0"
	nsFasten       = "urn:xmpp:fasten:0" // XEP-0422
	nsCorrect      = "urn:xmpp:message-correct:0"
	frontDoorXMPP  = "xmpp"
	defaultMUCHost = "conference"
)

// mucService routes stanzas addressed to the MUC domain.
type mucService struct {
	srv    *Server
	engine muc.Rooms
	domain string // conference.DOMAIN

	cacheMu   sync.Mutex
	postCache map[string]postCacheEntry // room → last post rendered

	commands commandSessions // ad-hoc commands awaiting a stage (adhoc.go)

	remoteMu sync.Mutex
	remote   map[string]*mucSink // remote occupants' sinks by full JID (s2s_remote.go)
}

// mucSink receives the engine's events for one session and renders them.
// It keeps the session's own view of each room it is in (nick, role,
// whether real JIDs are shown), learned from the events themselves: Deliver
// runs under the room's lock and must not call back into the engine.
type mucSink struct {
	svc *mucService
	// sess is where the occupant's stanzas go: a local session, or a
	// remote user's server (an s2s origin, s2s_remote.go).
	sess occupantStream
	// remote is set for a remote user's sink, which the service keeps
	// while the user is in a room (mucService.remote).
	remote bool

	mu    sync.Mutex
	rooms map[string]roomView
}

type roomView struct {
	nick        string
	role        muc.Role
	whoisAnyone bool
}

// occupantStream is where a room occupant's stanzas go: a local session
// (*session), or over a server-to-server link to a remote user
// (s2sOrigin). Neither ever blocks.
type occupantStream interface {
	fullJID() jid.JID
	bareJID() string
	send(data []byte) bool
	sendElement(e *Element) bool
	sendBatch(batch [][]byte)
}

// sinkFor returns the session's MUC sink, creating it on first use.
func (m *mucService) sinkFor(sess *session) *mucSink {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.muc == nil {
		sess.muc = &mucSink{svc: m, sess: sess, rooms: make(map[string]roomView)}
	}
	return sess.muc
}

// view returns the session's view of a room; ok is false when it is not in
// it.
func (k *mucSink) view(room string) (roomView, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.rooms[room]
	return v, ok
}

func (k *mucSink) nick(room string) (string, bool) {
	v, ok := k.view(room)
	return v.nick, ok
}

func (k *mucSink) update(room string, f func(v *roomView)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := k.rooms[room]
	f(&v)
	k.rooms[room] = v
}

func (k *mucSink) forget(room string) {
	k.mu.Lock()
	delete(k.rooms, room)
	k.mu.Unlock()
	if k.remote {
		k.svc.dropRemoteIfIdle(k)
	}
}

// register fills the mux with the service's handlers, one file per part.
func (m *mucService) register(mx *mux) {
	m.registerIQs(mx)      // muc_iq.go: disco entities, administration, owner, moderation, occupants
	m.registerMessages(mx) // muc_message.go
	m.registerPresence(mx) // muc_presence.go
	m.registerMAM(mx)      // mam.go
	m.registerCommands(mx) // adhoc.go
}

// roomJID is the bare JID of a room.
func (m *mucService) roomJID(room string) string { return room + "@" + m.domain }

// occupantJID is room@service/nick.
func (m *mucService) occupantJID(room, nick string) string { return room + "@" + m.domain + "/" + nick }

// roomName maps a room JID's localpart to the engine's room name, as every
// front door does (internal/identity; jid.Parse has applied PRECIS already,
// this adds what room names have besides). "" names no room.
func roomName(j jid.JID) string {
	name, err := identity.RoomName(j.Localpart())
	if err != nil {
		return ""
	}
	return name
}

// leaveAll takes an ending session out of every room.
func (m *mucService) leaveAll(sess *session) {
	sess.mu.Lock()
	k := sess.muc
	sess.mu.Unlock()
	if k == nil {
		return
	}
	// The sink knows the session's rooms (it learns each join from the
	// engine before Join returns, and joins and the disconnect come from
	// the same reader goroutine), so only those are visited.
	k.mu.Lock()
	rooms := make([]string, 0, len(k.rooms))
	for room := range k.rooms {
		rooms = append(rooms, room)
	}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.srv.cfg.WriteTimeout)
	defer cancel()
	for _, room := range rooms {
		if err := m.engine.Leave(ctx, room, sess.jid.String(), nil); err != nil {
			m.srv.log.Error("muc: leaving on disconnect", "room", room, "err", err)
		}
	}
}

// shutdownSession takes a session out of its rooms with status 332.
func (m *mucService) shutdownSession(ctx context.Context, sess *session) {
	sess.mu.Lock()
	k := sess.muc
	sess.mu.Unlock()
	if k != nil {
		m.engine.ShutdownSession(ctx, sess.jid.String())
	}
}
