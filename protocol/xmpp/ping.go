package xmpp

import "context"

// XMPP Ping (XEP-0199): the server answers pings to itself (§4.2) and, on
// an account's behalf, pings to a bare JID (§4.3); the services answer
// for themselves. Pings to a full JID are routed to that client like any
// IQ, pings to an occupant are XEP-0410 self-pings (muc_iq.go).

const nsPing = "urn:xmpp:ping"

func (s *Server) registerPing() {
	pong := func(context.Context, *request) (*Element, error) { return nil, nil }
	at := []addressee{toServer, toAccount}
	if s.muc != nil {
		at = append(at, toMUCService)
	}
	if s.cfg.Files != nil {
		at = append(at, toUploadService)
	}
	for _, a := range at {
		s.mux.iq(a, "get", nsPing, "ping", pong, advertise(nsPing))
	}
}
