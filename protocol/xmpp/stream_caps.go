package xmpp

import (
	"context"
	"strings"
	"sync"
)

// The server's own entity capabilities (XEP-0115 §6.3): a <c/> in the
// stream features whose verification string is computed from the
// server's disco#info, as the mux generates it, so a client learns what
// the server supports without asking, and a disco#info on node#ver that
// answers the same. The cache of clients' capabilities is caps.go.

// serverCapsNode names Parley in its caps (§4: a URI for the software).
const serverCapsNode = "https://github.com/parleychat/parley"

// serverCaps is the server's <c/>, computed once the table is complete.
type serverCaps struct {
	once sync.Once
	c    *Element
}

func (s *Server) registerServerCaps() {
	s.mux.node(toServer, func(node string) bool {
		return strings.HasPrefix(node, serverCapsNode+"#") && node == serverCapsNode+"#"+s.capsElement().AttrValue("ver")
	}, func(ctx context.Context, r *request) (*Element, error) {
		q, err := s.serverInfo(ctx, r)
		if err != nil {
			return nil, err
		}
		q.SetAttr("node", r.payload.AttrValue("node"))
		return q, nil
	})
}

// serverInfo is the server's disco#info answer (without a node).
func (s *Server) serverInfo(ctx context.Context, r *request) (*Element, error) {
	at := *r
	at.at = toServer
	return s.discoInfoOf(ctx, s.mux.entities[toServer], &at)
}

// capsElement is the server's <c/> for stream features (§6.3).
func (s *Server) capsElement() *Element {
	s.caps0.once.Do(func() {
		q, err := s.serverInfo(context.Background(), &request{at: toServer})
		if err != nil {
			s.log.Error("computing the server's capabilities", "err", err)
			return
		}
		s.caps0.c = NewElement(nsCaps, "c", "hash", "sha-1", "node", serverCapsNode, "ver", capsVer(q))
	})
	return s.caps0.c
}
