package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Defaults of the sender.
const (
	DefaultSendQueue = 256
	sendTimeout      = 10 * time.Second // one MESSAGE transaction to one contact
)

// outgoing is one MESSAGE for every registered contact of a user, or,
// with sub set, one NOTIFY in that subscription's dialog.
type outgoing struct {
	from        sip.Uri // the room, or the user it is from
	contentType string
	body        []byte
	// subject and callID, when set, go into those headers (RFC 7572:
	// an XMPP <subject/> and <thread/>).
	subject, callID string
	// done, if set, is called once every contact was tried: with nil if
	// one took the MESSAGE, else the last failure (a *rejectedError for a
	// failure response).
	done func(error)
	// cpim, when set, is the post as message/cpim for the contacts that
	// accept it (cpim.go); body is then the text/plain form.
	cpim *cpimPost

	sub   *subscription
	state string // the NOTIFY's Subscription-State

	// peer, when set, is another domain's server to send the MESSAGE
	// to, for the user to (federation.go), instead of contacts.
	peer peerTarget
	to   sip.Uri
}

// rejectedError is a contact's failure response to a MESSAGE.
type rejectedError struct {
	Status int
	Reason string
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("MESSAGE answered %d %s", e.Status, e.Reason)
}

// errQueueFull is the failure of a MESSAGE dropped because the user's
// queue was full.
var errQueueFull = errors.New("SIP send queue full")

// errNoContact is the failure of a MESSAGE whose user had no contact left
// when its turn came.
var errNoContact = errors.New("no registered contact")

// sender delivers MESSAGEs to users' registered contacts and NOTIFYs to
// subscribers, off the room's lock: Deliver only appends to a bounded
// queue per user (or subscription); one goroutine per queue with
// something in it sends, in queue order, and exits when the queue is
// empty. A full queue drops the MESSAGE with a log, so a slow or
// unreachable endpoint never stalls a room or anyone else.
type sender struct {
	s      *Server
	client *sipgo.Client
	max    int

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	queues map[string]*userQueue // by AOR, or "subscription " + dialog id
}

type userQueue struct {
	items   []outgoing
	dropped int // since the queue was last empty: logged once, then counted
}

func newSender(s *Server, client *sipgo.Client, max int) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	return &sender{s: s, client: client, max: max, ctx: ctx, cancel: cancel, queues: make(map[string]*userQueue)}
}

// enqueue queues m for aor's contacts (or m.sub's dialog, with the key
// "subscription " + its id). It never blocks. It reports false when m
// was dropped (the queue is full, or the sender closed); m.done is then
// not called.
func (q *sender) enqueue(aor string, m outgoing) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	uq := q.queues[aor]
	if uq == nil {
		uq = &userQueue{}
		q.queues[aor] = uq
		q.wg.Add(1)
		go q.run(aor, uq)
	}
	if len(uq.items) >= q.max {
		if uq.dropped == 0 {
			q.s.log.Warn("SIP send queue full: dropping MESSAGEs until it drains", "aor", aor, "queued", len(uq.items))
		}
		uq.dropped++
		return false
	}
	uq.items = append(uq.items, m)
	return true
}

// run sends aor's queue until it is empty or the sender closes.
func (q *sender) run(aor string, uq *userQueue) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(uq.items) == 0 || q.closed {
			if uq.dropped > 0 {
				q.s.log.Warn("SIP send queue drained", "aor", aor, "dropped", uq.dropped)
			}
			delete(q.queues, aor)
			q.mu.Unlock()
			return
		}
		m := uq.items[0]
		uq.items[0] = outgoing{}
		uq.items = uq.items[1:]
		q.mu.Unlock()
		if m.sub != nil {
			q.notify(m)
			continue
		}
		if m.peer.addr != "" {
			err := q.sendPeer(m)
			if err != nil {
				q.s.log.Info("MESSAGE to another domain failed", "to", m.to.String(), "dest", m.peer, "err", err)
			}
			if m.done != nil {
				m.done(err)
			}
			continue
		}
		if to, foreign := q.s.foreignTarget(aor); foreign {
			err := q.sendForeign(to, m) // federation.go
			if m.done != nil {
				m.done(err)
			}
			continue
		}
		failure := errNoContact
		for _, b := range q.s.reg.bindings(aor) {
			if err := q.send(b, m); err != nil {
				q.s.log.Info("MESSAGE to a contact failed", "aor", aor, "contact", b.URI, "err", err)
				if failure != nil {
					failure = err
				}
			} else {
				failure = nil
			}
		}
		if m.done != nil {
			m.done(failure)
		}
	}
}

