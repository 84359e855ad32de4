package xmpp

import (
	"context"
	"runtime"
)

// Software Version (XEP-0092) of the server.

const nsVersion = "jabber:iq:version"

func (s *Server) registerVersion() {
	s.mux.iq(toServer, "get", nsVersion, "query", s.version, advertise(nsVersion))
}

func (s *Server) version(context.Context, *request) (*Element, error) {
	q := NewElement(nsVersion, "query")
	q.Append(NewElement(nsVersion, "name").AppendText("Parley"))
	q.Append(NewElement(nsVersion, "version").AppendText(s.cfg.Version))
	q.Append(NewElement(nsVersion, "os").AppendText(runtime.GOOS))
	return q, nil
}
