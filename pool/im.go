package pool

import (
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// 1:1 messages across nodes (DESIGN §3, §4): the pool is one more
// interop.Deliverer of the node's Router. A message for a user with no
// live endpoint on this node is offered to every other live node, whose
// own front doors deliver it to the user's XMPP sessions and SIP contacts
// there; only when no node had one does the Router store it.

// imMessage is an interop.Message on the bus.
type imMessage struct {
	From, To, Type, ID, Thread, Subject, Body string
	Error                                     *interop.Error `json:",omitempty"`
	Stanza                                    []byte         `json:",omitempty"`
}

func toWire(m interop.Message) imMessage {
	return imMessage{From: m.From.String(), To: m.To.String(), Type: m.Type, ID: m.ID,
		Thread: m.Thread, Subject: m.Subject, Body: m.Body, Error: m.Error, Stanza: m.Stanza}
}

func (w imMessage) message() (interop.Message, error) {
	from, err := jid.Parse(w.From)
	if err != nil {
		return interop.Message{}, fmt.Errorf("from %q: %w", w.From, err)
	}
	to, err := jid.Parse(w.To)
	if err != nil {
		return interop.Message{}, fmt.Errorf("to %q: %w", w.To, err)
	}
	return interop.Message{From: from, To: to, Type: w.Type, ID: w.ID, Thread: w.Thread,
		Subject: w.Subject, Body: w.Body, Error: w.Error, Stanza: w.Stanza}, nil
}

// imDeliverer forwards 1:1 messages to the other nodes.
type imDeliverer struct{ p *Pool }

// IM joins the node's 1:1 message Router to the pool: it returns the
// Deliverer to add to router, and messages other nodes forward here are
// delivered through router's other front doors.
func (p *Pool) IM(router *interop.Router) interop.Deliverer {
	d := &imDeliverer{p: p}
	p.mu.Lock()
	p.im, p.imDoor = router, d
	p.mu.Unlock()
	return d
}

// Deliver implements interop.Deliverer: it offers m to every other live
// node at once and reports whether any had a live endpoint for m.To.
func (d *imDeliverer) Deliver(ctx context.Context, m interop.Message) (bool, error) {
	p := d.p
	peers := p.livePeers()
	if len(peers) == 0 {
		return false, nil
	}
	w := toWire(m)
	delivered := false
	var errs []error
	cmdDeliverIM.callEach(ctx, p, peers, deliverIMCmd{Message: w}, func(_ string, ok bool, err error) {
		delivered = delivered || ok
		var un *errUnreachable
		if err != nil && !errors.As(err, &un) {
			errs = append(errs, err)
		}
	})
	return delivered, errors.Join(errs...)
}

// deliverIM delivers a message another node forwarded through this node's
// own front doors (not back to the pool).
func (p *Pool) deliverIM(ctx context.Context, w imMessage) (bool, error) {
	p.mu.Lock()
	router, door := p.im, p.imDoor
	p.mu.Unlock()
	if router == nil {
		return false, nil
	}
	m, err := w.message()
	if err != nil {
		return false, fmt.Errorf("pool: forwarded message: %w", err)
	}
	return router.Deliver(ctx, m, door)
}
