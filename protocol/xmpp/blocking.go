package xmpp

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"mellium.im/xmpp/blocklist"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/roster"
)

// Blocking Command (XEP-0191): an account's blocklist, kept in storage
// (storage.Blocklists), read into memory while the account has sessions
// on this node, and enforced on every stanza between the account and a
// blocked JID, both ways (§3.3, §3.6): the mux's filter (mux.go) refuses
// what is addressed across a block, and presence the server itself fans
// out (broadcasts, initial presence, other pool nodes' stanzas) is checked
// where it is delivered. Blocking and unblocking are pushed to the
// account's sessions that asked for the blocklist, here and, through
// Config.Remote, on the other pool nodes, which then reload the list.
//
// mellium.im/xmpp/blocklist is client-side (Fetch, Add, Remove over an
// xmpp.Session); its namespace and JID matching (blocklist.Match, the
// order of XEP-0191 §4 and RFC 6121's privacy lists) are used here.

const (
	nsBlocking       = blocklist.NS // urn:xmpp:blocking
	nsBlockingErrors = "urn:xmpp:blocking:errors"
)

// maxBlockItems bounds the JIDs of one block or unblock request.
const maxBlockItems = 1000

func (s *Server) registerBlocking() {
	feature := advertiseAt(toServer, nsBlocking)
	s.mux.iq(toAccount, "get", nsBlocking, "blocklist", s.blocklistGet, feature, localOnly)
	s.mux.iq(toAccount, "set", nsBlocking, "block", s.blockSet(true), feature, localOnly)
	s.mux.iq(toAccount, "set", nsBlocking, "unblock", s.blockSet(false), feature, localOnly)
	s.mux.filter(s.blockingFilter)
}

// blockCache is an account's blocklist while it has sessions on this
// node: loaded on first use, dropped on every change.
type blockCache struct {
	mu     sync.Mutex
	loaded bool
	list   []jid.JID
}

// blocklistOf returns the JIDs bare blocks. For an account with sessions
// here the cached list; otherwise, when fromStore, the stored one, and
// nothing when not.
func (s *Server) blocklistOf(ctx context.Context, bare string, fromStore bool) []jid.JID {
	u := s.router.user(bare)
	if u == nil && !fromStore {
		return nil
	}
	var c *blockCache
	if u != nil {
		c = &u.blocks
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.loaded {
			return c.list
		}
	}
	j, err := jid.Parse(bare)
	if err != nil || j.Domainpart() != s.cfg.Domain || j.Localpart() == "" {
		return nil
	}
	stored, err := s.cfg.Store.Blocklist(ctx, j.Localpart())
	if err != nil {
		s.log.Error("blocking: reading blocklist", "user", bare, "err", err)
		return nil
	}
	var list []jid.JID
	for _, b := range stored {
		if bj, err := jid.Parse(b); err == nil {
			list = append(list, bj)
		}
	}
	if c != nil {
		c.list, c.loaded = list, true
	}
	return list
}

// forgetBlocklist drops bare's cached list: it changed.
func (s *Server) forgetBlocklist(bare string) {
	if u := s.router.user(bare); u != nil {
		u.blocks.mu.Lock()
		u.blocks.list, u.blocks.loaded = nil, false
		u.blocks.mu.Unlock()
	}
}

// blocks reports whether list blocks other (XEP-0191 §4: full JID, bare
// JID, domain/resource, domain).
func blocks(list []jid.JID, other jid.JID) bool {
	for _, b := range list {
		if blocklist.Match(other, b) {
			return true
		}
	}
	return false
}

// blocked reports whether a stanza between the local account user and
// other is stopped by a block of either: user's (cached or stored per
// fromStore) or, when other is a local account with sessions here,
// other's.
func (s *Server) blocked(ctx context.Context, user string, other jid.JID, fromStore bool) bool {
	if blocks(s.blocklistOf(ctx, user, fromStore), other) {
		return true
	}
	if other.Domainpart() != s.cfg.Domain || other.Localpart() == "" {
		return false
	}
	u, err := jid.Parse(user)
	return err == nil && blocks(s.blocklistOf(ctx, other.Bare().String(), false), u)
}

