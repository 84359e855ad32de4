package interop

import (
	"context"
	"errors"
	"sync"

	"mellium.im/xmpp/jid"
)

// Deliverer is one way to reach users: a front door's live endpoints on
// this node (XMPP sessions, SIP registered contacts), or, in a pool, a
// forwarder to the node that holds a user's endpoints.
//
// Deliver hands m to every live endpoint it has for m.To (an XMPP front
// door following RFC 6121 §8.5 for bare and full JIDs) and reports whether
// there was any. It never stores a message for later: that is the
// Router's Store, used only when no Deliverer had an endpoint. It may hand
// the message on asynchronously; a failure found later is sent back
// through the Router as a Message of Type "error" to m.From. Deliver must
// not block on a slow endpoint.
type Deliverer interface {
	Deliver(ctx context.Context, m Message) (delivered bool, err error)
}

// Store keeps messages for users who have no live endpoint anywhere,
// until they have one (the XMPP front door's offline storage, XEP-0160).
type Store interface {
	// Store keeps m. It returns an *Error when the user does not exist
	// or cannot take more.
	Store(ctx context.Context, m Message) error
	// Drain hands user's kept messages to deliver, oldest first, and
	// forgets those it took; it stops at the first one deliver refuses.
	Drain(ctx context.Context, user jid.JID, deliver func(Message) bool) error
}

// Router carries 1:1 messages between the front doors (DESIGN §3): the
// protocol packages hold a *Router, never each other. cmd/parleyd adds
// the front doors' Deliverers and the Store before serving; package pool
// adds one Deliverer more that forwards to other nodes.
//
// A message for a user goes to every front door with a live endpoint for
// them, as RFC 6121 §8.5.2.1.1 sends a chat message to all of a user's
// resources of the highest priority: a user with an XMPP session and a
// SIP binding gets it on both. Only when nobody had one is it stored.
type Router struct {
	mu       sync.RWMutex
	doors    []Deliverer
	store    Store
	recorder Recorder
}

// Recorder keeps what a front door other than XMPP's takes from its own
// users before it is delivered: the parties' archives and the compliance
// event of a 1:1 message (the XMPP front door, which records what its own
// users send itself). It refuses, with an *Error, a message the parties'
// blocklists stop.
type Recorder interface {
	Record(ctx context.Context, m Message) error
}

// SetRecorder sets where messages front doors take from their users are
// recorded.
func (r *Router) SetRecorder(rec Recorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recorder = rec
}

// Record records m, a message a front door took from one of its users,
// before it is delivered; with no Recorder set it records nothing.
func (r *Router) Record(ctx context.Context, m Message) error {
	r.mu.RLock()
	rec := r.recorder
	r.mu.RUnlock()
	if rec == nil {
		return nil
	}
	return rec.Record(ctx, m)
}

// NewRouter returns a Router with no front doors.
func NewRouter() *Router { return &Router{} }

// AddDeliverer adds a way to reach users.
func (r *Router) AddDeliverer(d Deliverer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.doors = append(r.doors, d)
}

// SetStore sets where messages for users with no live endpoint go.
func (r *Router) SetStore(s Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store = s
}

// Deliver hands m to every Deliverer except origin, the front door asking,
// which has already delivered to its own endpoints with its own protocol's
// full fidelity (nil: ask every door). delivered is true if any door had
// a live endpoint; err joins the doors' errors, which matter only when
// nothing was delivered.
func (r *Router) Deliver(ctx context.Context, m Message, origin Deliverer) (delivered bool, err error) {
	r.mu.RLock()
	doors := r.doors
	r.mu.RUnlock()
	var errs []error
	for _, d := range doors {
		if d == origin {
			continue
		}
		ok, err := d.Deliver(ctx, m)
		delivered = delivered || ok
		if err != nil {
			errs = append(errs, err)
		}
	}
	return delivered, errors.Join(errs...)
}

// Store keeps m for a recipient no door could reach. With no Store set it
// returns recipient-unavailable (RFC 7247 §8: SIP 480).
func (r *Router) Store(ctx context.Context, m Message) error {
	r.mu.RLock()
	s := r.store
	r.mu.RUnlock()
	if s == nil {
		return &Error{Condition: RecipientUnavailable}
	}
	return s.Store(ctx, m)
}

// Online delivers what was stored for user through door, a front door
// where user just got a live endpoint (a SIP REGISTER; an XMPP session
// reads its offline messages itself).
func (r *Router) Online(ctx context.Context, user jid.JID, door Deliverer) error {
	r.mu.RLock()
	s := r.store
	r.mu.RUnlock()
	if s == nil {
		return nil
	}
	return s.Drain(ctx, user, func(m Message) bool {
		ok, err := door.Deliver(ctx, m)
		return ok && err == nil
	})
}
