package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

var _ muc.RoomHost = (*Pool)(nil)

// Rooms is what this node's front doors use (muc.Rooms): the pool runs
// each host command on the room's host; this node's engine serves the
// records from the database the pool shares.
func (p *Pool) Rooms() muc.Rooms {
	return struct {
		muc.RoomHost
		muc.Records
	}{p, p.e}
}

// onHost runs c on the room's host and returns its result: here, through
// local (nil: the command's own handler), or on another node, over the
// bus. Before that, this node's sessions in the room are declared to the
// host if it changed.
func (s *spec[C, R]) onHost(ctx context.Context, p *Pool, c C, local func() (R, error)) (R, error) {
	room := c.room()
	if local == nil {
		local = func() (R, error) { return s.serve(p, ctx, p.node, c) }
	}
	// The command looks for the room's host again while the pool settles
	// (a host lost, a claim in progress), for at most CallTimeout.
	deadline := time.Now().Add(p.cfg.CallTimeout)
	var r R
	var err error
	for attempt := 0; attempt == 0 || time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return r, errors.Join(err, ctx.Err())
			case <-time.After(retryDelay(attempt)):
			}
		}
		var host string
		host, err = p.hostFor(ctx, room)
		if err != nil {
			continue
		}
		if err = p.syncRoom(ctx, room); err != nil && !retryable(err) {
			return r, err
		}
		if host == p.node {
			if err = p.ensureHosting(ctx, room, true); err == nil {
				r, err = local()
				err = p.fenced(room, err)
				p.releaseIfNoRoom(room, err)
			}
		} else {
			r, err = s.call(ctx, p, host, c)
			var un *errUnreachable
			if errors.As(err, &un) && un.maybeDone && s.retry == runsOnce {
				// Running it again could do it twice (a post
				// archived twice); the client is told it failed.
				return r, fmt.Errorf("pool: the room's host %s was lost while it had the command; it may or may not have been done: %w", host, err)
			}
		}
		if !retryable(err) {
			return r, err
		}
		p.forgetHost(room)
	}
	return r, err
}

// retryable says whether a command failed because the room's host moved
// or could not be reached, so that it should look for the host again.
func retryable(err error) bool {
	var nh *errNotHost
	var un *errUnreachable
	return errors.As(err, &nh) || errors.As(err, &un) || errors.Is(err, storage.ErrFenced) || errors.Is(err, errNoActive)
}

func (p *Pool) forgetHost(room string) {
	p.mu.Lock()
	delete(p.hostCache, room)
	p.mu.Unlock()
}

// callTimeout is the context of commands whose API has none.
func (p *Pool) callTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, p.cfg.CallTimeout)
}

// Join implements muc.RoomHost.
func (p *Pool) Join(ctx context.Context, req muc.JoinRequest) error {
	t := p.trackerFor(req.Session, req.User)
	remote := req
	remote.Session.Sink = nil
	_, err := cmdJoin.onHost(ctx, p, joinCmd{Join: remote}, func() (none, error) {
		local := req
		local.Session.Sink = t
		p.mu.Lock()
		p.claimAddressLocked(req.Room, req.Session.Address)
		p.mu.Unlock()
		return none{}, p.e.Join(ctx, local)
	})
	if err == nil {
		p.remember(req.Room, t, req.Nick, req.Presence)
	}
	return err
}

// Leave implements muc.RoomHost.
func (p *Pool) Leave(ctx context.Context, room, address string, presence []byte) error {
	return p.leave(ctx, room, address, presence, nil)
}

func (p *Pool) leave(ctx context.Context, room, address string, presence []byte, status []int) error {
	_, err := cmdLeave.onHost(ctx, p, leaveCmd{Room: room, Address: address, Presence: presence, Status: status}, nil)
	p.mu.Lock()
	p.forgetLocked(room, address)
	if err != nil && !p.inAnyRoomLocked(address) {
		// Its last room, and no event will come: nothing to deliver.
		// After a leave that went through, the session's own
		// unavailable presence may still be on its way from another
		// host (events and replies cross the bus on different
		// subjects): observe forgets the sink once it is delivered.
		delete(p.sinks, address)
	}
	p.mu.Unlock()
	return err
}

// inAnyRoomLocked says whether a local session is in some room.
func (p *Pool) inAnyRoomLocked(address string) bool {
	for _, sessions := range p.local {
		if sessions[address] != nil {
			return true
		}
	}
	return false
}

// LeaveAll implements muc.RoomHost.
func (p *Pool) LeaveAll(ctx context.Context, address string) { p.leaveAll(ctx, address, nil) }

// ShutdownSession implements muc.RoomHost.
func (p *Pool) ShutdownSession(ctx context.Context, address string) {
	p.leaveAll(ctx, address, []int{muc.StatusShutdown})
}

