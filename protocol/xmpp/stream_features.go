package xmpp

import (
	"context"
	"encoding/xml"
)

// Stream features offered once a client is authenticated, next to resource
// binding (RFC 6120 §4.3.2), and the stream-level elements ("nonzas":
// neither iq, message nor presence) a feature handles on a bound stream.
// A feature file registers both together, as it registers its stanza
// handlers on the mux: client state indication (csi.go) is one.

// nonzaHandler handles one stream-level element from a bound client. An
// error ends the stream (a *StreamError is sent as such).
type nonzaHandler func(ctx context.Context, c *conn, el *Element) error

// streamFeatures is the registry: the offers in registration order and
// the handlers by element name.
type streamFeatures struct {
	offers []func(c *conn) *Element
	nonzas map[xml.Name]nonzaHandler
}

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
