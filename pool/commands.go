package pool

import (
	"context"
	"errors"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// The commands one node asks another to run (DESIGN §4). Each is one
// struct, listed in commands with its handler, where it runs and whether
// it may be sent again; rpc.go carries them over the bus, rooms.go sends
// the room commands to each room's host.
//
// A command travels as a NATS request to parley.node.NODE.rooms: the
// header Parley-Command names it, Parley-From the sending node, and the
// body is the struct in JSON. The reply is a reply[R]: the command's
// result, or its error (a muc refusal keeps its code).

// where says on which node a command runs.
type where int

const (
	// atHost: on the room's host, once the nodes have re-declared their
	// sessions after it claimed the room.
	atHost where = iota + 1
	// atHostClaiming: on the room's host as soon as it has claimed the
	// room. A re-declaration (of a session, of a watch) is one: the
	// claim waits for it.
	atHostClaiming
	// atNode: on the node asked, for its own sessions or front doors.
	atNode
)

// retry says whether a command may be sent again once the node it was
// sent to may have had it: a room command is, to the room's next host
// (rooms.go), unless it runs once. A node command is never sent again
// (each node is asked once); its rule says what a sender could do.
type retry int

const (
	// retrySafe: running it twice leaves things as running it once
	// (a join, a leave, a role, a read).
	retrySafe retry = iota + 1
	// runsOnce: running it twice would do it twice (a post archived
	// twice); the client is told it may or may not have been done.
	runsOnce
)

// command is a command's arguments: a struct that crosses the bus.
type command interface {
	// room is the room the command is for, "" for none.
	room() string
}

// none is the result of a command that returns nothing but its error.
type none struct{}

// The commands, each with its arguments.
var (
	cmdJoin = &spec[joinCmd, none]{name: "join", where: atHost, retry: retrySafe,
		// The local path (rooms.go) gives the session its own sink.
		serve: func(p *Pool, ctx context.Context, from string, c joinCmd) (none, error) {
			req := c.Join
			req.Session.Sink = p.remoteSinkFor(from, req.Room, req.Session.Address)
			return none{}, p.e.Join(ctx, req)
		}}
	cmdResync = &spec[resyncCmd, none]{name: "resync", where: atHostClaiming, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, from string, c resyncCmd) (none, error) {
			req := c.Join
			req.Session.Sink = p.remoteSinkFor(from, req.Room, req.Session.Address)
			return none{}, p.e.Resync(ctx, req)
		}}
	cmdLeave = &spec[leaveCmd, none]{name: "leave", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c leaveCmd) (none, error) {
			return none{}, p.e.LeaveWithStatus(ctx, c.Room, c.Address, c.Presence, c.Status)
		}}
	cmdSetPresence = &spec[setPresenceCmd, none]{name: "set-presence", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c setPresenceCmd) (none, error) {
			return none{}, p.e.SetPresence(ctx, c.Room, c.Address, c.Presence)
		}}
	cmdPost = &spec[postCmd, *storage.HistoryMessage]{name: "post", where: atHost, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c postCmd) (*storage.HistoryMessage, error) {
			return p.e.Post(ctx, c.Post)
		}}
	cmdSetSubject = &spec[setSubjectCmd, none]{name: "set-subject", where: atHost, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c setSubjectCmd) (none, error) {
			return none{}, p.e.SetSubject(ctx, c.Room, c.Address, c.Subject, c.Stanza)
		}}
	cmdSendPrivate = &spec[sendPrivateCmd, muc.PrivateSent]{name: "send-private", where: atHost, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c sendPrivateCmd) (muc.PrivateSent, error) {
			return p.e.SendPrivate(ctx, c.Room, c.Address, c.ToNick, c.Payload, c.Body)
		}}
	cmdInvite = &spec[inviteCmd, none]{name: "invite", where: atHost, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c inviteCmd) (none, error) {
			return none{}, p.e.Invite(ctx, c.Room, c.Address, c.Invitee)
		}}
	cmdOccupant = &spec[occupantCmd, *muc.Occupant]{name: "occupant", where: atHost, retry: retrySafe,
		serve: func(p *Pool, _ context.Context, _ string, c occupantCmd) (*muc.Occupant, error) {
			if o, ok := p.e.Occupant(c.Room, c.Address); ok {
				return &o, nil
			}
			return nil, nil
		}}
	cmdOccupants = &spec[occupantsCmd, []muc.Occupant]{name: "occupants", where: atHost, retry: retrySafe,
		serve: func(p *Pool, _ context.Context, _ string, c occupantsCmd) ([]muc.Occupant, error) {
			if c.Shown {
				var out []muc.Occupant
				p.e.Snapshot(c.Room, func(o []muc.Occupant) { out = o })
				return out, nil
			}
			return p.e.Occupants(c.Room), nil
		}}
	cmdWatch = &spec[watchCmd, []muc.Occupant]{name: "watch", where: atHostClaiming, retry: retrySafe,
		// The local path (watch.go) gives the watch its own sink.
		serve: func(p *Pool, _ context.Context, from string, c watchCmd) ([]muc.Occupant, error) {
			return p.watchLocal(c.Room, c.User, c.Address, p.remoteSinkFor(from, c.Room, c.Address)), nil
		}}
	cmdUnwatch = &spec[unwatchCmd, none]{name: "unwatch", where: atHostClaiming, retry: retrySafe,
		serve: func(p *Pool, _ context.Context, _ string, c unwatchCmd) (none, error) {
			p.unwatchLocal(c.Room, c.Address)
			return none{}, nil
		}}
	cmdSetRole = &spec[setRoleCmd, none]{name: "set-role", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c setRoleCmd) (none, error) {
			return none{}, p.e.SetRole(ctx, c.Room, c.ActorAddress, c.Nick, c.Role, c.Reason)
		}}
	cmdSetAffiliation = &spec[setAffiliationCmd, none]{name: "set-affiliation", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c setAffiliationCmd) (none, error) {
			return none{}, p.e.SetAffiliation(ctx, c.Room, c.Actor, c.JID, c.Affiliation, c.Reason)
		}}
	cmdSetPresenter = &spec[setPresenterCmd, none]{name: "set-presenter", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c setPresenterCmd) (none, error) {
			return none{}, p.e.SetPresenter(ctx, c.Room, c.Actor, c.JID, c.Presenter)
		}}
	cmdConfigure = &spec[configureCmd, storage.Room]{name: "configure", where: atHost, retry: retrySafe,
		// The sender computed the new configuration (rooms.go); the host
		// checks the actor's rights and stores it.
		serve: func(p *Pool, ctx context.Context, _ string, c configureCmd) (storage.Room, error) {
			return p.e.Configure(ctx, c.Actor, c.Room, func(cur *storage.Room) error {
				*cur = c.Config
				return nil
			})
		}}
	cmdDestroy = &spec[destroyCmd, none]{name: "destroy", where: atHost, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, _ string, c destroyCmd) (none, error) {
			return none{}, p.e.Destroy(ctx, c.Actor, c.Room, c.Reason, c.Venue)
		}}
	cmdRemoveMessage = &spec[removeMessageCmd, none]{name: "remove-message", where: atHost, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c removeMessageCmd) (none, error) {
			return none{}, p.e.RemoveMessage(ctx, c.Actor, c.Room, c.StanzaID, c.Replacement)
		}}

	// A room's new host asks this node to re-declare its sessions in the
	// room, and whom it saw there (hosting.go).
	cmdSyncRoom = &spec[syncRoomCmd, []muc.Occupant]{name: "sync-room", where: atNode, retry: retrySafe,
		serve: func(p *Pool, ctx context.Context, from string, c syncRoomCmd) ([]muc.Occupant, error) {
			return p.syncLocalTo(ctx, c.Room, from)
		}}
	// A 1:1 message for a user who may have endpoints on this node (im.go).
	cmdDeliverIM = &spec[deliverIMCmd, bool]{name: "deliver-im", where: atNode, retry: runsOnce,
		serve: func(p *Pool, ctx context.Context, _ string, c deliverIMCmd) (bool, error) {
			return p.deliverIM(ctx, c.Message)
		}}
	// A new session's contacts' presence, from this node's sessions
	// (stanzas.go).
	cmdPresences = &spec[presencesCmd, [][]byte]{name: "presences", where: atNode, retry: retrySafe,
		serve: func(p *Pool, _ context.Context, _ string, c presencesCmd) ([][]byte, error) {
			p.mu.Lock()
			door := p.door
			p.mu.Unlock()
			if door == nil {
				return nil, nil
			}
			return door.LocalPresences(c.Bares, c.To), nil
		}}
	// Another server's dialback verification reached this node for a
	// stream another node opened (stanzas.go).
	cmdDialbackPending = &spec[dialbackPendingCmd, bool]{name: "dialback-pending", where: atNode, retry: retrySafe,
		serve: func(p *Pool, _ context.Context, _ string, c dialbackPendingCmd) (bool, error) {
			p.mu.Lock()
			door := p.door
			p.mu.Unlock()
			return door != nil && door.DialbackPending(c.ID, c.Local, c.Remote), nil
		}}
	// An IQ request for a full JID whose session may be on this node
	// (stanzas.go): true if it was handed to the session here.
	cmdDeliverIQ = &spec[deliverIQCmd, bool]{name: "deliver-iq", where: atNode, retry: runsOnce,
		serve: func(p *Pool, _ context.Context, _ string, c deliverIQCmd) (bool, error) {
			p.mu.Lock()
			door := p.door
			p.mu.Unlock()
			return door != nil && door.DeliverIQ(c.To, c.Stanza), nil
		}}
)

