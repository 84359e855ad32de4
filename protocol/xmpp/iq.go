package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// IQ semantics (RFC 6120 §8.2.3) as the mux applies them to every IQ,
// whoever it is addressed to, and the IQ routes of the core: RFC 3921
// session establishment, and IQs to an account's session (a full JID).

// validIQ checks what RFC 6120 §8.2.3 requires of every IQ and answers
// bad-request when it is not so: an id, a known type, exactly one payload
// in a get or set. It reports whether the IQ may be routed.
func validIQ(o origin, iq *Element, typ string) bool {
	request := typ == "get" || typ == "set"
	var serr *StanzaError
	switch {
	case iq.AttrValue("id") == "":
		if typ != "error" && typ != "result" {
			serr = errBadRequest("an IQ needs an id")
		}
	case !request && typ != "result" && typ != "error":
		serr = errBadRequest("IQ type must be get, set, result or error")
	case request && len(iq.Elements()) != 1:
		serr = errBadRequest("a get or set IQ has exactly one payload")
	default:
		return true
	}
	if serr != nil {
		o.send(errorReply(iq, serr, "").Bytes())
	}
	return false
}

// answerIQ runs an IQ get or set handler and sends its result or error
// (RFC 6120 §8.2.3). A request to another account (its bare JID) is
// answered only if the account exists, or it would tell the sender which
// accounts exist (RFC 6121 §8.5.1).
func (s *Server) answerIQ(ctx context.Context, answer iqHandler, r *request) {
	iq := r.el
	if r.at == toAccount && r.to.String() != r.from.bareJID() {
		exists, err := s.accountExists(ctx, r.to.Localpart())
		if err != nil {
			s.log.Error("iq: checking account", "to", r.to.String(), "err", err)
			r.reply(errorReply(iq, errInternal(""), ""))
			return
		}
		if !exists {
			r.reply(errorReply(iq, errServiceUnavailable(""), ""))
			return
		}
	}
	result, err := answer(ctx, r)
	if err != nil {
		s.bounce(r, err)
		return
	}
	reply := NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"), "to", r.from.fullJID().String())
	if t := iq.AttrValue("to"); t != "" {
		reply.SetAttr("from", t)
	}
	if result != nil {
		reply.Append(result)
	}
	r.reply(reply)
}

func (s *Server) registerSession() {
	// RFC 3921 session establishment, which RFC 6121 made a no-op but
	// older clients still send.
	session := func(context.Context, *request) (*Element, error) { return nil, nil }
	why := unadvertised("RFC 3921 session establishment is a stream feature (conn.go), not a disco feature")
	s.mux.iq(toServer, "set", nsSession, "session", session, why)
	s.mux.iq(toAccount, "set", nsSession, "session", session, why)
}

// routeIQToResource delivers an IQ to a local full JID; a request to a
// resource that is not there gets service-unavailable (RFC 6121 §8.5.3.2.1).
// In a pool the session may be on another node (Config.Remote): a request
// is handed to the node that holds it, whose session's answer comes back
// the same way (a result or an error is handed to whichever node holds
// its addressee) or, to another server, over that node's own link.
func (s *Server) routeIQToResource(ctx context.Context, r *request) error {
	if target := s.router.session(r.to.Bare().String(), r.to.Resourcepart()); target != nil {
		target.sendElement(r.el)
		return nil
	}
	request := r.typ == "get" || r.typ == "set"
	switch {
	case s.cfg.Remote == nil:
	case request && s.cfg.Remote.DeliverIQ(ctx, r.to.String(), r.el.Bytes()):
		return nil
	case !request:
		s.cfg.Remote.Send(r.to.String(), r.el.Bytes())
		return nil
	}
	if request {
		return errServiceUnavailable("")
	}
	return nil
}

// DeliverIQ hands an IQ request from another pool node to the session of
// the full JID to, if it is here, and reports whether it was.
func (s *Server) DeliverIQ(to string, stanza []byte) bool {
	j, err := jid.Parse(to)
	if err != nil || j.Domainpart() != s.cfg.Domain || j.Resourcepart() == "" {
		return false
	}
	target := s.router.session(j.Bare().String(), j.Resourcepart())
	if target == nil {
		return false
	}
	target.send(stanza)
	return true
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
