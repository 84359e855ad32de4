package xmpp

import (
	"context"
	"sync"
	"time"
)

// IQs the server itself sends to a local client session (RFC 6120 §8.2.3:
// the client must answer each get or set), or on an account's behalf to
// any entity, and the handing of each answer to whoever asked: entity
// capabilities (caps.go) asks a client what its capabilities string means;
// push (push.go) publishes to an app server. One registration takes every result and error
// addressed to the server; what is not an answer to one of its own IQs is
// dropped, as before.

const (
	// maxServerIQs bounds the IQs awaiting an answer; an answer that
	// never comes is forgotten after serverIQTimeout.
	maxServerIQs    = 4096
	serverIQTimeout = time.Minute
)

type serverIQ struct {
	to     string // the session's full JID, which must answer
	sent   time.Time
	answer func(ctx context.Context, r *request)
}

type serverIQs struct {
	mu      sync.Mutex
	pending map[string]serverIQ
}

// registerServerIQs takes the answers to the server's own IQs.
func (s *Server) registerServerIQs() {
	why := unadvertised("answers to the server's own IQs (RFC 6120 §8.2.3), handed to what sent them (serveriq.go)")
	s.mux.stanza(toServer, "iq", "result", "", "", s.serverIQAnswer, why, localOnly)
	s.mux.stanza(toServer, "iq", "error", "", "", s.serverIQAnswer, why, localOnly)
	// The server asks on behalf of an account too (push.go publishes
	// from the user's bare JID, XEP-0357 §7), of local sessions and of
	// other servers' entities: only an answer from the entity asked
	// counts.
	why = unadvertised("answers to what the server asked for an account (push.go), handed to what sent them (serveriq.go)")
	s.mux.stanza(toAccount, "iq", "result", "", "", s.serverIQAnswer, why)
	s.mux.stanza(toAccount, "iq", "error", "", "", s.serverIQAnswer, why)
}

// askSession sends iq (a get or set, from the server) to sess with a fresh
// id; answer gets the session's result or error. It reports false, and
// sends nothing, when too many IQs already await answers.
func (s *Server) askSession(sess *session, iq *Element, answer func(ctx context.Context, r *request)) bool {
	iq.SetAttr("from", s.cfg.Domain)
	iq.SetAttr("to", sess.jid.String())
	return s.ask(iq, func(iq *Element) bool { sess.sendElement(iq); return true }, answer)
}

// ask sends iq (a get or set with its from and to set) with a fresh id
// through send, which reports whether it went out; answer gets the result
// or error that comes back from its to. It reports false when too many
// IQs already await answers or send failed.
func (s *Server) ask(iq *Element, send func(*Element) bool, answer func(ctx context.Context, r *request)) bool {
	id := "srv-" + randomID(8)
	now := time.Now()
	s.iqs.mu.Lock()
	if s.iqs.pending == nil {
		s.iqs.pending = make(map[string]serverIQ)
	}
	if len(s.iqs.pending) >= maxServerIQs {
		for k, q := range s.iqs.pending {
			if now.Sub(q.sent) > serverIQTimeout {
				delete(s.iqs.pending, k)
			}
		}
	}
	if len(s.iqs.pending) >= maxServerIQs {
		s.iqs.mu.Unlock()
		return false
	}
	s.iqs.pending[id] = serverIQ{to: iq.AttrValue("to"), sent: now, answer: answer}
	s.iqs.mu.Unlock()
	iq.SetAttr("id", id)
	if !send(iq) {
		s.iqs.mu.Lock()
		delete(s.iqs.pending, id)
		s.iqs.mu.Unlock()
		return false
	}
	return true
}

// serverIQAnswer hands an answer to what asked, if the server asked it of
// that session.
func (s *Server) serverIQAnswer(ctx context.Context, r *request) error {
	id := r.el.AttrValue("id")
	s.iqs.mu.Lock()
	q, ok := s.iqs.pending[id]
	if ok && q.to == r.from.fullJID().String() {
		delete(s.iqs.pending, id)
	}
	s.iqs.mu.Unlock()
	if ok && q.to == r.from.fullJID().String() {
		q.answer(ctx, r)
	}
	return nil
}