// commands is the table of every command a node serves, by name.
var commands = table(
	cmdJoin, cmdResync, cmdLeave, cmdSetPresence, cmdPost, cmdSetSubject, cmdSendPrivate, cmdInvite,
	cmdOccupant, cmdOccupants, cmdWatch, cmdUnwatch,
	cmdSetRole, cmdSetAffiliation, cmdSetPresenter, cmdConfigure, cmdDestroy, cmdRemoveMessage,
	cmdSyncRoom, cmdDeliverIM, cmdPresences, cmdDialbackPending, cmdDeliverIQ,
)

func table(list ...handler) map[string]handler {
	m := make(map[string]handler, len(list))
	for _, h := range list {
		if _, dup := m[h.info().name]; dup {
			panic("pool: two commands named " + h.info().name)
		}
		m[h.info().name] = h
	}
	return m
}

// Arguments of each command. A session's sink never crosses the bus
// (muc.Session.Sink): the host gives it one that publishes to the
// sending node.
type (
	joinCmd struct {
		Join muc.JoinRequest `json:"join"`
	}
	resyncCmd struct {
		Join muc.JoinRequest `json:"join"`
	}
	leaveCmd struct {
		Room     string `json:"room"`
		Address  string `json:"address"`
		Presence []byte `json:"presence,omitempty"`
		Status   []int  `json:"status,omitempty"`
	}
	setPresenceCmd struct {
		Room     string `json:"room"`
		Address  string `json:"address"`
		Presence []byte `json:"presence,omitempty"`
	}
	postCmd struct {
		Post muc.PostRequest `json:"post"`
	}
	setSubjectCmd struct {
		Room    string `json:"room"`
		Address string `json:"address"`
		Subject string `json:"subject"`
		Stanza  []byte `json:"stanza,omitempty"`
	}
	sendPrivateCmd struct {
		Room    string `json:"room"`
		Address string `json:"address"`
		ToNick  string `json:"to_nick"`
		Payload []byte `json:"payload,omitempty"`
		Body    string `json:"body,omitempty"`
	}
	inviteCmd struct {
		Room    string `json:"room"`
		Address string `json:"address"`
		Invitee string `json:"invitee"`
	}
	occupantCmd struct {
		Room    string `json:"room"`
		Address string `json:"address"`
	}
	occupantsCmd struct {
		Room string `json:"room"`
		// Shown asks for the occupants whose presence the room
		// broadcasts only, sorted by nick (muc.Engine.Snapshot).
		Shown bool `json:"shown,omitempty"`
	}
	watchCmd struct {
		Room    string `json:"room"`
		User    string `json:"user"`    // who watches
		Address string `json:"address"` // the watch's address on the bus
	}
	unwatchCmd struct {
		Room    string `json:"room"`
		Address string `json:"address"`
	}
	setRoleCmd struct {
		Room         string   `json:"room"`
		ActorAddress string   `json:"actor_address"`
		Nick         string   `json:"nick"`
		Role         muc.Role `json:"role"`
		Reason       string   `json:"reason,omitempty"`
	}
	setAffiliationCmd struct {
		Room        string          `json:"room"`
		Actor       string          `json:"actor"`
		JID         string          `json:"jid"`
		Affiliation muc.Affiliation `json:"affiliation"`
		Reason      string          `json:"reason,omitempty"`
	}
	setPresenterCmd struct {
		Room      string `json:"room"`
		Actor     string `json:"actor"`
		JID       string `json:"jid"`
		Presenter bool   `json:"presenter"`
	}
	configureCmd struct {
		Room   string       `json:"room"`
		Actor  string       `json:"actor"`
		Config storage.Room `json:"config"` // the whole new configuration
	}
	destroyCmd struct {
		Room   string `json:"room"`
		Actor  string `json:"actor"`
		Reason string `json:"reason,omitempty"`
		Venue  string `json:"venue,omitempty"`
	}
	removeMessageCmd struct {
		Room        string `json:"room"`
		Actor       string `json:"actor"`
		StanzaID    string `json:"stanza_id"`
		Replacement string `json:"replacement,omitempty"`
	}
	syncRoomCmd struct {
		Room string `json:"room"`
	}
	deliverIMCmd struct {
		Message imMessage `json:"message"`
	}
	presencesCmd struct {
		Bares []string `json:"bares"`
		To    string   `json:"to"` // the session asking
	}
	dialbackPendingCmd struct {
		ID     string `json:"id"`     // the stream's id
		Local  string `json:"local"`  // our domain that opened it
		Remote string `json:"remote"` // the domain it was opened to
	}
	deliverIQCmd struct {
		To     string `json:"to"` // a full JID of this domain
		Stanza []byte `json:"stanza"`
	}
)

