package xmpp

import (
	"context"
	"encoding/xml"
)

// Stream features offered once a client is authenticated, next to resource
// binding (RFC 6120 §4.3.2), and the stream-level elements ("nonzas":
// neither iq, message nor presence) a feature handles on a bound stream.
// A feature file registers both together, as it registers its stanza
// handlers on the mux: client state indication (csi.go) is one. Features
// offered before authentication (SASL2's <authentication/>, sasl2.go)
// register the same way, with handlers that may authenticate and bind; and
// what Bind2 (XEP-0386) can set up inline with the bind registers with it
// (bind2.go).

// nonzaHandler handles one stream-level element from a bound client. An
// error ends the stream (a *StreamError is sent as such).
type nonzaHandler func(ctx context.Context, c *conn, el *Element) error

// streamFeatures is the registry: the offers in registration order and
// the handlers by element name.
type streamFeatures struct {
	offers []func(c *conn) *Element
	nonzas map[xml.Name]nonzaHandler
	// authOffers and auth are the features offered, and the elements
	// handled, on a secure stream before authentication.
	authOffers []func(c *conn) *Element
	auth       map[xml.Name]authHandler
	// bind2 are the features that can be enabled inline with Bind2, by
	// the element that enables them, and bind2Vars their namespaces in
	// registration order (the <inline/> offer).
	bind2     map[xml.Name]bind2Handler
	bind2Vars []string
}

// authHandler handles one element of a pre-authentication feature. bound
// reports that the stream is now bound (negotiation is over); an error
// ends the stream.
type authHandler func(ctx context.Context, c *conn, el *Element) (bound bool, err error)

// bind2Handler applies an inline Bind2 request (XEP-0386 §3) to a new
// session of c before it is bound; it returns what goes into <bound/>
// (or nil).
type bind2Handler func(c *conn, s *session, el *Element) *Element

// streamFeature registers a feature offered after authentication (offer
// may return nil to offer nothing on a given stream) and the handlers of
// its elements, by local name in the namespace space.
func (s *Server) streamFeature(space string, offer func(c *conn) *Element, handlers map[string]nonzaHandler) {
	if offer != nil {
		s.features.offers = append(s.features.offers, offer)
	}
	if s.features.nonzas == nil {
		s.features.nonzas = make(map[xml.Name]nonzaHandler)
	}
	for local, h := range handlers {
		s.features.nonzas[xml.Name{Space: space, Local: local}] = h
	}
}

// appendBoundFeatures adds the registered features to the post-SASL
// features.
func (s *Server) appendBoundFeatures(c *conn, f *Element) {
	for _, offer := range s.features.offers {
		if el := offer(c); el != nil {
			f.Append(el)
		}
	}
}

// nonza returns the handler of a stream-level element, or nil.
func (s *Server) nonza(name xml.Name) nonzaHandler { return s.features.nonzas[name] }

// authFeature registers a feature offered on a secure stream before
// authentication and the handlers of its elements, by local name in space.
func (s *Server) authFeature(space string, offer func(c *conn) *Element, handlers map[string]authHandler) {
	s.features.authOffers = append(s.features.authOffers, offer)
	if s.features.auth == nil {
		s.features.auth = make(map[xml.Name]authHandler)
	}
	for local, h := range handlers {
		s.features.auth[xml.Name{Space: space, Local: local}] = h
	}
}

// appendAuthFeatures adds the registered pre-authentication features.
func (s *Server) appendAuthFeatures(c *conn, f *Element) {
	for _, offer := range s.features.authOffers {
		if el := offer(c); el != nil {
			f.Append(el)
		}
	}
}

// authElement returns the handler of a pre-authentication element, or nil.
func (s *Server) authElement(name xml.Name) authHandler { return s.features.auth[name] }

// bind2Feature registers a feature (its namespace, the var Bind2 offers)
// that a Bind2 request enables inline with the element space/local.
func (s *Server) bind2Feature(space, local string, h bind2Handler) {
	if s.features.bind2 == nil {
		s.features.bind2 = make(map[xml.Name]bind2Handler)
	}
	s.features.bind2[xml.Name{Space: space, Local: local}] = h
	s.features.bind2Vars = append(s.features.bind2Vars, space)
}
