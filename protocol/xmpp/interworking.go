package xmpp

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// 1:1 messages with the domain's users on other front doors (DESIGN §3;
// RFC 7572 for the mapping). The Server is an interop.Deliverer for its
// sessions and the interop.Store for everyone (offline storage, XEP-0160);
// deliverMessage asks Config.IM for the other front doors.

// Deliver implements interop.Deliverer: m goes to the live sessions of
// m.To as a <message/> from m.From, following RFC 6121 §8.5 (a full JID
// to that resource; a bare JID to the available resources of the highest
// non-negative priority). An error message goes only to the full JID it
// names. It never stores: the Router does when no front door delivered.
func (s *Server) Deliver(_ context.Context, m interop.Message) (bool, error) {
	if m.To.Domainpart() != s.cfg.Domain || m.To.Localpart() == "" {
		return false, nil
	}
	bare := m.To.Bare().String()
	el := imElement(m)
	to := m.To
	if orig := parseStored(m.Stanza); orig != nil && orig.Name.Local == "message" {
		// Another node's XMPP front door took it from an XMPP sender:
		// delivered as it came, to the resource it names if that is
		// here.
		el = orig
		if t, err := jid.Parse(orig.AttrValue("to")); err == nil && t.Bare().Equal(m.To.Bare()) && t.Resourcepart() != "" {
			if r := s.router.session(bare, t.Resourcepart()); r != nil {
				return r.sendElement(el), nil
			}
		}
	}
	// A message from another front door (a SIP user; not one another
	// node's XMPP front door forwards, whose node sent the carbons) is
	// copied to the carbon-enabled resources here that do not get it
	// (XEP-0280 §6); every node does so for its own.
	carbons := len(m.Stanza) == 0 && m.Type != "error"
	if res := to.Resourcepart(); res != "" {
		if r := s.router.session(bare, res); r != nil {
			if carbons {
				s.localCarbons("received", bare, el, func(o *session) bool { return o == r })
			}
			return r.sendElement(el), nil
		}
		if m.Type == "error" {
			return false, nil // §8.5.3.2.1: an error to a gone resource is dropped
		}
	}
	if m.Type == "error" {
		return false, nil
	}
	targets := s.deliveryTargets(bare, "chat")
	if len(targets) == 0 {
		return false, nil
	}
	data := el.Bytes()
	for _, r := range targets {
		r.send(data)
	}
	if carbons {
		s.localCarbons("received", bare, el, func(o *session) bool { return containsSession(targets, o) })
	}
	return true, nil
}

// Record implements interop.Recorder: a 1:1 message another front door
// (SIP) took from a user of the domain is refused when either party
// blocks the other (blocking.go), else archived in the archives of the
// domain's accounts among its parties, with its compliance event, as one
// an XMPP user sends is (mam_account.go).
func (s *Server) Record(ctx context.Context, m interop.Message) error {
	local := func(j jid.JID) bool { return j.Domainpart() == s.cfg.Domain && j.Localpart() != "" }
	typ := m.Type
	if typ == "" {
		typ = "chat"
	}
	if typ != "chat" && typ != "normal" {
		return nil
	}
	// Blocking (XEP-0191 §3.3, §3.6) holds whatever front door the
	// sender uses: refused as an XMPP sender's stanza would be.
	if local(m.To) && s.blocked(ctx, m.To.Bare().String(), m.From, true) {
		return &interop.Error{Condition: interop.ServiceUnavailable}
	}
	if local(m.From) && s.blocked(ctx, m.From.Bare().String(), m.To, true) {
		return &interop.Error{Condition: interop.NotAcceptable, Text: "you block this user"}
	}
	_, _, err := s.archiveDirect(ctx, imElement(m), typ, m.From, m.To, local(m.From), local(m.To))
	return err
}

// Store implements interop.Store with the offline storage: the message
// waits for the user's next available XMPP resource.
func (s *Server) Store(ctx context.Context, m interop.Message) error {
	if m.To.Domainpart() != s.cfg.Domain || m.To.Localpart() == "" {
		return &interop.Error{Condition: interop.ItemNotFound}
	}
	exists, err := s.accountExists(ctx, m.To.Localpart())
	if err != nil {
		return err
	}
	if !exists {
		// RFC 6121 §8.5.1 answers service-unavailable to hide whether an
		// account exists from other servers; a SIP sender of the domain
		// is better told 404 (RFC 7247 §8.1: item-not-found).
		return &interop.Error{Condition: interop.ItemNotFound, Text: "no such user"}
	}
	el := imElement(m)
	if serr := s.storeOffline(ctx, el, m.To.Bare()); serr != nil {
		return &interop.Error{Condition: interop.Condition(serr.Condition), Text: serr.Text}
	}
	s.pushIfAway(ctx, el, m.To.Bare(), el.AttrValue("type"), nil)
	return nil
}