func (c joinCmd) room() string           { return c.Join.Room }
func (c resyncCmd) room() string         { return c.Join.Room }
func (c leaveCmd) room() string          { return c.Room }
func (c setPresenceCmd) room() string    { return c.Room }
func (c postCmd) room() string           { return c.Post.Room }
func (c setSubjectCmd) room() string     { return c.Room }
func (c sendPrivateCmd) room() string    { return c.Room }
func (c inviteCmd) room() string         { return c.Room }
func (c occupantCmd) room() string       { return c.Room }
func (c occupantsCmd) room() string      { return c.Room }
func (c watchCmd) room() string          { return c.Room }
func (c unwatchCmd) room() string        { return c.Room }
func (c setRoleCmd) room() string        { return c.Room }
func (c setAffiliationCmd) room() string { return c.Room }
func (c setPresenterCmd) room() string   { return c.Room }
func (c configureCmd) room() string      { return c.Room }
func (c destroyCmd) room() string        { return c.Room }
func (c removeMessageCmd) room() string  { return c.Room }
func (c syncRoomCmd) room() string       { return c.Room }
func (deliverIMCmd) room() string        { return "" }
func (presencesCmd) room() string        { return "" }
func (dialbackPendingCmd) room() string  { return "" }
func (deliverIQCmd) room() string        { return "" }

var (
	errNoCommand = errors.New("pool: unknown command")
	errBadReply  = errors.New("pool: bad reply")
)
