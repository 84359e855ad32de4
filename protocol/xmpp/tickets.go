package xmpp

import (
	"crypto/rand"
	"sync"
	"time"
)

// TLS session tickets (RFC 8446 §4.6.1, RFC 5077): a client that comes
// back within a ticket's life resumes its TLS session, skipping the
// certificate and its signature (TLS 1.3 resumption still runs ECDHE, so
// the traffic keeps forward secrecy). crypto/tls makes ticket keys per
// tls.Config, lazily; each connection that serves a certificate chosen per
// handshake uses a clone of the server's configuration (conn.tlsConfig),
// whose keys would then be its own, and no ticket would ever be accepted.
// So the server sets the keys on its configuration once, which every clone
// shares, and rotates them as crypto/tls does for its own: a new key every
// day, tickets of the last week accepted.

const (
	ticketKeyRotation = 24 * time.Hour
	ticketKeysKept    = 7
)

// ticketKeys are the server's session ticket keys, newest first.
type ticketKeys struct {
	mu    sync.Mutex
	keys  [][32]byte
	timer *time.Timer // the next rotation; nil once stopped
}

// startTicketKeys gives the server's TLS configuration its first ticket
// key and schedules the rotations, unless the configuration has its own
// keys or no tickets.
func (s *Server) startTicketKeys() {
	cfg := s.cfg.TLS
	if cfg == nil || cfg.SessionTicketsDisabled || cfg.SessionTicketKey != [32]byte{} {
		return
	}
	s.rotateTicketKeys()
}

// rotateTicketKeys adds a new key in front, drops those past a week, and
// schedules the next rotation.
func (s *Server) rotateTicketKeys() {
	var k [32]byte
	_, _ = rand.Read(k[:])
	t := &s.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys != nil && t.timer == nil {
		return // stopped by Shutdown
	}
	t.keys = append([][32]byte{k}, t.keys...)[:min(len(t.keys)+1, ticketKeysKept)]
	s.cfg.TLS.SetSessionTicketKeys(t.keys)
	t.timer = time.AfterFunc(ticketKeyRotation, s.rotateTicketKeys)
}

// stopTicketKeys ends the rotations.
func (s *Server) stopTicketKeys() {
	t := &s.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}
