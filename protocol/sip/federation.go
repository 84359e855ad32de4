package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
)

// SIP federation (RFC 3428 pager mode between domains, RFC 3263 to find
// the other domain's server).
//
// Outbound: an authenticated user's MESSAGE to sip:USER@OTHER (a domain
// that is neither this one nor the rooms' host) is sent on, as a new
// MESSAGE from sip:USER@Domain, to OTHER's server: Config.Routes[OTHER]
// when it is given, else the host and port of OTHER's _sip._udp SRV
// record (RFC 3263 §4.2), else OTHER's address on 5060. The user gets
// the foreign server's final response (its status and reason), or 504
// when it does not answer. NAPTR (RFC 3263 §4.1) is looked up first, and
// a route or a record may say TCP (rfc3263.go).
//
// Inbound: a MESSAGE whose From is in another domain is taken only from
// a source address in Config.TrustedPeers, without digest authentication
// (the peer server vouches for its users), and only for a user of this
// domain; it is delivered as a local user's is (im.go), from the XMPP
// address of the foreign sip: URI, or taken by a room as a local SIP
// user's MESSAGE is, a post or a command (the room's rules, and its
// category's federated setting, decide). After /join the foreign user is
// the occupant sip:USER@OTHER, whose room traffic goes to OTHER's server
// (sendForeign). Anything else from another domain is refused with 403.

// foreignDomain reports whether u is in a domain this server does not
// serve (neither users nor rooms).
func (s *Server) foreignDomain(u sip.Uri) bool {
	return u.Host != "" && !strings.EqualFold(u.Host, s.cfg.Domain) && !strings.EqualFold(u.Host, s.cfg.RoomHost)
}

