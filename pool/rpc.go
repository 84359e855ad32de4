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

// outcome is how a command went: Err, Code and Reason carry its error (a
// muc refusal keeps its Code across the bus); NotHost and Holder say the
// node asked does not host the room, and who does if it knows.
type outcome struct {
	Err     string   `json:"err,omitempty"`
	Code    muc.Code `json:"code,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	NotHost bool     `json:"not_host,omitempty"`
	// Unavailable: the node's database could not take it
	// (storage.ErrUnavailable): the sender answers "try again shortly".
	Unavailable bool   `json:"unavailable,omitempty"`
	Holder      string `json:"holder,omitempty"`
}

// reply is a node's answer to a command: its outcome and its result.
type reply[R any] struct {
	outcome
	Result R `json:"result"`
}

func (r *outcome) setErr(err error) {
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
	case errors.Is(err, storage.ErrUnavailable):
		r.Unavailable = true
	}
	r.Err = err.Error()
}

func (r *outcome) err() error {
	switch {
	case r.Err == "":
		return nil
	case r.NotHost:
		return &errNotHost{holder: r.Holder}
	case r.Code != 0:
		return &muc.Error{Code: r.Code, Reason: r.Reason}
	case r.Unavailable:
		return fmt.Errorf("%s: %w", r.Err, storage.ErrUnavailable)
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

// Headers of a command on the bus.
const (
	hdrCommand = "Parley-Command" // its name in commands
	hdrFrom    = "Parley-From"    // the sending node
)

// spec is one kind of command: its name on the bus, where it runs,
// whether it may be sent again, and its handler, which runs it on the
// node that received it for the node from.
type spec[C command, R any] struct {
	name  string
	where where
	retry retry
	serve func(p *Pool, ctx context.Context, from string, c C) (R, error)
}

// handler is a spec as the table holds it, whatever its types.
type handler interface {
	info() specInfo
	// handle decodes a command from the bus, runs it here for the node
	// from and returns the encoded reply.
	handle(ctx context.Context, p *Pool, from string, data []byte) []byte
}

type specInfo struct {
	name  string
	where where
	retry retry
	// served says the spec has a handler.
	served bool
}

func (s *spec[C, R]) info() specInfo {
	return specInfo{name: s.name, where: s.where, retry: s.retry, served: s.serve != nil}
}

// encode and decode are a command's arguments on the bus.
func (s *spec[C, R]) encode(c C) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("pool: encoding %s: %w", s.name, err)
	}
	return b, nil
}

func (s *spec[C, R]) decode(data []byte) (C, error) {
	var c C
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("pool: bad %s command: %w", s.name, err)
	}
	return c, nil
}

// encodeReply and decodeReply are a command's result or error on the bus.
func encodeReply[R any](r R, err error) []byte {
	rep := reply[R]{Result: r}
	rep.setErr(err)
	b, merr := json.Marshal(rep)
	if merr != nil {
		// A result that cannot be encoded: say so instead.
		var failed reply[none]
		failed.setErr(fmt.Errorf("pool: encoding a reply: %w", merr))
		b, _ = json.Marshal(failed)
	}
	return b
}

func decodeReply[R any](b []byte) (R, error) {
	var rep reply[R]
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep.Result, fmt.Errorf("%w: %w", errBadReply, err)
	}
	return rep.Result, rep.err()
}

func (s *spec[C, R]) handle(ctx context.Context, p *Pool, from string, data []byte) []byte {
	var r R
	c, err := s.decode(data)
	if err == nil {
		r, err = s.run(ctx, p, from, c)
	}
	return encodeReply(r, err)
}

// run runs a command another node sent: a room command only once this
// node hosts the room (claiming it if it should).
func (s *spec[C, R]) run(ctx context.Context, p *Pool, from string, c C) (R, error) {
	room := c.room()
	var r R
	var err error
	if s.where == atNode {
		r, err = s.serve(p, ctx, from, c)
	} else if err = p.ensureHosting(ctx, room, s.where == atHost); err == nil {
		r, err = s.serve(p, ctx, from, c)
		err = p.fenced(room, err)
	}
	p.releaseIfNoRoom(room, err)
	return r, err
}

// call sends c to node and returns its result, or the remote error.
func (s *spec[C, R]) call(ctx context.Context, p *Pool, node string, c C) (R, error) {
	var r R
	data, err := s.encode(c)
	if err != nil {
		return r, err
	}
	b, err := p.send(ctx, node, s.name, data)
	if err != nil {
		return r, err
	}
	r, err = decodeReply[R](b)
	if errors.Is(err, errBadReply) {
		err = fmt.Errorf("pool: %s from %s: %w", s.name, node, err)
	}
	return r, err
}

// callEach sends c to every node in nodes at once and hands each outcome
// to got, one at a time; it returns when all have answered or failed.
func (s *spec[C, R]) callEach(ctx context.Context, p *Pool, nodes []string, c C, got func(node string, r R, err error)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.call(ctx, p, n, c)
			mu.Lock()
			defer mu.Unlock()
			got(n, r, err)
		}()
	}
	wg.Wait()
}

// send sends the command name with its encoded arguments to node and
// returns the encoded reply.
func (p *Pool) send(ctx context.Context, node, name string, data []byte) ([]byte, error) {
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
	m := &nats.Msg{Subject: sprintf(subjRoomsFmt, node), Data: data, Header: nats.Header{}}
	m.Header.Set(hdrCommand, name)
	m.Header.Set(hdrFrom, p.node)
	r, err := p.bus.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		select {
		case <-lost:
			err = errNodeLost
		default:
		}
		return nil, &errUnreachable{err: err, maybeDone: !errors.Is(err, nats.ErrNoResponders)}
	}
	return r.Data, nil
}

// onRequest runs a command from another node, each in its own goroutine
// (a post waits for its commit; the bus must not wait for it).
func (p *Pool) onRequest(m *nats.Msg) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		name := m.Header.Get(hdrCommand)
		h, ok := commands[name]
		if !ok {
			_ = m.Respond(encodeReply(none{}, fmt.Errorf("%w %q", errNoCommand, name)))
			return
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
		defer cancel()
		_ = m.Respond(h.handle(ctx, p, m.Header.Get(hdrFrom), m.Data))
	}()
}

// fenced drops a room whose post was fenced: another node claimed it.
func (p *Pool) fenced(room string, err error) error {
	if errors.Is(err, storage.ErrFenced) {
		p.dropHosting(room)
	}
	return err
}
