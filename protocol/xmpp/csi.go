package xmpp

import (
	"bytes"
	"context"
)

// Client state indication (XEP-0352). A client tells the server when its
// user is not looking (<inactive/>) and when it is again (<active/>). While
// a session is inactive, what only updates a state the client shows is held
// back rather than written — presence (available or unavailable) and chat
// states (XEP-0085) — keeping only the latest per sender; messages with a
// body, iq, errors, subscription requests and everything else go through
// at once (§5: the server decides what is urgent). <active/> writes what
// was held, in the order of the latest updates. A phone is then woken by
// what its user would want to see, not by every contact's status change.

const nsCSI = "urn:xmpp:csi:0"

// registerCSI offers the feature after authentication (§4) and handles
// the two elements on a bound stream (§5).
func (s *Server) registerCSI() {
	s.streamFeature(nsCSI, func(*conn) *Element { return NewElement(nsCSI, "csi") }, map[string]nonzaHandler{
		"active":   func(_ context.Context, c *conn, _ *Element) error { c.sess.setActive(true); return nil },
		"inactive": func(_ context.Context, c *conn, _ *Element) error { c.sess.setActive(false); return nil },
	})
	// Inline with Bind2 (XEP-0386 §3): a client that logs in from the
	// background starts inactive.
	s.bind2Feature(nsCSI, "inactive", func(_ *conn, sess *session, _ *Element) *Element {
		sess.setActive(false)
		return nil
	})
}

// heldStanza is a stanza held back while its session is inactive, under
// the key of what it updates (see holdKey).
type heldStanza struct {
	key  string
	data []byte
}

// csiState is a session's client state, guarded by the session's mu.
type csiState struct {
	inactive bool
	// held is what waits for <active/>, oldest first; a slot whose
	// stanza was superseded has nil data. index finds a key's slot.
	held  []heldStanza
	index map[string]int
}

// setActive records the client's state (§5.1, §5.2); becoming active
// writes what was held back.
func (s *session) setActive(active bool) {
	s.mu.Lock()
	s.csi.inactive = !active
	var flush [][]byte
	if active {
		flush = s.takeHeldLocked()
	}
	s.mu.Unlock()
	if len(flush) > 0 {
		s.sendBatch(flush)
	}
}

// holdLocked keeps data back if the session is inactive and data only
// updates a state (holdKey): it reports whether it did. The latest stanza
// per key replaces the one before. What is held never passes the send
// queue's bound: past it, everything held is queued (returned in flush)
// as if the client had become active.
func (s *session) holdLocked(data []byte) (held bool, flush []outItem) {
	if !s.csi.inactive {
		return false, nil
	}
	key := holdKey(data)
	if key == "" {
		return false, nil
	}
	s.srv.metrics.csiHeld.Inc()
	if i, ok := s.csi.index[key]; ok {
		s.csi.held[i].data = nil // superseded
		s.srv.metrics.csiSuperseded.Inc()
	}
	if s.csi.index == nil {
		s.csi.index = make(map[string]int)
	}
	s.csi.index[key] = len(s.csi.held)
	s.csi.held = append(s.csi.held, heldStanza{key: key, data: data})
	if len(s.csi.index) <= s.limit {
		return true, nil
	}
	for _, b := range s.takeHeldLocked() {
		flush = append(flush, outItem{data: b})
	}
	return true, flush
}

// takeHeldLocked empties the held stanzas and returns them in order.
func (s *session) takeHeldLocked() [][]byte {
	var out [][]byte
	for _, h := range s.csi.held {
		if h.data != nil {
			out = append(out, h.data)
		}
	}
	s.csi.held, s.csi.index = nil, nil
	return out
}

// holdKey says what a stanza written to a client updates, if holding it
// back is allowed: "p " and the sender for an available or unavailable
// presence, "c " and the sender for a message that carries a chat state
// and no body; "" for everything else. Stanzas reach the queue
// serialised by Element.Bytes (attribute values escaped, '>' included),
// so the start tag ends at the first '>'.
func holdKey(data []byte) string {
	var kind string
	switch {
	case bytes.HasPrefix(data, []byte("<presence")):
		kind = "p "
	case bytes.HasPrefix(data, []byte("<message")):
		if !bytes.Contains(data, []byte("http://jabber.org/protocol/chatstates")) || bytes.Contains(data, []byte("<body")) {
			return ""
		}
		kind = "c "
	default:
		return ""
	}
	end := bytes.IndexByte(data, '>')
	if end < 0 {
		return ""
	}
	_, attrs := tagAttrs(data[:end+1])
	var from, typ string
	for _, a := range attrs {
		switch a[0] {
		case "from":
			from = a[1]
		case "type":
			typ = a[1]
		}
	}
	switch {
	case kind == "p " && typ != "" && typ != "unavailable":
		return "" // subscriptions, probes, errors: not a state update
	case kind == "c " && typ == "error":
		return ""
	}
	return kind + from
}
