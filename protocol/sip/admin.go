package sip

import (
	"slices"
	"strings"
)

// What the admin API (package admin, through parleyd) asks of the SIP
// front door: who is registered on this node, and ending a user's
// registrations.

// Registrations returns every unexpired binding on this node, ordered by
// address of record, then contact.
func (s *Server) Registrations() []Binding {
	now := s.reg.now()
	s.reg.mu.Lock()
	var out []Binding
	for _, bs := range s.reg.byAOR {
		for _, b := range bs {
			if b.Expires.After(now) {
				out = append(out, b)
			}
		}
	}
	s.reg.mu.Unlock()
	slices.SortFunc(out, func(a, b Binding) int {
		if c := strings.Compare(a.AOR, b.AOR); c != 0 {
			return c
		}
		return strings.Compare(a.URI, b.URI)
	})
	return out
}

// Unregister removes every binding of the local user's address of record,
// as a REGISTER with Contact: * and Expires: 0 would (RFC 3261 §10.2.2),
// takes the user out of the rooms it is in through SIP, and returns how
// many bindings there were. The endpoint registers again at its next
// refresh unless its credentials are gone (a disabled account).
func (s *Server) Unregister(user string) int {
	aor := s.aor(user)
	now := s.reg.now()
	s.reg.mu.Lock()
	n := 0
	for _, b := range s.reg.byAOR[aor] {
		if b.Expires.After(now) {
			n++
		}
	}
	delete(s.reg.byAOR, aor)
	s.reg.mu.Unlock()
	if n > 0 {
		s.log.Info("SIP registrations ended by an administrator", "aor", aor, "bindings", n)
		s.leaveUnreachable()
	}
	return n
}
