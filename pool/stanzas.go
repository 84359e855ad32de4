package pool

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go"
)

// Presence across nodes (DESIGN §4): a node's XMPP front door hands the
// presence it would deliver to the domain's users to the pool too, which
// broadcasts it to the other nodes; each delivers it to its own sessions
// of the addressee. A new session asks the other nodes for its contacts'
// presence.

const subjStanza = "parley.pool.stanza"

// StanzaDoor is the XMPP front door of this node, as the pool needs it:
// *xmpp.Server.
type StanzaDoor interface {
	DeliverLocal(to string, stanza []byte)
	// DeliverNotify delivers a PEP event to the sessions of to that
	// ask for node's notifications (XEP-0163 §4.3.2).
	DeliverNotify(to, node string, stanza []byte)
	LocalPresences(bares []string, to string) [][]byte
	// MoveSessions ends every client stream, naming to as the node to
	// use instead (see-other-host), after leaving rooms if leaveRooms.
	MoveSessions(ctx context.Context, to string, leaveRooms bool) int
	// DialbackPending reports whether this node opened the
	// server-to-server stream id from local to remote and waits for the
	// peer to verify its dialback key (XEP-0220 §2.3).
	DialbackPending(id, local, remote string) bool
	// DeliverIQ hands an IQ request to the session of the full JID to
	// if it is on this node, and reports whether it was.
	DeliverIQ(to string, stanza []byte) bool
}

type stanzaMsg struct {
	From   string `json:"from"` // node
	To     string `json:"to"`
	Stanza []byte `json:"stanza"`
	// Notify, when set, names the PEP node whose notifications the
	// recipient's sessions must ask for (SendNotify).
	Notify string `json:"notify,omitempty"`
}

// Stanzas is the XMPP front door's Remote (xmpp.Config.Remote).
type Stanzas struct{ p *Pool }

// Stanzas returns the front door's link to the other nodes' sessions;
// SetStanzaDoor tells the pool where stanzas from other nodes go.
func (p *Pool) Stanzas() *Stanzas { return &Stanzas{p: p} }

// SetStanzaDoor sets this node's XMPP front door and starts taking
// stanzas from the other nodes.
func (p *Pool) SetStanzaDoor(door StanzaDoor) error {
	p.mu.Lock()
	p.door = door
	p.mu.Unlock()
	sub, err := p.bus.nc.Subscribe(subjStanza, p.onStanza)
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(-1, -1)
	p.mu.Lock()
	p.subs = append(p.subs, sub)
	p.mu.Unlock()
	return nil
}

func (p *Pool) onStanza(m *nats.Msg) {
	var sm stanzaMsg
	if json.Unmarshal(m.Data, &sm) != nil || sm.From == p.node {
		return
	}
	p.mu.Lock()
	door := p.door
	p.mu.Unlock()
	switch {
	case door == nil:
	case sm.Notify != "":
		door.DeliverNotify(sm.To, sm.Notify, sm.Stanza)
	default:
		door.DeliverLocal(sm.To, sm.Stanza)
	}
}

// Send implements xmpp.Remote.
func (s *Stanzas) Send(to string, stanza []byte) { s.publish(stanzaMsg{To: to, Stanza: stanza}) }

// SendNotify implements xmpp.Remote: a PEP event for the sessions of to
// that ask for node's notifications.
func (s *Stanzas) SendNotify(to, node string, stanza []byte) {
	s.publish(stanzaMsg{To: to, Stanza: stanza, Notify: node})
}

func (s *Stanzas) publish(sm stanzaMsg) {
	sm.From = s.p.node
	to := sm.To
	b, err := json.Marshal(sm)
	if err != nil {
		return
	}
	if err := s.p.bus.nc.Publish(subjStanza, b); err != nil {
		s.p.log.Warn("sending a stanza to the other nodes", "to", to, "err", err)
	}
}

// Presences implements xmpp.Remote: it asks every other live node.
func (s *Stanzas) Presences(ctx context.Context, bares []string, to string) [][]byte {
	p := s.p
	var out [][]byte
	cmdPresences.callEach(ctx, p, p.livePeers(), presencesCmd{Bares: bares, To: to}, func(n string, stanzas [][]byte, err error) {
		if err != nil {
			p.log.Debug("asking a node for presence", "peer", n, "err", err)
			return
		}
		out = append(out, stanzas...)
	})
	return out
}

// DialbackPending implements xmpp.Remote: another server asks this node to
// verify a dialback key (XEP-0220 §2.3) for a stream that any node of the
// pool may have opened; it is pending if one of the other live nodes says
// so.
func (s *Stanzas) DialbackPending(ctx context.Context, id, local, remote string) bool {
	p := s.p
	pending := false
	cmdDialbackPending.callEach(ctx, p, p.livePeers(), dialbackPendingCmd{ID: id, Local: local, Remote: remote}, func(n string, ok bool, err error) {
		if err != nil {
			p.log.Debug("asking a node for a dialback stream", "peer", n, "err", err)
		}
		pending = pending || ok
	})
	return pending
}

// DeliverIQ implements xmpp.Remote: an IQ request for a full JID whose
// session is not on this node is handed to every other live node, and
// delivered by the one holding the session (RFC 6120 §10.5.4 in a pool);
// it reports whether one did. The session's answer comes back as any
// stanza for a session on another node does (Send), or over the answering
// node's own server-to-server link when the IQ came from another server.
func (s *Stanzas) DeliverIQ(ctx context.Context, to string, stanza []byte) bool {
	p := s.p
	delivered := false
	cmdDeliverIQ.callEach(ctx, p, p.livePeers(), deliverIQCmd{To: to, Stanza: stanza}, func(n string, ok bool, err error) {
		if err != nil {
			p.log.Debug("asking a node to deliver an IQ", "peer", n, "to", to, "err", err)
		}
		delivered = delivered || ok
	})
	return delivered
}
