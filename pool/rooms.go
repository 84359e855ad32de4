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

// onHost runs a room-bound command on the room's host: here, through
// local, or on another node, through req. Before that, this node's
// sessions in the room are declared to the host if it changed.
func (p *Pool) onHost(ctx context.Context, room string, req request, resp *response, local func() error) error {
	req.Room = room
	// The command looks for the room's host again while the pool settles
	// (a host lost, a claim in progress), for at most CallTimeout.
	deadline := time.Now().Add(p.cfg.CallTimeout)
	var err error
	for attempt := 0; attempt == 0 || time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(retryDelay(attempt)):
			}
		}
		var host string
		host, err = p.hostFor(ctx, room)
		if err != nil {
			continue
		}
		if err = p.syncRoom(ctx, room); err != nil && !retryable(err) {
			return err
		}
		if host == p.node {
			if err = p.ensureHosting(ctx, room, true); err == nil {
				err = p.fenced(room, local())
				p.releaseIfNoRoom(room, err)
			}
		} else {
			*resp = response{}
			err = p.call(ctx, host, req, resp)
			var un *errUnreachable
			if errors.As(err, &un) && un.maybeDone && runsOnce[req.Method] {
				// Running it again could do it twice (a post
				// archived twice); the client is told it failed.
				return fmt.Errorf("pool: the room's host %s was lost while it had the command; it may or may not have been done: %w", host, err)
			}
		}
		if !retryable(err) {
			return err
		}
		p.forgetHost(room)
	}
	return err
}

// runsOnce are the commands that must not run twice: they are not tried
// again once the host may have received them.
var runsOnce = map[string]bool{"Post": true, "SetSubject": true, "SendPrivate": true, "Invite": true, "RemoveMessage": true}

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
	local := req
	local.Session.Sink = t
	remote := req
	remote.Session.Sink = nil
	err := p.onHost(ctx, req.Room, request{Method: "Join", Join: &remote}, &response{}, func() error {
		p.mu.Lock()
		p.claimAddressLocked(req.Room, req.Session.Address)
		p.mu.Unlock()
		return p.e.Join(ctx, local)
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
	err := p.onHost(ctx, room, request{Method: "Leave", Address: address, Presence: presence, Status: status}, &response{}, func() error {
		return p.e.LeaveWithStatus(ctx, room, address, presence, status)
	})
	p.mu.Lock()
	p.forgetLocked(room, address)
	if !p.inAnyRoomLocked(address) {
		delete(p.sinks, address) // its last room: nothing to deliver
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
	return p.onHost(ctx, room, request{Method: "SetPresence", Address: address, Presence: presence}, &response{}, func() error {
		return p.e.SetPresence(ctx, room, address, presence)
	})
}

// Post implements muc.RoomHost.
func (p *Pool) Post(ctx context.Context, req muc.PostRequest) (*storage.HistoryMessage, error) {
	var msg *storage.HistoryMessage
	var resp response
	err := p.onHost(ctx, req.Room, request{Method: "Post", Post: &req}, &resp, func() error {
		var err error
		msg, err = p.e.Post(ctx, req)
		return err
	})
	if msg == nil {
		msg = resp.Message
	}
	return msg, err
}

// SetSubject implements muc.RoomHost.
func (p *Pool) SetSubject(ctx context.Context, room, address, subject string, stanza []byte) error {
	return p.onHost(ctx, room, request{Method: "SetSubject", Address: address, Text: subject, Payload: stanza}, &response{}, func() error {
		return p.e.SetSubject(ctx, room, address, subject, stanza)
	})
}

// SendPrivate implements muc.RoomHost.
func (p *Pool) SendPrivate(ctx context.Context, room, address, toNick string, payload []byte, body string) error {
	return p.onHost(ctx, room, request{Method: "SendPrivate", Address: address, Nick: toNick, Payload: payload, Text: body}, &response{}, func() error {
		return p.e.SendPrivate(ctx, room, address, toNick, payload, body)
	})
}

// Invite implements muc.RoomHost.
func (p *Pool) Invite(ctx context.Context, room, address, invitee string) error {
	return p.onHost(ctx, room, request{Method: "Invite", Address: address, Extra: invitee}, &response{}, func() error {
		return p.e.Invite(ctx, room, address, invitee)
	})
}

// Occupant implements muc.RoomHost.
func (p *Pool) Occupant(room, address string) (muc.Occupant, bool) {
	ctx, cancel := p.callTimeout()
	defer cancel()
	var o muc.Occupant
	var ok bool
	var resp response
	err := p.onHost(ctx, room, request{Method: "Occupant", Address: address}, &resp, func() error {
		o, ok = p.e.Occupant(room, address)
		return nil
	})
	if resp.Occupant != nil {
		o, ok = *resp.Occupant, true
	}
	return o, ok && err == nil
}

// Occupants implements muc.RoomHost.
func (p *Pool) Occupants(room string) []muc.Occupant {
	ctx, cancel := p.callTimeout()
	defer cancel()
	var out []muc.Occupant
	var resp response
	err := p.onHost(ctx, room, request{Method: "Occupants"}, &resp, func() error {
		out = p.e.Occupants(room)
		return nil
	})
	if err != nil {
		p.log.Warn("listing occupants", "room", room, "err", err)
	}
	if out == nil {
		out = resp.Occupants
	}
	return out
}

// SetRole implements muc.RoomHost.
func (p *Pool) SetRole(ctx context.Context, room, actorAddress, nick string, role muc.Role, reason string) error {
	return p.onHost(ctx, room, request{Method: "SetRole", Address: actorAddress, Nick: nick, Role: role, Text: reason}, &response{}, func() error {
		return p.e.SetRole(ctx, room, actorAddress, nick, role, reason)
	})
}

// SetAffiliation implements muc.RoomHost.
func (p *Pool) SetAffiliation(ctx context.Context, room, actor, jid string, aff muc.Affiliation, reason string) error {
	return p.onHost(ctx, room, request{Method: "SetAffiliation", Actor: actor, JID: jid, Aff: aff, Text: reason}, &response{}, func() error {
		return p.e.SetAffiliation(ctx, room, actor, jid, aff, reason)
	})
}

// SetPresenter implements muc.RoomHost.
func (p *Pool) SetPresenter(ctx context.Context, room, actor, jid string, presenter bool) error {
	return p.onHost(ctx, room, request{Method: "SetPresenter", Actor: actor, JID: jid, Flag: presenter}, &response{}, func() error {
		return p.e.SetPresenter(ctx, room, actor, jid, presenter)
	})
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
	var out storage.Room
	var resp response
	err = p.onHost(ctx, name, request{Method: "Configure", Actor: actor, Config: &want}, &resp, func() error {
		var err error
		out, err = p.e.Configure(ctx, actor, name, change)
		return err
	})
	if resp.Room != nil {
		out = *resp.Room
	}
	return out, err
}

// Destroy implements muc.RoomHost.
func (p *Pool) Destroy(ctx context.Context, actor, name, reason, venue string) error {
	return p.onHost(ctx, name, request{Method: "Destroy", Actor: actor, Text: reason, Extra: venue}, &response{}, func() error {
		return p.e.Destroy(ctx, actor, name, reason, venue)
	})
}

// RemoveMessage implements muc.RoomHost.
func (p *Pool) RemoveMessage(ctx context.Context, actor, room, stanzaID, replacement string) error {
	return p.onHost(ctx, room, request{Method: "RemoveMessage", Actor: actor, Extra: stanzaID, Text: replacement}, &response{}, func() error {
		return p.e.RemoveMessage(ctx, actor, room, stanzaID, replacement)
	})
}