func (p *Pool) leaveAll(ctx context.Context, address string, status []int) {
	p.mu.Lock()
	var rooms []string
	for room, sessions := range p.local {
		if sessions[address] != nil {
			rooms = append(rooms, room)
		}
	}
	p.mu.Unlock()
	for _, room := range rooms {
		if err := p.leave(ctx, room, address, nil, status); err != nil {
			p.log.Warn("leaving a room", "room", room, "session", address, "err", err)
		}
	}
	p.mu.Lock()
	delete(p.sinks, address)
	p.mu.Unlock()
}

// SetPresence implements muc.RoomHost.
func (p *Pool) SetPresence(ctx context.Context, room, address string, presence []byte) error {
	_, err := cmdSetPresence.onHost(ctx, p, setPresenceCmd{Room: room, Address: address, Presence: presence}, nil)
	return err
}

// Post implements muc.RoomHost.
func (p *Pool) Post(ctx context.Context, req muc.PostRequest) (*storage.HistoryMessage, error) {
	return cmdPost.onHost(ctx, p, postCmd{Post: req}, nil)
}

// SetSubject implements muc.RoomHost.
func (p *Pool) SetSubject(ctx context.Context, room, address, subject string, stanza []byte) error {
	_, err := cmdSetSubject.onHost(ctx, p, setSubjectCmd{Room: room, Address: address, Subject: subject, Stanza: stanza}, nil)
	return err
}

// SendPrivate implements muc.RoomHost.
func (p *Pool) SendPrivate(ctx context.Context, room, address, toNick string, payload []byte, body string) (muc.PrivateSent, error) {
	return cmdSendPrivate.onHost(ctx, p, sendPrivateCmd{Room: room, Address: address, ToNick: toNick, Payload: payload, Body: body}, nil)
}

// Invite implements muc.RoomHost.
func (p *Pool) Invite(ctx context.Context, room, address, invitee string) error {
	_, err := cmdInvite.onHost(ctx, p, inviteCmd{Room: room, Address: address, Invitee: invitee}, nil)
	return err
}

// Occupant implements muc.RoomHost.
func (p *Pool) Occupant(room, address string) (muc.Occupant, bool) {
	ctx, cancel := p.callTimeout()
	defer cancel()
	o, err := cmdOccupant.onHost(ctx, p, occupantCmd{Room: room, Address: address}, nil)
	if o == nil {
		return muc.Occupant{}, false
	}
	return *o, err == nil
}

// Occupants implements muc.RoomHost.
func (p *Pool) Occupants(room string) []muc.Occupant {
	ctx, cancel := p.callTimeout()
	defer cancel()
	out, err := cmdOccupants.onHost(ctx, p, occupantsCmd{Room: room}, nil)
	if err != nil {
		p.log.Warn("listing occupants", "room", room, "err", err)
	}
	return out
}

// SetRole implements muc.RoomHost.
func (p *Pool) SetRole(ctx context.Context, room, actorAddress, nick string, role muc.Role, reason string) error {
	_, err := cmdSetRole.onHost(ctx, p, setRoleCmd{Room: room, ActorAddress: actorAddress, Nick: nick, Role: role, Reason: reason}, nil)
	return err
}

// SetAffiliation implements muc.RoomHost.
func (p *Pool) SetAffiliation(ctx context.Context, room, actor, jid string, aff muc.Affiliation, reason string) error {
	_, err := cmdSetAffiliation.onHost(ctx, p, setAffiliationCmd{Room: room, Actor: actor, JID: jid, Affiliation: aff, Reason: reason}, nil)
	return err
}

// SetPresenter implements muc.RoomHost.
func (p *Pool) SetPresenter(ctx context.Context, room, actor, jid string, presenter bool) error {
	_, err := cmdSetPresenter.onHost(ctx, p, setPresenterCmd{Room: room, Actor: actor, JID: jid, Presenter: presenter}, nil)
	return err
}

// Configure implements muc.RoomHost. On another host, change runs here on
// the configuration as read now and the host stores the result (a
// concurrent change of the same room in between is overwritten, as with
// two owners saving forms); the host checks the actor's rights.
func (p *Pool) Configure(ctx context.Context, actor, name string, change func(*storage.Room) error) (storage.Room, error) {
	want, err := p.e.Room(ctx, name, actor)
	if err != nil {
		return storage.Room{}, err
	}
	if err := change(&want); err != nil {
		return storage.Room{}, err
	}
	return cmdConfigure.onHost(ctx, p, configureCmd{Room: name, Actor: actor, Config: want}, func() (storage.Room, error) {
		return p.e.Configure(ctx, actor, name, change)
	})
}

// Destroy implements muc.RoomHost.
func (p *Pool) Destroy(ctx context.Context, actor, name, reason, venue string) error {
	_, err := cmdDestroy.onHost(ctx, p, destroyCmd{Room: name, Actor: actor, Reason: reason, Venue: venue}, nil)
	return err
}

// RemoveMessage implements muc.RoomHost.
func (p *Pool) RemoveMessage(ctx context.Context, actor, room, stanzaID, replacement string) error {
	_, err := cmdRemoveMessage.onHost(ctx, p, removeMessageCmd{Room: room, Actor: actor, StanzaID: stanzaID, Replacement: replacement}, nil)
	return err
}