// imElement renders m as a <message/> (RFC 7572 §5): type chat unless the
// message says otherwise, body, subject and thread.
func imElement(m interop.Message) *Element {
	typ := m.Type
	if typ == "" {
		typ = "chat"
	}
	el := NewElement(nsClient, "message", "type", typ, "from", m.From.String(), "to", m.To.String(), "id", m.ID)
	if m.Subject != "" {
		el.Append(NewElement(nsClient, "subject").AppendText(m.Subject))
	}
	if m.Body != "" {
		el.Append(NewElement(nsClient, "body").AppendText(m.Body))
	}
	if m.Thread != "" {
		el.Append(NewElement(nsClient, "thread").AppendText(m.Thread))
	}
	if m.Error != nil {
		errEl := errorReply(NewElement(nsClient, "message"), refusalError(m.Error), "").Child(nsClient, "error")
		el.Append(errEl)
	}
	return el
}

// deliverElsewhere offers a chat or normal message with a body, sent to a
// local account's bare JID (or a resource it does not have), to the other
// front doors. It reports whether one had a live endpoint for the
// recipient; a failure there comes back later as an error message.
func (s *Server) deliverElsewhere(ctx context.Context, m *Element, to jid.JID, typ string) bool {
	if s.cfg.IM == nil {
		return false
	}
	msg, ok := messageOf(m, to.Bare())
	if !ok {
		// Chat states, receipts, …: nothing a SIP MESSAGE carries, but
		// the user's XMPP resources on other pool nodes want them.
		from, err := jid.Parse(m.AttrValue("from"))
		if s.cfg.Remote == nil || (typ != "chat" && typ != "normal") || err != nil {
			return false
		}
		msg = interop.Message{From: from, To: to.Bare(), Type: typ, ID: m.AttrValue("id")}
	}
	// Other nodes' XMPP front doors deliver the stanza itself, with every
	// extension (and the recipient archive's stanza-id).
	msg.Stanza = m.Bytes()
	delivered, err := s.cfg.IM.Deliver(ctx, msg, s)
	if err != nil && !delivered {
		var ie *interop.Error
		if !errors.As(err, &ie) {
			s.log.Error("message: delivering to another front door", "to", to.String(), "err", err)
		}
	}
	return delivered
}

// Drain implements interop.Store: the messages stored offline for user go
// to deliver, oldest first, and those it takes are deleted. It stops at
// the first message deliver refuses or another front door cannot carry
// (no body: it waits for an XMPP login), so order is kept. A user with an
// XMPP session is left alone: the session receives them itself (RFC 6121
// §8.5.2.2.1).
func (s *Server) Drain(ctx context.Context, user jid.JID, deliver func(interop.Message) bool) error {
	l := s.offline.of(user.Bare().String())
	l.Lock()
	defer l.Unlock()
	if s.router.user(user.Bare().String()) != nil {
		return nil
	}
	msgs, err := s.cfg.Store.OfflineMessages(ctx, user.Localpart())
	if err != nil {
		return fmt.Errorf("reading offline messages of %s: %w", user, err)
	}
	var last int64
	for _, om := range msgs {
		m, ok := imMessage(om.Stanza, user.Bare())
		if !ok || !deliver(m) {
			break
		}
		last = om.ID
	}
	if last == 0 {
		return nil
	}
	if err := s.cfg.Store.DeleteOfflineThrough(ctx, user.Localpart(), last); err != nil {
		return fmt.Errorf("deleting delivered offline messages of %s: %w", user, err)
	}
	return nil
}

// offlineLocks is a fixed set of mutexes, one per user by hash: few
// enough to keep, enough that users rarely share one.
type offlineLocks [64]sync.Mutex

func (o *offlineLocks) of(bare string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(bare))
	return &o[h.Sum32()%uint32(len(o))]
}

// imMessage reads a stored message back into an interop.Message for to.
func imMessage(stanza []byte, to jid.JID) (interop.Message, bool) {
	el := parseStored(stanza)
	if el == nil {
		return interop.Message{}, false
	}
	return messageOf(el, to)
}

// messageOf maps a chat or normal <message/> with a body to an
// interop.Message for to (RFC 7572 §4); ok is false for anything else.
func messageOf(el *Element, to jid.JID) (m interop.Message, ok bool) {
	typ := el.AttrValue("type")
	if typ == "" {
		typ = "normal"
	}
	body := el.Child(nsClient, "body")
	from, err := jid.Parse(el.AttrValue("from"))
	if el.Name.Local != "message" || (typ != "chat" && typ != "normal") || body == nil || body.Text() == "" || err != nil {
		return interop.Message{}, false
	}
	m = interop.Message{From: from, To: to, Type: typ, ID: el.AttrValue("id"), Body: body.Text()}
	if sub := el.Child(nsClient, "subject"); sub != nil {
		m.Subject = sub.Text()
	}
	if th := el.Child(nsClient, "thread"); th != nil {
		m.Thread = th.Text()
	}
	return m, true
}
