package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// request is a room command forwarded to the room's host, or a host's
// request to a node (SyncRoom). One flat struct: each method uses the
// fields it names.
type request struct {
	Method string `json:"method"`
	Room   string `json:"room"`
	From   string `json:"from"` // the sending node

	Join     *muc.JoinRequest `json:"join,omitempty"`
	Post     *muc.PostRequest `json:"post,omitempty"`
	Config   *storage.Room    `json:"config,omitempty"`
	Address  string           `json:"address,omitempty"`
	Actor    string           `json:"actor,omitempty"`
	Nick     string           `json:"nick,omitempty"`
	JID      string           `json:"jid,omitempty"`
	Text     string           `json:"text,omitempty"`  // subject, reason, replacement, body
	Extra    string           `json:"extra,omitempty"` // venue, invitee, stanza id
	Presence []byte           `json:"presence,omitempty"`
	Payload  []byte           `json:"payload,omitempty"`
	Role     muc.Role         `json:"role,omitempty"`
	Aff      muc.Affiliation  `json:"aff,omitempty"`
	Flag     bool             `json:"flag,omitempty"`
	Status   []int            `json:"status,omitempty"`
	IM       *imMessage       `json:"im,omitempty"`
	Bares    []string         `json:"bares,omitempty"`
}

// response is a host's answer. Err, Code and Reason carry an error; a
// muc refusal keeps its Code across the bus.
type response struct {
	Err     string   `json:"err,omitempty"`
	Code    muc.Code `json:"code,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	NotHost bool     `json:"not_host,omitempty"`
	Holder  string   `json:"holder,omitempty"`

	Message   *storage.HistoryMessage `json:"message,omitempty"`
	Occupant  *muc.Occupant           `json:"occupant,omitempty"`
	Occupants []muc.Occupant          `json:"occupants,omitempty"`
	Room      *storage.Room           `json:"room_config,omitempty"`
	Delivered bool                    `json:"delivered,omitempty"`
	Stanzas   [][]byte                `json:"stanzas,omitempty"`
}

func (r *response) setErr(err error) {
	if err == nil {
		return
	}
	var nh *errNotHost
	var me *muc.Error
	switch {
	case errors.As(err, &nh):
		r.NotHost, r.Holder = true, nh.holder
	case errors.Is(err, storage.ErrFenced):
		r.NotHost = true
	case errors.As(err, &me):
		r.Code, r.Reason = me.Code, me.Reason
	}
	r.Err = err.Error()
}

func (r *response) err() error {
	switch {
	case r.Err == "":
		return nil
	case r.NotHost:
		return &errNotHost{holder: r.Holder}
	case r.Code != 0:
		return &muc.Error{Code: r.Code, Reason: r.Reason}
	}
	return errors.New(r.Err)
}

// errUnreachable wraps a failure to reach a node (it may have died).
// maybeDone is set when the node may have received the request before it
// went: the command may have run.
type errUnreachable struct {
	err       error
	maybeDone bool
}

func (e *errUnreachable) Error() string { return "pool: node unreachable: " + e.err.Error() }
func (e *errUnreachable) Unwrap() error { return e.err }

// errNodeLost ends a wait for a reply from a node that left this node's
// view meanwhile.
var errNodeLost = errors.New("the node was lost while it had the request")

// call sends req to node and decodes its response into resp, returning
// the remote error, if any.
func (p *Pool) call(ctx context.Context, node string, req request, resp *response) error {
	req.From = p.node
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("pool: encoding %s: %w", req.Method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	// Stop waiting as soon as the node is lost, not at the timeout.
	lost := make(chan struct{})
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		t := time.NewTicker(p.cfg.HeartbeatInterval / 2)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-t.C:
				p.mu.Lock()
				alive := p.aliveLocked(node)
				p.mu.Unlock()
				if !alive {
					close(lost)
					cancel()
					return
				}
			}
		}
	}()
	m, err := p.bus.nc.RequestWithContext(ctx, sprintf(subjRoomsFmt, node), b)
	if err != nil {
		select {
		case <-lost:
			err = errNodeLost
		default:
		}
		return &errUnreachable{err: err, maybeDone: !errors.Is(err, nats.ErrNoResponders)}
	}
	if err := json.Unmarshal(m.Data, resp); err != nil {
		return fmt.Errorf("pool: decoding %s reply from %s: %w", req.Method, node, err)
	}
	return resp.err()
}

// callEach sends req to every node in nodes at once and hands each
// outcome to got, one at a time; it returns when all have answered or
// failed.
func (p *Pool) callEach(ctx context.Context, nodes []string, req request, got func(node string, resp *response, err error)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp response
			err := p.call(ctx, n, req, &resp)
			mu.Lock()
			defer mu.Unlock()
			got(n, &resp, err)
		}()
	}
	wg.Wait()
}

// onRequest runs a command from another node, each in its own goroutine
// (a post waits for its commit; the bus must not wait for it).
func (p *Pool) onRequest(m *nats.Msg) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var req request
		var resp response
		if err := json.Unmarshal(m.Data, &req); err != nil {
			resp.setErr(fmt.Errorf("pool: bad request: %w", err))
		} else {
			ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
			err := p.serve(ctx, req, &resp)
			p.releaseIfNoRoom(req.Room, err)
			resp.setErr(err)
			cancel()
		}
		b, _ := json.Marshal(resp)
		_ = m.Respond(b)
	}()
}

// serve runs one forwarded request on this node.
func (p *Pool) serve(ctx context.Context, req request, resp *response) error {
	if req.Method == "DeliverIM" {
		// A 1:1 message for a user who may have endpoints here.
		delivered, err := p.deliverIM(ctx, req.IM)
		resp.Delivered = delivered
		return err
	}
	if req.Method == "Presences" {
		p.mu.Lock()
		door := p.door
		p.mu.Unlock()
		if door != nil {
			resp.Stanzas = door.LocalPresences(req.Bares, req.Address)
		}
		return nil
	}
	if req.Method == "SyncRoom" {
		// The room's new host asks for this node's sessions in it.
		known, err := p.syncLocalTo(ctx, req.Room, req.From)
		resp.Occupants = known
		return err
	}
	// Every other method needs the room hosted here. A re-declaration
	// (of a session or a watch) must not wait for the claim's gathering,
	// which waits for it.
	redeclare := req.Method == "Resync" || req.Method == "Watch" || req.Method == "Unwatch"
	if err := p.ensureHosting(ctx, req.Room, !redeclare); err != nil {
		return err
	}
	sink := func(s *muc.Session) {
		s.Sink = p.remoteSinkFor(req.From, req.Room, s.Address)
	}
	e := p.e
	switch req.Method {
	case "Resync":
		if req.Join == nil {
			return errors.New("pool: Resync without a join")
		}
		sink(&req.Join.Session)
		return e.Resync(ctx, *req.Join)
	case "Join":
		if req.Join == nil {
			return errors.New("pool: Join without a join")
		}
		sink(&req.Join.Session)
		return e.Join(ctx, *req.Join)
	case "Leave":
		return e.LeaveWithStatus(ctx, req.Room, req.Address, req.Presence, req.Status)
	case "SetPresence":
		return e.SetPresence(ctx, req.Room, req.Address, req.Presence)
	case "Post":
		if req.Post == nil {
			return errors.New("pool: Post without a post")
		}
		msg, err := e.Post(ctx, *req.Post)
		resp.Message = msg
		return p.fenced(req.Room, err)
	case "SetSubject":
		return e.SetSubject(ctx, req.Room, req.Address, req.Text, req.Payload)
	case "SendPrivate":
		return e.SendPrivate(ctx, req.Room, req.Address, req.Nick, req.Payload, req.Text)
	case "Invite":
		return e.Invite(ctx, req.Room, req.Address, req.Extra)
	case "Occupant":
		o, ok := e.Occupant(req.Room, req.Address)
		if ok {
			resp.Occupant = &o
		}
		return nil
	case "Watch":
		resp.Occupants = p.watchLocal(req.Room, req.JID, req.Address, p.remoteSinkFor(req.From, req.Room, req.Address))
		return nil
	case "Unwatch":
		p.unwatchLocal(req.Room, req.Address)
		return nil
	case "Occupants":
		resp.Occupants = e.Occupants(req.Room)
		return nil
	case "SetRole":
		return e.SetRole(ctx, req.Room, req.Address, req.Nick, req.Role, req.Text)
	case "SetAffiliation":
		return e.SetAffiliation(ctx, req.Room, req.Actor, req.JID, req.Aff, req.Text)
	case "SetPresenter":
		return e.SetPresenter(ctx, req.Room, req.Actor, req.JID, req.Flag)
	case "Configure":
		if req.Config == nil {
			return errors.New("pool: Configure without a configuration")
		}
		want := *req.Config
		r, err := e.Configure(ctx, req.Actor, req.Room, func(cur *storage.Room) error {
			*cur = want
			return nil
		})
		resp.Room = &r
		return err
	case "Destroy":
		return e.Destroy(ctx, req.Actor, req.Room, req.Text, req.Extra)
	case "RemoveMessage":
		return p.fenced(req.Room, e.RemoveMessage(ctx, req.Actor, req.Room, req.Extra, req.Text))
	}
	return fmt.Errorf("pool: unknown method %q", req.Method)
}

// fenced drops a room whose post was fenced: another node claimed it.
func (p *Pool) fenced(room string, err error) error {
	if errors.Is(err, storage.ErrFenced) {
		p.dropHosting(room)
	}
	return err
}

var _ = time.Second
