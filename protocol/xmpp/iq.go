package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// iqKey selects an IQ handler: the request type, the payload's qualified
// name, and whether the IQ is addressed to the server (the domain) or to an
// account (a bare JID, or no 'to' at all).
type iqKey struct {
	typ       string // get or set
	space     string
	local     string
	toAccount bool
}

// iqRequest is what a handler sees: the session that sent it, the stanza,
// its payload and where it was addressed.
type iqRequest struct {
	sess    *session
	iq      *Element
	payload *Element
	to      jid.JID // the server's domain or the account's bare JID
}

// iqHandler answers an IQ get or set. It returns the payload of the result
// (nil for an empty result) or an error; a *StanzaError becomes the error
// reply, anything else internal-server-error.
type iqHandler func(ctx context.Context, req iqRequest) (*Element, error)

// onIQ registers h for IQs of type typ carrying the payload {space}local
// sent to the server (toAccount false) or to an account (true).
func (s *Server) onIQ(typ, space, local string, toAccount bool, h iqHandler) {
	s.iqs[iqKey{typ, space, local, toAccount}] = h
}

// registerHandlers wires every feature's handlers, one file per feature:
// grep for the namespace to find its handler.
func (s *Server) registerHandlers() {
	s.registerSession()
	s.registerRoster()
	s.registerDisco()
	s.registerPing()
	s.registerVersion()
}

// handleIQ routes an IQ from a local session (RFC 6120 §8.2.3, §10).
func (s *Server) handleIQ(ctx context.Context, sess *session, iq *Element) {
	typ := iq.AttrValue("type")
	if iq.AttrValue("id") == "" {
		if typ != "error" && typ != "result" {
			sess.sendElement(errorReply(iq, errBadRequest("an IQ needs an id"), ""))
		}
		return
	}
	request := typ == "get" || typ == "set"
	if !request && typ != "result" && typ != "error" {
		sess.sendElement(errorReply(iq, errBadRequest("IQ type must be get, set, result or error"), ""))
		return
	}
	payloads := iq.Elements()
	if request && len(payloads) != 1 {
		sess.sendElement(errorReply(iq, errBadRequest("a get or set IQ has exactly one payload"), ""))
		return
	}
	kind, to := s.resolveTarget(sess, iq.AttrValue("to"))
	switch kind {
	case targetInvalid:
		if request {
			sess.sendElement(errorReply(iq, errJIDMalformed(""), ""))
		}
		return
	case targetRemote:
		if request {
			sess.sendElement(errorReply(iq, errRemoteServerNotFound("server-to-server is not available"), s.cfg.Domain))
		}
		return
	case targetFullLocal:
		s.routeIQToResource(ctx, sess, iq, to, request)
		return
	}
	if !request {
		return // results and errors to the server or a bare JID end here
	}
	h := s.iqs[iqKey{typ, payloads[0].Name.Space, payloads[0].Name.Local, kind == targetAccount}]
	if h == nil {
		// RFC 6120 §8.4: an unknown payload gets service-unavailable.
		sess.sendElement(errorReply(iq, errServiceUnavailable(""), ""))
		return
	}
	if kind == targetAccount && to.Localpart() != sess.jid.Localpart() {
		exists, err := s.accountExists(ctx, to.Localpart())
		if err != nil {
			s.log.Error("iq: checking account", "to", to.String(), "err", err)
			sess.sendElement(errorReply(iq, errInternal(""), ""))
			return
		}
		if !exists {
			sess.sendElement(errorReply(iq, errServiceUnavailable(""), ""))
			return
		}
	}
	result, err := h(ctx, iqRequest{sess: sess, iq: iq, payload: payloads[0], to: to})
	if err != nil {
		var serr *StanzaError
		if !errors.As(err, &serr) {
			s.log.Error("iq handler failed", "payload", payloads[0].Name.Space, "err", err)
			serr = errInternal("")
		}
		sess.sendElement(errorReply(iq, serr, ""))
		return
	}
	reply := NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"), "to", sess.jid.String())
	if t := iq.AttrValue("to"); t != "" {
		reply.SetAttr("from", t)
	}
	if result != nil {
		reply.Append(result)
	}
	sess.sendElement(reply)
}

// routeIQToResource delivers an IQ to a local full JID; a request to a
// resource that is not there gets service-unavailable (RFC 6121 §8.5.3.2.1).
func (s *Server) routeIQToResource(ctx context.Context, sess *session, iq *Element, to jid.JID, request bool) {
	if target := s.router.session(to.Bare().String(), to.Resourcepart()); target != nil {
		target.sendElement(iq)
		return
	}
	if request {
		sess.sendElement(errorReply(iq, errServiceUnavailable(""), ""))
	}
}

// registerSession answers RFC 3921 session establishment, which RFC 6121
// made a no-op but older clients still send.
func (s *Server) registerSession() {
	h := func(ctx context.Context, req iqRequest) (*Element, error) { return nil, nil }
	s.onIQ("set", nsSession, "session", false, h)
	s.onIQ("set", nsSession, "session", true, h)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
