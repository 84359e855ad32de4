package sip

import (
	"context"
	"errors"
	"mime"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// 1:1 instant messages (RFC 3428 pager mode) between the domain's users,
// whichever front door they are on (RFC 7572; addresses RFC 7247 §5,
// errors §8, all mapped in package interop).
//
// A MESSAGE to sip:USER@DOMAIN from an authenticated user goes to every
// live endpoint the recipient has: USER's XMPP sessions (as a chat
// message from the sender's bare JID, through Config.IM) and USER's
// registered SIP contacts. It is answered
//
//   - 200 OK when an XMPP session took it,
//   - 202 Accepted when it was only queued for SIP contacts, or when the
//     recipient had no live endpoint and it was stored offline (XEP-0160):
//     it is delivered at their next XMPP login or, for a SIP-only user,
//     on their next successful REGISTER (offline.go in protocol/xmpp),
//   - 404 for an address that is not a user, 400 for a body or Subject
//     XML cannot carry (interop.CheckText), 415 for a body other than text/plain, and the RFC 7247 §8.1
//     status of any other stanza error (e.g. 503 when offline storage is
//     full).
//
// The other way, the Server is an interop.Deliverer: an XMPP user's
// message to a user with registered contacts is sent to each as a
// text/plain MESSAGE from sip:SENDER@DOMAIN; if every contact fails, the
// sender gets a stanza error for the failure (RFC 7247 §8.2).

const (
	imTimeout   = 10 * time.Second // bouncing a failure back
	maxSubject  = 200              // bytes of a Subject header we send
	imIDRandLen = 16
)

// isUserAddress reports whether u names a user of the domain (not a room).
func (s *Server) isUserAddress(u sip.Uri) bool {
	return u.User != "" && strings.EqualFold(u.Host, s.cfg.Domain)
}

// im handles an authenticated MESSAGE from user to another user.
func (s *Server) im(ctx context.Context, req *sip.Request, user string) *sip.Response {
	from, err := interop.JIDFromSIP("sip", user, s.cfg.Domain)
	if err != nil {
		return s.response(req, sip.StatusForbidden, "Forbidden: your address has no XMPP counterpart")
	}
	return s.deliverIM(ctx, req, from)
}

// deliverIM delivers a MESSAGE to a user of the domain from the XMPP
// address of its sender: a local user (im) or another domain's (a trusted
// peer's, federation.go).
func (s *Server) deliverIM(ctx context.Context, req *sip.Request, from jid.JID) *sip.Response {
	to, err := interop.JIDFromSIP(req.Recipient.Scheme, req.Recipient.User, req.Recipient.Host)
	if err != nil {
		return s.response(req, sip.StatusNotFound, "Not Found: no such user")
	}
	if res := s.textOnly(req); res != nil {
		return res
	}
	body := string(req.Body())
	if strings.TrimSpace(body) == "" {
		return s.response(req, sip.StatusBadRequest, "Bad Request: empty message")
	}
	if err := interop.CheckText(body); err != nil {
		return s.response(req, sip.StatusBadRequest, safePhrase("Bad Request: "+err.Error()))
	}
	m := interop.Message{From: from, To: to, Type: "chat", ID: sip.GenerateTagN(imIDRandLen), Body: body}
	if h := req.GetHeader("Subject"); h != nil {
		if err := interop.CheckText(h.Value()); err != nil {
			return s.response(req, sip.StatusBadRequest, safePhrase("Bad Request: Subject: "+err.Error()))
		}
		m.Subject = h.Value()
	}
	if c := req.CallID(); c != nil && interop.CheckText(c.Value()) == nil {
		m.Thread = c.Value() // RFC 7572 Table 2: Call-ID -> <thread/>
	}
	// Archived and captured for compliance before it is delivered, as
	// an XMPP user's message is (interop.Recorder).
	if err := s.cfg.IM.Record(ctx, m); err != nil {
		return s.imRefused(req, m, err)
	}
	queued := s.toContacts(m)
	delivered, err := s.cfg.IM.Deliver(ctx, m, s)
	switch {
	case delivered:
		return s.response(req, sip.StatusOK, "OK")
	case queued:
		return s.response(req, sip.StatusAccepted, "Accepted")
	case err != nil:
		return s.imRefused(req, m, err)
	}
	if err := s.cfg.IM.Store(ctx, m); err != nil {
		return s.imRefused(req, m, err)
	}
	return s.response(req, sip.StatusAccepted, "Accepted")
}

// textOnly answers 415 for a body that is not text/plain (RFC 3428 §7),
// or returns nil.
func (s *Server) textOnly(req *sip.Request) *sip.Response {
	ct := req.ContentType()
	if ct == nil {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct.Value()); err == nil && mt == "text/plain" {
		return nil
	}
	res := s.response(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type")
	res.AppendHeader(sip.NewHeader("Accept", acceptedContentTypes))
	return res
}

// imRefused answers a MESSAGE that could be neither delivered nor stored,
// with the RFC 7247 §8.1 status of the stanza error (interop's error table).
func (s *Server) imRefused(req *sip.Request, m interop.Message, err error) *sip.Response {
	res, internal := s.refusalResponse(req, err)
	if internal {
		s.log.Error("MESSAGE to a user", "from", m.From.String(), "to", m.To.String(), "err", err)
	}
	return res
}

// Deliver implements interop.Deliverer: m goes to every registered
// contact of m.To as a text/plain MESSAGE from m.From's sip: URI. It
// reports false when m.To has no contact. Sending is asynchronous (the
// per-user queue of sender.go); when every contact fails, the failure
// goes back to m.From as an error message.
func (s *Server) Deliver(_ context.Context, m interop.Message) (bool, error) {
	if m.Type == "error" || m.Body == "" {
		// An error has no SIP request to answer; a message without a
		// body (an XMPP chat state or receipt, interop.Message.Stanza)
		// is nothing a MESSAGE carries.
		return false, nil
	}
	if s.toPeerDomain(m) { // a user of another SIP domain (federation.go)
		return true, nil
	}
	return s.toContacts(m), nil
}

// toContacts queues m for m.To's registered contacts, if there are any.
func (s *Server) toContacts(m interop.Message) bool {
	if !strings.EqualFold(m.To.Domainpart(), s.cfg.Domain) {
		return false
	}
	user, _, err := interop.SIPFromJID(m.To)
	if err != nil {
		return false
	}
	aor := s.aor(user)
	if len(s.reg.bindings(aor)) == 0 {
		return false
	}
	fromUser, fromHost, err := interop.SIPFromJID(m.From)
	if err != nil {
		return false
	}
	s.queueIM(aor, m, outgoing{from: sip.Uri{Scheme: "sip", User: fromUser, Host: fromHost}})
	return true
}

// queueIM fills o (its from, and to and peer for another domain, already
// set) with m and queues it under key; a failure bounces m.
func (s *Server) queueIM(key string, m interop.Message, o outgoing) {
	o.contentType = textPlain
	o.body = []byte(m.Body)
	o.subject = safePhrase(m.Subject)
	o.callID = interop.CallIDFromThread(m.Thread)
	if len(o.subject) > maxSubject {
		o.subject = safePhrase(o.subject[:maxSubject])
	}
	o.done = func(err error) {
		if err != nil {
			s.bounce(m, err)
		}
	}
	if !s.out.enqueue(key, o) {
		s.bounce(m, errQueueFull)
	}
}

// bounce tells m's sender that no contact took m (RFC 7247 §8.2): an
// error message from the recipient, with the condition of the contacts'
// failure response, or recipient-unavailable when none answered.
func (s *Server) bounce(m interop.Message, err error) {
	cond := interop.RecipientUnavailable
	text := "no SIP contact took the message"
	var rej *rejectedError
	switch {
	case errors.As(err, &rej):
		cond, text = interop.ConditionOf(rej.Status), safePhrase(rej.Reason)
	case errors.Is(err, errQueueFull):
		cond, text = interop.ResourceConstraint, "too many messages waiting for this user"
	}
	back := interop.Message{From: m.To.Bare(), To: m.From, Type: "error", ID: m.ID,
		Body: m.Body, Error: &interop.Error{Condition: cond, Text: text}}
	ctx, cancel := context.WithTimeout(context.Background(), imTimeout)
	defer cancel()
	if _, err := s.cfg.IM.Deliver(ctx, back, s); err != nil {
		s.log.Debug("bouncing a failed MESSAGE", "to", m.From.String(), "err", err)
	}
}

// deliverStored returns what to do after a REGISTER that gave user their
// first contact: send them the messages stored while they had no live
// endpoint (RFC 3428 leaves store-and-forward to the server), unless an
// XMPP session will.
func (s *Server) deliverStored(user string) func() {
	if s.cfg.IM == nil {
		return nil
	}
	return func() {
		j, err := interop.JIDFromSIP("sip", user, s.cfg.Domain)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), imTimeout)
		defer cancel()
		s.drainMu.Lock()
		defer s.drainMu.Unlock()
		if err := s.cfg.IM.Online(ctx, j, s); err != nil {
			s.log.Error("delivering stored messages", "user", user, "err", err)
		}
	}
}
