package xmpp

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Stream management (XEP-0198). After <enable/> (§3) both sides count the
// stanzas they handle; either asks with <r/> and is answered <a h/> (§4).
// The server counts a stanza as it is queued for the client (session.go's
// enqueueLocked) and keeps it until the client acknowledges it; it asks
// for an acknowledgement every smRequestEvery stanzas and smAckInterval
// after an unacknowledged one. A session enabled with resume='true' whose
// connection is lost (not closed) is detached: still bound, still
// receiving, for Config.SMResumeTimeout; a new stream of the same account
// that sends <resume previd h/> instead of binding (§5) takes it over, and
// what the client did not acknowledge is written again. A detached session
// that is not resumed ends then, and its unacknowledged messages go to
// offline storage (they were archived when they were routed), never
// silently dropped. Sessions are resumable on the node that holds them:
// elsewhere, and for an unknown or expired previd, <resume/> fails with
// item-not-found and the client binds anew.

const nsSM = "urn:xmpp:sm:3"

const (
	// smRequestEvery: an <r/> goes out after this many stanzas since the
	// last one (§4: "on queue size").
	smRequestEvery = 10
	// smAckInterval: an <r/> goes out this long after a stanza the
	// client has not acknowledged, if no other asked since.
	smAckInterval = 30 * time.Second
)

// smState is a session's stream management state, guarded by its mu.
type smState struct {
	enabled bool
	// id names a resumable session (previd); "" if it is not one.
	id string
	// sent counts the stanzas queued since <enabled/>; unacked are the
	// last of them, the client has not acknowledged: unacked[0] is
	// stanza number sent-len(unacked)+1.
	sent    uint32
	unacked []outItem
	// handled counts the client's stanzas handled since <enable/>.
	handled uint32
	// requested is sent at the last <r/>; ackTimer asks after a while.
	requested uint32
	ackTimer  *time.Timer
	// owner is the connection the session is attached to; detached is
	// set while none is, and expiry ends the session then.
	owner    *conn
	detached bool
	expiry   *time.Timer
}

// smRegistry holds this node's resumable sessions by id, and counts
// them per account for Config.SMMaxResumable.
type smRegistry struct {
	mu         sync.Mutex
	byID       map[string]*session
	perAccount map[string]int
}

func (r *smRegistry) add(s *session, max int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perAccount[s.bare] >= max {
		return ""
	}
	if r.byID == nil {
		r.byID, r.perAccount = make(map[string]*session), make(map[string]int)
	}
	id := randomID(16)
	r.byID[id] = s
	r.perAccount[s.bare]++
	return id
}

func (r *smRegistry) get(id, bare string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byID[id]; s != nil && s.bare == bare {
		return s
	}
	return nil
}

func (r *smRegistry) remove(id string, s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == "" || r.byID[id] != s {
		return
	}
	delete(r.byID, id)
	if r.perAccount[s.bare]--; r.perAccount[s.bare] <= 0 {
		delete(r.perAccount, s.bare)
	}
}

func (r *smRegistry) all() []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*session, 0, len(r.byID))
	for _, s := range r.byID {
		out = append(out, s)
	}
	return out
}

// registerSM offers stream management after authentication (§3, it is
// enabled after binding) and handles <enable/>, <r/> and <a/> on a bound
// stream. <resume/> comes instead of binding: conn.go's negotiation.
func (s *Server) registerSM() {
	s.streamFeature(nsSM, func(c *conn) *Element {
		if c.sess != nil && c.sess.smEnabled() {
			return nil // enabled inline with Bind2
		}
		return NewElement(nsSM, "sm")
	}, map[string]nonzaHandler{
		"enable": s.smEnable,
		"r": func(_ context.Context, c *conn, _ *Element) error {
			c.sess.mu.Lock()
			h := c.sess.sm.handled
			enabled := c.sess.sm.enabled
			c.sess.mu.Unlock()
			if !enabled {
				return &StreamError{Condition: "unsupported-stanza-type", Text: "stream management is not enabled"}
			}
			c.sess.sendNonza([]byte(`<a xmlns='` + nsSM + `' h='` + strconv.FormatUint(uint64(h), 10) + `'/>`))
			return nil
		},
		"a": func(_ context.Context, c *conn, el *Element) error {
			h, ok := smCount(el)
			if !ok {
				return &StreamError{Condition: "invalid-xml", Text: "<a/> needs h, a count (XEP-0198 §4)"}
			}
			return c.sess.smAck(h)
		},
	})
	s.bind2Feature(nsSM, "enable", s.smEnableInline)
}

