package xmpp

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strings"
	"sync"

	"mellium.im/xmpp/jid"
)

// router knows the bound sessions of this node, by bare JID and resource.
// (In a pool, the pool package will route to sessions on other nodes; this
// is the local half.)
type router struct {
	mu    sync.RWMutex
	users map[string]*userSessions // by bare JID
}

// userSessions are one account's bound resources on this node.
type userSessions struct {
	byResource map[string]*session
	// offlineMu serialises delivery of stored offline messages so that two
	// resources coming online at once do not both receive them.
	offlineMu        sync.Mutex
	offlineDelivered int64
	// blocks is the account's blocklist while it has sessions here
	// (blocking.go).
	blocks blockCache
}

func newRouter() *router {
	return &router{users: make(map[string]*userSessions)}
}

// bind registers s under the account's bare JID with a resource: the one
// the client wanted or, if that is taken or empty, a generated one (RFC 6120
// §7.7.2.2, "assign a different resourcepart"). It sets s.jid and s.bare.
// ok is false when the account already has limit sessions.
func (r *router) bind(s *session, account jid.JID, wanted string, limit int) (ok bool, err error) {
	bare := account.Bare().String()
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[bare]
	if u != nil && len(u.byResource) >= limit {
		return false, nil
	}
	res := wanted
	for res == "" || (u != nil && u.byResource[res] != nil) {
		res = "parley-" + randomID(5)
	}
	full, err := account.WithResource(res)
	if err != nil {
		return false, err
	}
	if u == nil {
		u = &userSessions{byResource: make(map[string]*session)}
		r.users[bare] = u
	}
	s.jid, s.bare = full, bare
	u.byResource[res] = s
	return true, nil
}

func (r *router) unbind(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[s.bare]
	if u == nil || u.byResource[s.jid.Resourcepart()] != s {
		return
	}
	delete(u.byResource, s.jid.Resourcepart())
	if len(u.byResource) == 0 {
		delete(r.users, s.bare)
	}
}

// sessions returns the bound sessions of a bare JID.
func (r *router) sessions(bare string) []*session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.users[bare]
	if u == nil {
		return nil
	}
	out := make([]*session, 0, len(u.byResource))
	for _, s := range u.byResource {
		out = append(out, s)
	}
	return out
}

// session returns the session bound to a full JID, or nil.
func (r *router) session(bare, resource string) *session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if u := r.users[bare]; u != nil {
		return u.byResource[resource]
	}
	return nil
}

// user returns the account's entry, or nil if it has no session here.
func (r *router) user(bare string) *userSessions {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.users[bare]
}

// all returns every bound session (for shutdown and metrics).
func (r *router) all() []*session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*session
	for _, u := range r.users {
		for _, s := range u.byResource {
			out = append(out, s)
		}
	}
	return out
}

// registerRouting registers what passes through the server to other
// addresses: IQs to a session, and stanzas to other domains.
func (s *Server) registerRouting() {
	s.mux.stanza(toFullJID, "iq", anyType, "", "", s.routeIQToResource,
		unadvertised("routing (RFC 6120 §10.5.4): the session answers for itself"))
	s2s := unadvertised("routing to other domains (RFC 6120 §10.4) over server-to-server links (s2s.go)")
	s.mux.stanza(toRemote, "iq", anyType, "", "", s.routeRemote, s2s)
	s.mux.stanza(toRemote, "message", anyType, "", "", s.routeRemote, s2s)
}

// routeRemote sends a local user's IQ or message to another domain (RFC
// 6120 §10.4). Without federation, or when the domain cannot be reached,
// the sender gets the error (§10.4.3: remote-server-not-found, by the
// server that could not route it); an IQ result or error is dropped.
func (s *Server) routeRemote(ctx context.Context, r *request) error {
	isMessage := r.el.Name.Local == "message"
	out := r.el
	if isMessage {
		out = withoutPrivate(r.el) // XEP-0280 §7
	}
	sess := r.from.session()
	if isMessage && sess != nil {
		withoutOwnStanzaIDs(out, sess.bare)
	}
	serr := s.sendRemoteOrSIP(ctx, out, r.to)
	switch {
	case serr == nil:
		if isMessage && sess != nil {
			// The sender's archive (mam_account.go), then its carbons
			// with the archive's stanza-id.
			var senderID string
			if r.typ == "chat" || r.typ == "normal" {
				var err error
				if senderID, _, err = s.archiveDirect(ctx, r.el, r.typ, sess.jid, r.to, true, false); err != nil {
					s.log.Error("message: archiving", "from", sess.jid.String(), "to", r.to.String(), "err", err)
				}
			}
			s.sentCarbons(sess, s.stampStanzaID(r.el, senderID, sess.jid), r.typ)
		}
		return nil
	case r.el.Name.Local == "iq" && r.typ != "get" && r.typ != "set":
		return nil
	case r.el.Name.Local == "iq":
		r.reply(errorReply(r.el, serr, s.cfg.Domain))
		return nil
	}
	return serr
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID returns n random bytes as lower-case base32: for stream ids and
// generated resources.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return strings.ToLower(idEncoding.EncodeToString(b))
}

// sendRemoteOrSIP sends a stanza to another domain: a chat or normal
// message with a body to one of Config.SIPDomains to the other front
// doors (the SIP front door sends it on: SIP federation), anything else
// over a server-to-server link (sendRemote).
func (s *Server) sendRemoteOrSIP(ctx context.Context, el *Element, to jid.JID) *StanzaError {
	if s.cfg.IM != nil && el.Name.Local == "message" && slices.Contains(s.cfg.SIPDomains, to.Domainpart()) {
		if m, ok := messageOf(el, to.Bare()); ok {
			if delivered, _ := s.cfg.IM.Deliver(ctx, m, s); delivered {
				return nil
			}
		}
	}
	return s.sendRemote(el)
}
