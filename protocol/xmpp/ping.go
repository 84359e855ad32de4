package xmpp

import "context"

// XMPP Ping (XEP-0199): the server answers pings to itself (§4.2) and, on
// an account's behalf, pings to a bare JID. Pings to a full JID are routed
// to that client like any IQ.

const nsPing = "urn:xmpp:ping"

func (s *Server) registerPing() {
	pong := func(ctx context.Context, req iqRequest) (*Element, error) { return nil, nil }
	s.onIQ("get", nsPing, "ping", false, pong)
	s.onIQ("get", nsPing, "ping", true, pong)
}