// smCount reads the h of <a/> or <resume/> (§4, §5): the count of
// stanzas handled, an unsigned 32-bit number.
func smCount(el *Element) (uint32, bool) {
	h, err := strconv.ParseUint(el.AttrValue("h"), 10, 32)
	return uint32(h), err == nil
}

// smEnableInline enables stream management inline with Bind2 (XEP-0386
// §3, XEP-0198 §3): on the new session before it is bound, so that every
// stanza queued for it is counted; <enabled/> goes into <bound/>.
func (s *Server) smEnableInline(c *conn, sess *session, el *Element) *Element {
	id := s.smResumeID(sess, el)
	sess.mu.Lock()
	sess.sm = smState{enabled: true, id: id, owner: c}
	sess.mu.Unlock()
	return s.smEnabled(id)
}

// smResumeID registers sess as resumable if <enable/> asks for it and the
// account's limit allows; "" if not.
func (s *Server) smResumeID(sess *session, el *Element) string {
	if r := el.AttrValue("resume"); r != "true" && r != "1" {
		return ""
	}
	id := s.sm.add(sess, s.cfg.SMMaxResumable)
	if id == "" {
		s.metrics.smLimited.WithLabelValues("resumable").Inc()
	}
	return id
}

// smEnabled is <enabled/> (§3), with the resumption id and its timeout.
func (s *Server) smEnabled(id string) *Element {
	enabled := NewElement(nsSM, "enabled")
	if id != "" {
		enabled.SetAttr("id", id)
		enabled.SetAttr("resume", "true")
		enabled.SetAttr("max", strconv.Itoa(int(s.cfg.SMResumeTimeout/time.Second)))
	}
	return enabled
}

func (s *session) smEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sm.enabled
}

// smEnable answers <enable/> (§3): <enabled/>, with an id and resume
// when asked and allowed; counting starts with the next stanza queued.
func (s *Server) smEnable(_ context.Context, c *conn, el *Element) error {
	sess := c.sess
	sess.mu.Lock()
	already := sess.sm.enabled
	sess.mu.Unlock()
	if already {
		sess.sendNonza(smFailed("unexpected-request", "stream management is already enabled"))
		return nil
	}
	id := s.smResumeID(sess, el)
	sess.sendItem(outItem{data: s.smEnabled(id).Bytes(), nonza: true, onQueue: func() {
		sess.sm = smState{enabled: true, id: id, owner: c}
	}})
	return nil
}

func smFailed(condition, text string) []byte {
	f := NewElement(nsSM, "failed").Append(NewElement(nsStanzas, condition))
	if text != "" {
		f.Append(NewElement(nsStanzas, "text").AppendText(text))
	}
	return f.Bytes()
}

// smCountLocked counts a stanza queued for the client and keeps it until
// acknowledged; it asks for an acknowledgement when due. Past
// Config.SMMaxQueue unacknowledged stanzas the session ends: a detached
// one expires (what it holds goes to offline storage), an attached one is
// cut off as a client that does not acknowledge.
func (s *session) smCountLocked(it outItem) {
	if !s.sm.enabled || it.nonza {
		return
	}
	s.sm.sent++
	s.sm.unacked = append(s.sm.unacked, it)
	if len(s.sm.unacked) > s.srv.cfg.SMMaxQueue && len(s.sm.unacked) == s.srv.cfg.SMMaxQueue+1 {
		s.srv.metrics.smLimited.WithLabelValues("queue").Inc()
		if s.sm.detached {
			go s.srv.smExpire(s)
		} else {
			s.sm.id = "" // not resumable any more: it ends here
			kill := s.kill
			go kill(&StreamError{Condition: "policy-violation", Text: fmt.Sprintf("more than %d stanzas unacknowledged (XEP-0198)", s.srv.cfg.SMMaxQueue)})
		}
		return
	}
	if s.sm.detached {
		return
	}
	if s.sm.sent-s.sm.requested >= smRequestEvery {
		s.requestAckLocked()
	} else if s.sm.ackTimer == nil {
		s.sm.ackTimer = time.AfterFunc(smAckInterval, s.smAckDue)
	}
}

// requestAckLocked queues an <r/>.
func (s *session) requestAckLocked() {
	s.sm.requested = s.sm.sent
	s.queue = append(s.queue, outItem{data: smRequest, nonza: true})
	s.queued += int64(len(smRequest))
}

var smRequest = []byte(`<r xmlns='` + nsSM + `'/>`)