// blockingFilter enforces blocklists on the stanzas dispatch takes, before
// any handler. A local user's stanza to a JID they block is refused with
// not-acceptable and <blocked/> (§3.6), presence dropped; a stanza to a
// local account that blocks its sender is refused with
// service-unavailable (§3.3: as if the account did not exist), presence,
// results and errors dropped. Stanzas between an account and itself or its
// server pass.
func (s *Server) blockingFilter(ctx context.Context, o origin, el *Element, kind, typ string, at addressee, to jid.JID) bool {
	from := o.fullJID()
	if at == toServer || to.Bare().Equal(from.Bare()) {
		return true
	}
	request := kind == "message" && typ != "error" || kind == "iq" && (typ == "get" || typ == "set")
	if o.session() != nil && blocks(s.blocklistOf(ctx, o.bareJID(), false), to) {
		if request {
			serr := errNotAcceptable("")
			reply := errorReply(el, serr, "")
			if e := reply.Child(nsClient, "error"); e != nil {
				e.Append(NewElement(nsBlockingErrors, "blocked"))
			}
			o.send(reply.Bytes())
		}
		return false
	}
	if at != toAccount && at != toFullJID {
		return true
	}
	// The recipient's own list: stored when it has no session here, for
	// what would otherwise be kept for it (a message stored offline, an
	// IQ the server answers for the account).
	fromStore := kind != "presence" || typ == "subscribe" || typ == "subscribed" || typ == "unsubscribe" || typ == "unsubscribed"
	if !blocks(s.blocklistOf(ctx, to.Bare().String(), fromStore), from) {
		return true
	}
	if request {
		o.send(errorReply(el, errServiceUnavailable(""), "").Bytes())
	}
	return false
}

// presenceBlocked reports whether presence p, which the server fans out
// itself, must not reach to: either side blocks the other.
func (s *Server) presenceBlocked(p *Element, to jid.JID) bool {
	from, err := jid.Parse(p.AttrValue("from"))
	if err != nil {
		return false
	}
	ctx := s.ctx
	if from.Domainpart() == s.cfg.Domain && from.Localpart() != "" {
		return s.blocked(ctx, from.Bare().String(), to, false)
	}
	return to.Domainpart() == s.cfg.Domain && blocks(s.blocklistOf(ctx, to.Bare().String(), false), from)
}

// blocklistGet returns the blocklist (§3.2) and marks the session as one
// that gets pushes.
func (s *Server) blocklistGet(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	sess := r.from.session()
	sess.mu.Lock()
	sess.blocklistRequested = true
	sess.mu.Unlock()
	list, err := s.cfg.Store.Blocklist(ctx, r.to.Localpart())
	if err != nil {
		return nil, fmt.Errorf("reading blocklist: %w", err)
	}
	out := NewElement(nsBlocking, "blocklist")
	for _, j := range list {
		out.Append(NewElement(nsBlocking, "item", "jid", j))
	}
	return out, nil
}

// blockSet blocks (§3.3) or unblocks (§3.4, §3.5: no item unblocks all)
// the JIDs given, pushes the change, and sends the presence it changes.
func (s *Server) blockSet(block bool) iqHandler {
	return func(ctx context.Context, r *request) (*Element, error) {
		if err := ownRosterOnly(r); err != nil {
			return nil, err
		}
		var jids []string
		for _, it := range r.payload.Elements() {
			if it.Name.Space != nsBlocking || it.Name.Local != "item" {
				continue
			}
			j, err := jid.Parse(it.AttrValue("jid"))
			if err != nil {
				return nil, errJIDMalformed(it.AttrValue("jid"))
			}
			jids = append(jids, j.String())
		}
		switch {
		case block && len(jids) == 0:
			return nil, errBadRequest("a block needs at least one item")
		case len(jids) > maxBlockItems:
			return nil, errNotAcceptable(fmt.Sprintf("at most %d items at once", maxBlockItems))
		}
		user := r.to.Localpart()
		bare := r.to.Bare().String()
		var err error
		if block {
			err = s.cfg.Store.Block(ctx, user, jids)
		} else {
			if len(jids) == 0 {
				// Unblock all: the contacts who see presence again are
				// the ones blocked until now.
				jids, err = s.cfg.Store.Blocklist(ctx, user)
			}
			if err == nil {
				err = s.cfg.Store.Unblock(ctx, user, nil2all(r.payload, jids))
			}
		}
		if err != nil {
			if isNotFound(err) {
				return nil, errItemNotFound("")
			}
			return nil, fmt.Errorf("changing blocklist: %w", err)
		}
		s.forgetBlocklist(bare)
		push := NewElement(nsBlocking, r.payload.Name.Local)
		if len(r.payload.Elements()) > 0 {
			for _, j := range jids {
				push.Append(NewElement(nsBlocking, "item", "jid", j))
			}
		}
		s.pushBlocking(bare, push)
		s.blockingPresence(ctx, bare, jids, block)
		return nil, nil
	}
}