// trustedPeer reports whether req came from an address in
// Config.TrustedPeers, or over TLS from a server whose certificate names
// the domain of its From, one of Config.TrustedPeerNames (tlspeer.go).
func (s *Server) trustedPeer(req *sip.Request) bool {
	if strings.EqualFold(req.Transport(), "TLS") && s.trustedByName(req.Source(), req.From().Address.Host) {
		return true
	}
	addr, err := netip.ParseAddr(sourceHost(req))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.cfg.TrustedPeers {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// fromPeer handles a request from another domain's server: a MESSAGE from
// a trusted peer to a local user is delivered, one to a room is posted
// (foreignPost); everything else is refused.
func (s *Server) fromPeer(ctx context.Context, req *sip.Request) (*sip.Response, func()) {
	from := req.From().Address
	if !s.trustedPeer(req) || from.User == "" {
		s.log.Info("request from another domain refused: not a trusted peer", "from", from.Host, "source", req.Source(), "method", string(req.Method))
		return s.response(req, sip.StatusForbidden, "Forbidden: not a user of "+s.cfg.Domain), nil
	}
	sender, err := interop.JIDFromSIP("sip", from.User, strings.ToLower(from.Host))
	switch {
	case req.Method != sip.MESSAGE:
		return s.response(req, sip.StatusForbidden, "Forbidden: only MESSAGEs are taken from other domains"), nil
	case err != nil:
		return s.response(req, sip.StatusForbidden, "Forbidden: your address has no XMPP counterpart"), nil
	case s.cfg.Rooms != nil && strings.EqualFold(req.Recipient.Host, s.cfg.RoomHost):
		return s.foreignPost(ctx, req, sender.String())
	case s.cfg.IM == nil || !s.isUserAddress(req.Recipient):
		return s.response(req, sip.StatusForbidden, "Forbidden: only MESSAGEs to users and rooms are taken from other domains"), nil
	}
	return s.deliverIM(ctx, req, sender), nil
}

// foreignPost takes a MESSAGE from another domain's user (sender, a bare
// JID such as carol@other.example) to a room as a local SIP user's is
// taken: a post in pager mode (the room's join rules apply to the sender,
// and a category that is not federated refuses users of other domains),
// or a room command. The sender is the occupant sip:carol@other.example:
// after /join, the room's traffic reaches them as MESSAGEs sent to their
// domain's server (foreignCaller).
func (s *Server) foreignPost(ctx context.Context, req *sip.Request, sender string) (*sip.Response, func()) {
	room, body, res := s.roomText(req)
	if res != nil {
		return res, nil
	}
	c := s.foreignCaller(req.From().Address, sender)
	if trimmed := strings.TrimSpace(body); trimmed[0] == '/' || trimmed[0] == '#' {
		return s.command(ctx, req, room, c, trimmed[1:])
	}
	if _, err := s.cfg.Rooms.Post(ctx, muc.PostRequest{Room: room, Address: c.aor, AsUser: sender, FrontDoor: frontDoorSIP, Body: body}); err != nil {
		return s.refused(req, "post", room, sender, err), nil
	}
	return s.response(req, sip.StatusOK, "OK"), nil
}

// foreignCaller is another domain's user from (sender is its bare JID) as
// a room occupant: the session address sip:USER@DOMAIN, which the sender
// reaches through DOMAIN's server (foreignTarget).
func (s *Server) foreignCaller(from sip.Uri, sender string) caller {
	addr := (&sip.Uri{Scheme: "sip", User: from.User, Host: strings.ToLower(from.Host)}).String()
	return caller{name: sender, aor: addr, bare: sender, foreign: true}
}

// foreignTarget reports whether aor, a queue of the sender, is a user of
// another domain, and its URI: what is queued for it goes to that
// domain's server rather than to registered contacts.
func (s *Server) foreignTarget(aor string) (sip.Uri, bool) {
	var u sip.Uri
	if err := sip.ParseUri(aor, &u); err != nil || u.User == "" || !s.foreignDomain(u) {
		return sip.Uri{}, false
	}
	return u, true
}

// sendForeign sends m, a room's MESSAGE (a post, an event, a command's
// answer), to the foreign occupant to through its domain's server. A
// final failure or no answer means the user is no longer reachable there:
// they leave every room, as a local SIP user does when their last
// registered contact expires (leaveUnreachable).
func (q *sender) sendForeign(to sip.Uri, m outgoing) error {
	s := q.s
	ctx, cancel := context.WithTimeout(q.ctx, sendTimeout)
	dest, err := s.peerTarget(ctx, strings.ToLower(to.Host))
	cancel()
	if err == nil {
		m.to, m.peer = to, dest
		err = q.sendPeer(m)
	}
	if err == nil || q.ctx.Err() != nil || s.cfg.Rooms == nil {
		return err
	}
	s.log.Info("foreign SIP occupant unreachable: leaving its rooms", "aor", to.String(), "err", err)
	ctx, cancel = context.WithTimeout(q.ctx, sendTimeout)
	defer cancel()
	s.cfg.Rooms.LeaveAll(ctx, to.String())
	return err
}

// toPeer sends an authenticated user's MESSAGE on to the recipient's
// domain and answers with that server's final response.
func (s *Server) toPeer(ctx context.Context, req *sip.Request, user string) *sip.Response {
	if res := s.textOnly(req); res != nil {
		return res
	}
	if err := interop.CheckText(string(req.Body())); err != nil {
		return s.response(req, sip.StatusBadRequest, safePhrase("Bad Request: "+err.Error()))
	}
	to := req.Recipient
	to.UriParams, to.Headers = nil, nil
	if res := s.recordToPeer(ctx, req, user, to); res != nil {
		return res
	}
	dest, err := s.peerTarget(ctx, strings.ToLower(to.Host))
	if err != nil {
		s.log.Info("MESSAGE to another domain: no server found", "to", to.Host, "err", err)
		return s.response(req, sip.StatusNotFound, "Not Found: no SIP server for "+safePhrase(to.Host))
	}
	o := outgoing{from: sip.Uri{Scheme: "sip", User: user, Host: s.cfg.Domain}, to: to, peer: dest,
		contentType: textPlain, body: req.Body()}
	if c := req.CallID(); c != nil {
		o.callID = c.Value()
	}
	if h := req.GetHeader("Subject"); h != nil {
		o.subject = safePhrase(h.Value())
	}
	if ct := req.ContentType(); ct != nil {
		o.contentType = ct.Value()
	}
	out := peerRequest(o)
	res, err := s.out.client.Do(ctx, out, buildRequest)
	if err != nil {
		s.log.Info("MESSAGE to another domain failed", "to", to.Host, "dest", dest, "err", err)
		return s.response(req, sip.StatusGatewayTimeout, "Server Time-out: "+safePhrase(to.Host)+" did not answer")
	}
	s.log.Debug("MESSAGE to another domain", "from", user, "to", to.String(), "dest", dest, "status", res.StatusCode)
	return s.response(req, res.StatusCode, safePhrase(res.Reason))
}

// peerRequest is the MESSAGE o to another domain's server.
func peerRequest(o outgoing) *sip.Request {
	out := sip.NewRequest(sip.MESSAGE, o.to)
	from := &sip.FromHeader{Address: o.from, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	out.AppendHeader(from)
	out.AppendHeader(&sip.ToHeader{Address: o.to, Params: sip.NewParams()})
	if o.callID != "" {
		callID := sip.CallIDHeader(o.callID)
		out.AppendHeader(&callID)
	}
	if o.subject != "" {
		out.AppendHeader(sip.NewHeader("Subject", o.subject))
	}
	out.AppendHeader(sip.NewHeader("Content-Type", o.contentType))
	out.SetBody(o.body)
	out.SetDestination(o.peer.addr)
	out.SetTransport(o.peer.transport)
	return out
}

// sendPeer sends o to another domain's server and waits for its final
// response.
func (q *sender) sendPeer(o outgoing) error {
	ctx, cancel := context.WithTimeout(q.ctx, sendTimeout)
	defer cancel()
	res, err := q.client.Do(ctx, peerRequest(o), buildRequest)
	if err != nil {
		return fmt.Errorf("sending MESSAGE to %s: %w", o.peer, err)
	}
	if !res.IsSuccess() {
		return &rejectedError{Status: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// toPeerDomain queues m, from a user of another front door, for the user
// of another SIP domain it is to, when Config.Routes names that domain's
// server (only then is the domain known to be SIP's rather than another
// XMPP server's). It reports whether m was taken; a failure comes back
// to the sender as an error message (im.go's bounce).
func (s *Server) toPeerDomain(m interop.Message) bool {
	domain := strings.ToLower(m.To.Domainpart())
	route, ok := s.cfg.Routes[domain]
	if !ok || m.To.Localpart() == "" || strings.EqualFold(domain, s.cfg.Domain) {
		return false
	}
	dest, err := parseRoute(route)
	if err != nil {
		s.log.Warn("sip route", "domain", domain, "err", err)
		return false
	}
	toUser, toHost, err := interop.SIPFromJID(m.To.Bare())
	if err != nil {
		return false
	}
	fromUser, fromHost, err := interop.SIPFromJID(m.From)
	if err != nil || !strings.EqualFold(fromHost, s.cfg.Domain) {
		return false
	}
	s.queueIM("peer "+domain, m, outgoing{from: sip.Uri{Scheme: "sip", User: fromUser, Host: fromHost},
		to: sip.Uri{Scheme: "sip", User: toUser, Host: toHost}, peer: dest})
	return true
}

// recordToPeer archives and captures (compliance) a user's MESSAGE to
// another domain's user as an XMPP user's is, and refuses it when the
// user blocks the recipient (interop.Recorder); nil lets it go on.
func (s *Server) recordToPeer(ctx context.Context, req *sip.Request, user string, to sip.Uri) *sip.Response {
	if s.cfg.IM == nil {
		return nil
	}
	from, err1 := interop.JIDFromSIP("sip", user, s.cfg.Domain)
	toJID, err2 := interop.JIDFromSIP("sip", to.User, strings.ToLower(to.Host))
	if err1 != nil || err2 != nil {
		return s.response(req, sip.StatusNotFound, "Not Found: the address has no XMPP counterpart")
	}
	m := interop.Message{From: from, To: toJID, Type: "chat", ID: sip.GenerateTagN(imIDRandLen), Body: string(req.Body())}
	if err := s.cfg.IM.Record(ctx, m); err != nil {
		return s.imRefused(req, m, err)
	}
	return nil
}