// smAckDue runs smAckInterval after an unacknowledged stanza.
func (s *session) smAckDue() {
	s.mu.Lock()
	s.sm.ackTimer = nil
	if s.closed || s.sm.detached || len(s.sm.unacked) == 0 || s.sm.requested == s.sm.sent {
		s.mu.Unlock()
		return
	}
	s.requestAckLocked()
	start := s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// smAck takes the client's count of handled stanzas (§4): what it covers
// is forgotten. A count over what was sent ends the stream (§4).
func (s *session) smAck(h uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackLocked(h)
}

func (s *session) ackLocked(h uint32) error {
	if !s.sm.enabled {
		return &StreamError{Condition: "unsupported-stanza-type", Text: "stream management is not enabled"}
	}
	if h > s.sm.sent {
		return &StreamError{Condition: "undefined-condition", Text: fmt.Sprintf("h=%d acknowledges more than the %d stanzas sent (XEP-0198 §4: handled-count-too-high)", h, s.sm.sent)}
	}
	first := s.sm.sent - uint32(len(s.sm.unacked)) // stanzas acknowledged before
	if h > first {
		n := int(h - first)
		rest := s.sm.unacked[n:]
		if len(rest) == 0 {
			s.sm.unacked = nil
		} else {
			s.sm.unacked = append([]outItem(nil), rest...)
		}
	}
	if len(s.sm.unacked) == 0 && s.sm.ackTimer != nil {
		s.sm.ackTimer.Stop()
		s.sm.ackTimer = nil
	}
	return nil
}

// smHandled counts a stanza read from the client.
func (s *session) smHandled() {
	s.mu.Lock()
	if s.sm.enabled {
		s.sm.handled++
	}
	s.mu.Unlock()
}

// smResumable reports whether the session is resumable and attached to c.
func (s *session) smResumable(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sm.id != "" && s.sm.owner == c && !s.sm.detached && !s.closed
}

// ownedBy reports whether c is the connection the session is attached to
// (always, without stream management).
func (s *session) ownedBy(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.sm.enabled || s.sm.owner == c
}

// detach keeps a resumable session whose connection c was lost: the
// session stays bound and keeps what it is sent among the unacknowledged
// stanzas; it ends after Config.SMResumeTimeout unless resumed (§5). It
// reports false if the session is not resumable from c.
func (c *conn) detach() bool {
	s := c.sess
	s.mu.Lock()
	if s.sm.id == "" || s.sm.owner != c || s.sm.detached || s.closed {
		s.mu.Unlock()
		return false
	}
	s.sm.detached = true
	s.sm.owner = nil
	s.ready, s.failed = false, true // a running drain writes no more
	for _, it := range s.queue {
		s.queued -= int64(it.size())
	}
	s.queue = nil
	if s.sm.ackTimer != nil {
		s.sm.ackTimer.Stop()
		s.sm.ackTimer = nil
	}
	if !s.writing {
		// Nothing of the dead connection stays with the session: its
		// TLS state and buffers are not kept for the resume timeout.
		s.out.w, s.out.conn = nil, nil
	}
	srv := c.srv
	s.kill = func(*StreamError) { go srv.smExpire(s) }
	s.sm.expiry = time.AfterFunc(srv.cfg.SMResumeTimeout, func() { srv.smExpire(s) })
	s.mu.Unlock()
	_ = c.raw.Close()
	c.srv.metrics.smDetached.Inc()
	c.logger().Info("session detached", "proto", "xmpp", "resume_timeout", c.srv.cfg.SMResumeTimeout)
	return true
}

// resume answers <resume previd h/> in place of binding (§5): the session
// is taken over by c, what the client acknowledged is forgotten and the
// rest written again after <resumed/>. An unknown previd (another node's,
// or one that expired) fails with item-not-found and the client binds.
func (c *conn) resume(el *Element) (bool, error) {
	srv := c.srv
	h, ok := smCount(el)
	if !ok {
		return false, c.write(smFailed("bad-request", "h must be a count"))
	}
	id := el.AttrValue("previd")
	s := srv.sm.get(id, c.username+"@"+srv.cfg.Domain)
	if s == nil {
		srv.metrics.smResumeFailed.Inc()
		return false, c.write(smFailed("item-not-found", "no such session to resume here"))
	}
	s.mu.Lock()
	if s.closed || s.sm.id != id {
		s.mu.Unlock()
		srv.metrics.smResumeFailed.Inc()
		return false, c.write(smFailed("item-not-found", "no such session to resume here"))
	}
	if err := s.ackLocked(h); err != nil {
		s.mu.Unlock()
		srv.metrics.smResumeFailed.Inc()
		return false, c.write(smFailed("undefined-condition", err.Error()))
	}
	old, wasDetached := s.sm.owner, s.sm.detached
	if s.sm.expiry != nil {
		s.sm.expiry.Stop()
		s.sm.expiry = nil
	}
	// From here the session is c's: nothing is written to the old
	// connection any more, and what it would have written is among the
	// unacknowledged stanzas.
	s.sm.owner, s.sm.detached = c, false
	s.ready, s.failed = false, true
	s.kill = c.kill
	handled := s.sm.handled
	s.mu.Unlock()
	if old != nil {
		old.stopOnce.Do(func() { close(old.stop) })
		_ = old.raw.Close()
	}
	// Wait for a drain still writing to the old connection to give up.
	for deadline := time.Now().Add(srv.cfg.WriteTimeout); ; time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		if !s.writing || time.Now().After(deadline) {
			break
		}
		s.mu.Unlock()
	}
	for _, it := range s.queue {
		s.queued -= int64(it.size())
	}
	s.queue = append([]outItem(nil), s.sm.unacked...)
	for _, it := range s.queue {
		s.queued += int64(it.size())
	}
	s.failed = false
	s.sm.requested = s.sm.sent - uint32(len(s.queue))
	if len(s.queue) > 0 {
		s.requestAckLocked()
	}
	resent := len(s.sm.unacked)
	s.mu.Unlock()
	if wasDetached {
		srv.metrics.smDetached.Dec()
	}
	resumed := NewElement(nsSM, "resumed", "previd", id, "h", strconv.FormatUint(uint64(handled), 10))
	if err := c.write(resumed.Bytes()); err != nil {
		c.detachAfterFailedResume(s)
		return false, err
	}
	c.writeMu.Lock()
	c.sess = s
	c.writeMu.Unlock()
	c.rate = newSessionRate(srv)
	_ = c.raw.SetDeadline(time.Time{})
	if c.countedIP {
		srv.limits.releaseUnauth(c.remoteIP)
		c.countedIP = false
	}
	s.startWriter(c.rw, c.raw, srv.cfg.WriteTimeout)
	srv.metrics.smResumed.Inc()
	c.logger().Info("session resumed", "proto", "xmpp", "resent", resent)
	return true, nil
}

