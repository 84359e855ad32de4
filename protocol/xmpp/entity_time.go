package xmpp

import (
	"context"
	"fmt"
	"time"
)

// Entity Time (XEP-0202): the server says its time, UTC and its zone's
// offset (§3). A query to a full JID is routed to that client like any IQ.

const nsTime = "urn:xmpp:time"

func (s *Server) registerEntityTime() {
	s.mux.iq(toServer, "get", nsTime, "time", s.entityTime, advertise(nsTime))
}

func (s *Server) entityTime(context.Context, *request) (*Element, error) {
	return entityTimeOf(time.Now()), nil
}

// entityTimeOf is the <time/> for now: tzo as ±hh:mm (XEP-0082), utc
// in whole seconds with Z, as in §3's example.
func entityTimeOf(now time.Time) *Element {
	_, off := now.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	t := NewElement(nsTime, "time")
	t.Append(NewElement(nsTime, "tzo").AppendText(fmt.Sprintf("%c%02d:%02d", sign, off/3600, off%3600/60)))
	t.Append(NewElement(nsTime, "utc").AppendText(now.UTC().Format("2006-01-02T15:04:05Z")))
	return t
}
