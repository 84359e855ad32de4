package xmpp

import (
	"context"

	"github.com/parleychat/parley/storage"
)

// What users of other servers do here beyond being routed to (the
// fromRemote handlers of the routes that local sessions reach with state
// of their own): their presence and subscription requests to our users
// (RFC 6121 §3, §4 on the contact's side), the probes their servers send
// (§4.3), and their joins to our rooms (XEP-0045 §7.2), after which a
// remote occupant is an occupant like any other whose stanzas go over the
// link to its server.

// remotePresence delivers available, unavailable and error presence from
// another server's user to a local user (RFC 6121 §4.2.2, §4.5.2,
// directed presence §4.6.3): a full JID's session, or every available
// resource of a bare JID, on this node and, in a pool, on the others (the
// link from that server may reach any node). Presence to the server
// itself is dropped.
func (s *Server) remotePresence(ctx context.Context, r *request) error {
	if r.at != toAccount && r.at != toFullJID {
		return nil
	}
	s.deliverPresenceEverywhere(r.el, r.to)
	return nil
}

// remoteSubscription takes a subscription request or answer from another
// server's user (§3.1.3, §3.2.3, §3.3.3, §3.4.3) as one from a local user
// is taken: between bare JIDs, updating the local user's roster.
func (s *Server) remoteSubscription(ctx context.Context, r *request) error {
	if r.at != toAccount && r.at != toFullJID {
		return nil
	}
	from, to := r.from.fullJID().Bare(), r.to.Bare()
	p := r.el.Copy()
	p.SetAttr("from", from.String())
	p.SetAttr("to", to.String())
	s.inboundSubscription(ctx, to, from, p)
	return nil
}

// remoteProbe answers another server's probe for a local user's presence
// (RFC 6121 §4.3.2): the presence of each available resource if the
// prober is subscribed (from or both), unavailable presence if none is;
// unsubscribed to one who is not.
func (s *Server) remoteProbe(ctx context.Context, r *request) error {
	if r.at != toAccount && r.at != toFullJID {
		return nil
	}
	user, prober := r.to.Bare(), r.from.fullJID()
	item, err := s.cfg.Store.RosterItem(ctx, user.Localpart(), prober.Bare().String())
	switch {
	case err != nil && !isNotFound(err):
		return err
	case err != nil, item.Subscription != storage.SubscriptionFrom && item.Subscription != storage.SubscriptionBoth:
		_ = s.sendRemote(subscriptionStanza("unsubscribed", user, prober.Bare()))
		return nil
	}
	sent := false
	for _, sess := range s.router.sessions(user.String()) {
		sess.mu.Lock()
		p := sess.presence
		sess.mu.Unlock()
		if p != nil {
			out := p.Copy()
			out.SetAttr("to", prober.String())
			_ = s.sendRemote(out)
			sent = true
		}
	}
	if s.cfg.Remote != nil {
		// The user's sessions on the other nodes of a pool.
		for _, data := range s.cfg.Remote.Presences(ctx, []string{user.String()}, prober.String()) {
			if el := parseStored(data); el != nil {
				_ = s.sendRemote(el)
				sent = true
			}
		}
	}
	if !sent {
		_ = s.sendRemote(NewElement(nsClient, "presence", "type", "unavailable", "from", user.String(), "to", prober.String()))
	}
	return nil
}

// sendElement lets an s2s origin stand for a remote room occupant
// (occupantStream).
func (o s2sOrigin) sendElement(e *Element) bool { return o.send(e.Bytes()) }

// remoteJoin is a join (or nick change, or presence update) of another
// server's user in one of our rooms (XEP-0045 §7.2). The occupant's events
// are rendered by a sink of its own, kept while it is in a room, and sent
// from the MUC service over the link to its server. Remote users do not
// create rooms by joining them.
func (m *mucService) remoteJoin(ctx context.Context, r *request) error {
	k := m.remoteSink(r.from)
	err := m.joinAs(ctx, r, k, false)
	m.dropRemoteIfIdle(k)
	return err
}

// remoteSink returns the sink of a remote occupant, making it on its first
// join.
func (m *mucService) remoteSink(o origin) *mucSink {
	addr := o.fullJID().String()
	m.remoteMu.Lock()
	defer m.remoteMu.Unlock()
	if k := m.remote[addr]; k != nil {
		return k
	}
	k := &mucSink{svc: m, sess: s2sOrigin{f: m.srv.fed, from: o.fullJID(), local: m.domain}, remote: true, rooms: make(map[string]roomView)}
	if m.remote == nil {
		m.remote = make(map[string]*mucSink)
	}
	m.remote[addr] = k
	return k
}

// remoteSinkOf returns a remote occupant's sink, or nil.
func (m *mucService) remoteSinkOf(addr string) *mucSink {
	m.remoteMu.Lock()
	defer m.remoteMu.Unlock()
	return m.remote[addr]
}

// dropRemoteIfIdle forgets a remote occupant's sink once it is in no
// room, so that the table holds only occupants.
func (m *mucService) dropRemoteIfIdle(k *mucSink) {
	addr := k.sess.fullJID().String()
	m.remoteMu.Lock()
	defer m.remoteMu.Unlock()
	k.mu.Lock()
	idle := len(k.rooms) == 0
	k.mu.Unlock()
	if idle && m.remote[addr] == k {
		delete(m.remote, addr)
	}
}

// shutdownRemote takes remote occupants out of their rooms with status
// 332 (the service goes), as local sessions are at shutdown.
func (m *mucService) shutdownRemote(ctx context.Context) {
	m.remoteMu.Lock()
	addrs := make([]string, 0, len(m.remote))
	for a := range m.remote {
		addrs = append(addrs, a)
	}
	m.remoteMu.Unlock()
	for _, a := range addrs {
		m.engine.ShutdownSession(ctx, a)
	}
}