// detachAfterFailedResume leaves s detached again when the connection
// that resumed it died before <resumed/> was written.
func (c *conn) detachAfterFailedResume(s *session) {
	c.writeMu.Lock()
	c.sess = s
	c.writeMu.Unlock()
	s.mu.Lock()
	s.failed = false
	s.mu.Unlock()
	if !c.detach() {
		go c.srv.smExpire(s)
	}
	c.writeMu.Lock()
	c.sess = nil
	c.writeMu.Unlock()
}

// smExpire ends a detached session that was not resumed in time (or
// passed its limits, or the server stops): as a session that logs out,
// and its unacknowledged messages go to offline storage.
func (s *Server) smExpire(sess *session) {
	sess.mu.Lock()
	if !sess.sm.detached || sess.closed {
		sess.mu.Unlock()
		return
	}
	id := sess.sm.id
	sess.sm.id = ""
	if sess.sm.expiry != nil {
		sess.sm.expiry.Stop()
		sess.sm.expiry = nil
	}
	sess.mu.Unlock()
	s.metrics.smDetached.Dec()
	s.metrics.smExpired.Inc()
	s.sm.remove(id, sess)
	s.endBound(sess, nil, s.log.With("jid", sess.jid.String()))
}

// smRescue stores the messages the client of an ended session never
// acknowledged as offline messages of its account (they are in the
// account's archive already): a message the server took from a sender is
// not dropped because the connection that was to carry it died.
func (s *Server) smRescue(sess *session) {
	sess.mu.Lock()
	unacked := sess.sm.unacked
	sess.sm.unacked = nil
	if sess.sm.ackTimer != nil {
		sess.sm.ackTimer.Stop()
		sess.sm.ackTimer = nil
	}
	sess.mu.Unlock()
	if len(unacked) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bare := sess.jid.Bare()
	for _, it := range unacked {
		m := parseStored(it.bytes())
		if m == nil || m.Name.Local != "message" {
			continue
		}
		switch m.AttrValue("type") {
		case "groupchat", "error", "headline":
			continue // the room's history and the sender have them
		}
		if m.Child(nsClient, "body") == nil && !storable(m) {
			continue
		}
		if serr := s.storeOffline(ctx, m, bare); serr != nil {
			s.log.Warn("stream management: an unacknowledged message could not be stored offline", "user", sess.bare, "condition", serr.Condition)
			continue
		}
		s.metrics.smRescued.Inc()
	}
}

// smExpireAll ends every detached session (at shutdown).
func (s *Server) smExpireAll() {
	for _, sess := range s.sm.all() {
		s.smExpire(sess)
	}
}