// send sends one MESSAGE to one contact and waits for its final response.
// An outbound flow (RFC 5626) or a connection-oriented binding is reached
// over the connection the REGISTER came on.
func (q *sender) send(b Binding, m outgoing) error {
	var target sip.Uri
	if err := sip.ParseUri(b.URI, &target); err != nil {
		return fmt.Errorf("contact %q: %w", b.URI, err)
	}
	req := sip.NewRequest(sip.MESSAGE, target)
	from := &sip.FromHeader{Address: m.from, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	var to sip.Uri
	if err := sip.ParseUri(b.AOR, &to); err != nil {
		return fmt.Errorf("address of record %q: %w", b.AOR, err)
	}
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	if m.callID != "" {
		callID := sip.CallIDHeader(m.callID)
		req.AppendHeader(&callID)
	}
	if m.subject != "" {
		req.AppendHeader(sip.NewHeader("Subject", m.subject))
	}
	if m.cpim != nil && b.CPIM {
		req.AppendHeader(sip.NewHeader("Content-Type", cpimContentType))
		req.SetBody(m.cpim.render())
	} else {
		req.AppendHeader(sip.NewHeader("Content-Type", m.contentType))
		req.SetBody(m.body)
	}
	if tr := strings.ToUpper(b.Transport); tr != "" && b.Source != "" && (b.RegID != "" || sip.IsReliable(tr)) {
		req.SetTransport(tr)
		req.SetDestination(b.Source)
	}
	ctx, cancel := context.WithTimeout(q.ctx, sendTimeout)
	defer cancel()
	res, err := q.client.Do(ctx, req, buildRequest)
	if err != nil {
		return fmt.Errorf("sending MESSAGE: %w", err)
	}
	if !res.IsSuccess() {
		return &rejectedError{Status: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// notify sends one NOTIFY of a subscription and waits for its final
// response. A failure ends the subscription (RFC 6665 §4.2.2: 481 or a
// timeout means the subscriber is gone).
func (q *sender) notify(m outgoing) {
	req := m.sub.notifyRequest(m)
	ctx, cancel := context.WithTimeout(q.ctx, sendTimeout)
	defer cancel()
	res, err := q.client.Do(ctx, req, buildRequest)
	switch {
	case err != nil:
		q.s.log.Info("NOTIFY failed: subscription ended", "aor", m.sub.aor, "room", m.sub.room, "err", err)
	case !res.IsSuccess():
		q.s.log.Info("NOTIFY refused: subscription ended", "aor", m.sub.aor, "room", m.sub.room, "status", res.StatusCode)
	default:
		return
	}
	m.sub.end()
}

// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU, or
// larger than 1300 bytes when the MTU is unknown, MUST go over a
// congestion-controlled transport such as TCP, with the top Via saying
// so. sipgo (v1.7.3) does not switch by itself: its UDP transport refuses
// such a message ("size of packet larger than MTU"), so a long room post
// never reached a contact registered over UDP, and a conference NOTIFY
// listing two occupants was never sent (the subscription then ended at
// once). A UA that registered over UDP listens on TCP on the same address
// (RFC 3261 §18.2.1 asks every UA to), which is where the request goes.

// sentByRoom is room kept for what sipgo's transport layer writes into
// the top Via after the size is measured (the sent-by host and port).
const sentByRoom = 64

// maxUDPRequest is the largest request sent over UDP: sipgo's own limit
// (sip.UDPMTUSize less 200 bytes) less sentByRoom.
func maxUDPRequest() int { return sip.UDPMTUSize - 200 - sentByRoom }

// buildRequest is the client request option every MESSAGE and NOTIFY is
// sent with: sipgo's usual headers (ClientRequestBuild), then TCP in
// place of UDP for a request too large for a datagram.
func buildRequest(c *sipgo.Client, req *sip.Request) error {
	if err := sipgo.ClientRequestBuild(c, req); err != nil {
		return err
	}
	if !strings.EqualFold(req.Transport(), "UDP") || len(req.String()) <= maxUDPRequest() {
		return nil
	}
	req.SetTransport("TCP")
	if via := req.Via(); via != nil {
		via.Transport = "TCP"
	}
	return nil
}

// close stops the senders, abandoning what is queued, and waits for them.
func (q *sender) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
}
