package xmpp

import (
	"context"
	"runtime"
)

// Software Version (XEP-0092) of the server.

const nsVersion = "jabber:iq:version"

func (s *Server) registerVersion() {
	s.onIQ("get", nsVersion, "query", false, func(ctx context.Context, req iqRequest) (*Element, error) {
		q := NewElement(nsVersion, "query")
		q.Append(NewElement(nsVersion, "name").AppendText("Parley"))
		q.Append(NewElement(nsVersion, "version").AppendText(s.cfg.Version))
		q.Append(NewElement(nsVersion, "os").AppendText(runtime.GOOS))
		return q, nil
	})
}