// nil2all is what Unblock removes: the items given, or everything (nil)
// for an unblock without items.
func nil2all(payload *Element, jids []string) []string {
	if len(payload.Elements()) == 0 {
		return nil
	}
	return jids
}

// pushBlocking sends a block or unblock push (§3.3, §3.4) to the account's
// sessions here that asked for the blocklist, and to the other nodes.
func (s *Server) pushBlocking(bare string, payload *Element) {
	for _, sess := range s.router.sessions(bare) {
		sess.mu.Lock()
		interested := sess.blocklistRequested
		sess.mu.Unlock()
		if interested {
			push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", sess.jid.String())
			sess.sendElement(push.Append(payload))
		}
	}
	if s.cfg.Remote != nil {
		push := NewElement(nsClient, "iq", "type", "set", "id", "push-"+randomID(6), "to", bare)
		s.cfg.Remote.Send(bare, push.Append(payload).Bytes())
	}
}

// blockingPushFromNode takes a block or unblock push another node sent for
// bare (pushBlocking): the cached list is dropped, the push goes to the
// sessions here that asked for the blocklist, and this node's sessions'
// presence follows the change as the other node's did. It reports
// whether data was such a push.
func (s *Server) blockingPushFromNode(to jid.JID, data []byte) bool {
	if to.Resourcepart() != "" || !bytes.HasPrefix(data, []byte("<iq")) || !bytes.Contains(data, []byte(nsBlocking)) {
		return false
	}
	el := parseStored(data)
	if el == nil {
		return false
	}
	payload := firstChild(el)
	if payload == nil || payload.Name.Space != nsBlocking || (payload.Name.Local != "block" && payload.Name.Local != "unblock") {
		return false
	}
	bare := to.String()
	block := payload.Name.Local == "block"
	var jids []string
	for _, it := range payload.Elements() {
		jids = append(jids, it.AttrValue("jid"))
	}
	if !block && len(jids) == 0 {
		// Unblock all: who was blocked is no longer known here; the
		// cached list still says.
		for _, j := range s.blocklistOf(s.ctx, bare, false) {
			jids = append(jids, j.String())
		}
	}
	s.forgetBlocklist(bare)
	for _, sess := range s.router.sessions(bare) {
		sess.mu.Lock()
		interested := sess.blocklistRequested
		sess.mu.Unlock()
		if interested {
			out := el.Copy()
			out.SetAttr("to", sess.jid.String())
			sess.sendElement(out)
		}
	}
	s.blockingPresence(s.ctx, bare, jids, block)
	return true
}

// blockingPresence sends the presence a block or unblock changes (§3.3,
// §3.4): to each contact among jids who is subscribed to the user's
// presence, unavailable from each of the user's available resources here
// when blocked, their current presence when unblocked.
func (s *Server) blockingPresence(ctx context.Context, bare string, jids []string, block bool) {
	if len(jids) == 0 {
		return
	}
	user, err := jid.Parse(bare)
	if err != nil {
		return
	}
	items, _, err := s.cfg.Store.Roster(ctx, user.Localpart())
	if err != nil {
		s.log.Error("blocking: reading roster", "user", bare, "err", err)
		return
	}
	var contacts []jid.JID
	for _, it := range items {
		if !roster.ItemState(it).From() {
			continue
		}
		c, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		for _, b := range jids {
			if bj, err := jid.Parse(b); err == nil && blocklist.Match(c, bj) {
				contacts = append(contacts, c)
				break
			}
		}
	}
	for _, r := range s.router.sessions(bare) {
		r.mu.Lock()
		p := r.presence
		r.mu.Unlock()
		if p == nil {
			continue
		}
		if block {
			p = NewElement(nsClient, "presence", "type", "unavailable", "from", r.jid.String())
		}
		for _, c := range contacts {
			out := p.Copy()
			out.SetAttr("to", c.String())
			if s.fed != nil && s.isRemote(c) {
				_ = s.sendRemote(out)
			} else {
				s.deliverLocalPresence(out, c)
			}
		}
	}
}
