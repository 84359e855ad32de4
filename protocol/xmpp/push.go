package xmpp

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/pubsub"

	"github.com/parleychat/parley/storage"
)

// Push notifications (XEP-0357). A client registers an app server (its
// JID and a node, with an optional publish-options form: the app server's
// secret) with <enable/> and removes it with <disable/> (§5); the
// registrations are the account's, stored (storage.PushRegistrations), and
// each change is a compliance event. For each message with something to
// read (a body, or an encrypted payload) that is stored offline, or that
// reaches only sessions whose clients said they are inactive (XEP-0352)
// or whose connection is lost (a detached XEP-0198 session), every
// registration of the account gets a pubsub publish (§7) from the
// account's bare JID with the urn:xmpp:push:summary form: message-count
// (the messages this notification covers) and last-message-sender (a
// bare JID); last-message-body only when Config.PushBody allows it and
// the client's publish-options have include-body true. At most one
// publish per registration every Config.PushInterval: what comes
// meanwhile is counted into the next. An app server that answers
// Config.PushMaxErrors publishes in a row with an error (or not in
// time) is disabled, as a compliance event too. The publish goes to a
// local session when the app server is a local full JID, else over
// server-to-server (s2s.go).
//
// mellium.im/xmpp/pubsub is a client (Publish over an xmpp.Session); the
// publish here is the element, sent through the server's own IQs
// (serveriq.go).

const (
	nsPush        = "urn:xmpp:push:0"
	nsPushSummary = "urn:xmpp:push:summary"
	nsPubSubOpts  = "http://jabber.org/protocol/pubsub#publish-options"
)

// Compliance event types of push registrations.
const (
	EventPushEnable  = "push.enable"
	EventPushDisable = "push.disable"
)

// pushAnswerTimeout: a publish not answered by then counts as an error.
const pushAnswerTimeout = 30 * time.Second

// maxPushStates bounds the registrations the rate limit remembers; past
// it, those idle for an interval are forgotten.
const maxPushStates = 10000

// pushes is the rate-limit and error state of the registrations in use.
type pushes struct {
	mu      sync.Mutex
	states  map[string]*pushState
	stopped bool
}

// pushState is one registration's: what waits for the next publish.
type pushState struct {
	reg     storage.PushRegistration
	last    time.Time   // the last publish
	pending int         // messages not notified yet
	sender  string      // the last of them
	body    string      // its body
	timer   *time.Timer // the next publish, when one waits
	errors  int         // publishes in a row that failed
}

func pushKey(r storage.PushRegistration) string { return r.Owner + "\x00" + r.JID + "\x00" + r.Node }

// registerPush handles <enable/> and <disable/> on the user's own account
// and advertises urn:xmpp:push:0 there (§5).
func (s *Server) registerPush() {
	feature := advertiseAt(toAccount, nsPush)
	s.mux.iq(toAccount, "set", nsPush, "enable", s.pushEnable, feature, localOnly)
	s.mux.iq(toAccount, "set", nsPush, "disable", s.pushDisable, feature, localOnly)
}

// pushTarget checks the app server's JID and node of enable or disable.
func pushTarget(el *Element, nodeRequired bool) (string, string, *StanzaError) {
	j, err := jid.Parse(el.AttrValue("jid"))
	node := el.AttrValue("node")
	switch {
	case err != nil || len(j.String()) > 255:
		return "", "", errBadRequest("jid must be the app server's JID")
	case len(node) > 255, nodeRequired && node == "":
		return "", "", errBadRequest("node must be a pubsub node of the app server")
	}
	return j.String(), node, nil
}

// pushEvent is the compliance event of a change to a registration.
func (s *Server) pushEvent(typ, owner, appJID, node, reason string) *storage.OutboxEvent {
	payload, _ := json.Marshal(map[string]string{"jid": appJID, "node": node, "reason": reason})
	return &storage.OutboxEvent{EventID: randomID(12), Type: typ, Actor: owner + "@" + s.cfg.Domain, Time: time.Now().UTC(), Payload: payload}
}

// pushEnable registers an app server (§5).
func (s *Server) pushEnable(ctx context.Context, r *request) (*Element, error) {
	if r.to.String() != r.from.bareJID() {
		return nil, errForbidden("push is enabled on your own account")
	}
	en := r.el.Child(nsPush, "enable")
	appJID, node, serr := pushTarget(en, true)
	if serr != nil {
		return nil, serr
	}
	reg := storage.PushRegistration{Owner: r.to.Localpart(), JID: appJID, Node: node, Created: time.Now()}
	if x := en.Child(nsDataForms, "x"); x != nil {
		if ft, _ := first(formValues(x), "FORM_TYPE"); ft != nsPubSubOpts {
			return nil, errBadRequest("the form must be " + nsPubSubOpts)
		}
		reg.Options = x.Bytes()
	}
	if err := s.cfg.Store.EnablePush(ctx, reg, s.pushEvent(EventPushEnable, reg.Owner, appJID, node, "")); err != nil {
		s.log.Error("push: enabling", "user", reg.Owner, "err", err)
		return nil, errInternal("")
	}
	s.pushes.forget(reg.Owner, appJID, node)
	return nil, nil
}

// pushDisable removes a registration, or all of an app server's (§6).
func (s *Server) pushDisable(ctx context.Context, r *request) (*Element, error) {
	if r.to.String() != r.from.bareJID() {
		return nil, errForbidden("push is disabled on your own account")
	}
	appJID, node, serr := pushTarget(r.el.Child(nsPush, "disable"), false)
	if serr != nil {
		return nil, serr
	}
	owner := r.to.Localpart()
	if _, err := s.cfg.Store.DisablePush(ctx, owner, appJID, node, s.pushEvent(EventPushDisable, owner, appJID, node, "client")); err != nil {
		s.log.Error("push: disabling", "user", owner, "err", err)
		return nil, errInternal("")
	}
	s.pushes.forget(owner, appJID, node)
	return nil, nil
}

// forget drops the state of owner's registrations with appJID (and node,
// if given): enabled again or disabled.
func (p *pushes) forget(owner, appJID, node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, st := range p.states {
		if st.reg.Owner == owner && st.reg.JID == appJID && (node == "" || st.reg.Node == node) {
			if st.timer != nil {
				st.timer.Stop()
			}
			delete(p.states, k)
		}
	}
}

// pushWorthy reports whether a message would wake a phone: a chat or
// normal message with a body or an encrypted payload (OMEMO, OpenPGP),
// not chat states, receipts or markers alone.
func pushWorthy(m *Element, typ string) bool {
	if typ != "chat" && typ != "normal" {
		return false
	}
	for _, c := range m.Elements() {
		if c.Name.Space == nsClient && c.Name.Local == "body" || c.Name.Local == "encrypted" {
			return true
		}
	}
	return false
}

// pushIfAway notifies the account's app servers of m when the sessions it
// reached (none: it was stored offline) are all inactive or detached.
func (s *Server) pushIfAway(ctx context.Context, m *Element, to jid.JID, typ string, reached []*session) {
	if !pushWorthy(m, typ) {
		return
	}
	for _, r := range reached {
		r.mu.Lock()
		away := r.csi.inactive || r.sm.detached
		r.mu.Unlock()
		if !away {
			return
		}
	}
	regs, err := s.cfg.Store.PushRegistrations(ctx, to.Localpart())
	if err != nil {
		s.log.Error("push: reading registrations", "user", to.Localpart(), "err", err)
		return
	}
	sender := m.AttrValue("from")
	if j, err := jid.Parse(sender); err == nil {
		sender = j.Bare().String()
	}
	body := ""
	if b := m.Child(nsClient, "body"); b != nil {
		body = b.Text()
	}
	for _, reg := range regs {
		s.pushQueue(reg, sender, body)
	}
}

// pushQueue counts a message for reg and publishes now, or when the
// interval since the last publish has passed.
func (s *Server) pushQueue(reg storage.PushRegistration, sender, body string) {
	p := &s.pushes
	key := pushKey(reg)
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	if p.states == nil {
		p.states = make(map[string]*pushState)
	}
	st := p.states[key]
	if st == nil {
		if len(p.states) >= maxPushStates {
			p.pruneLocked(s.cfg.PushInterval)
		}
		st = &pushState{}
		p.states[key] = st
	}
	st.reg = reg
	st.pending++
	st.sender, st.body = sender, body
	switch wait := s.cfg.PushInterval - time.Since(st.last); {
	case st.timer != nil:
		s.metrics.pushSent.WithLabelValues("coalesced").Inc()
	case wait <= 0:
		s.pushSendLocked(st)
	default:
		s.metrics.pushSent.WithLabelValues("coalesced").Inc()
		st.timer = time.AfterFunc(wait, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			st.timer = nil
			if !p.stopped && p.states[key] == st && st.pending > 0 {
				s.pushSendLocked(st)
			}
		})
	}
	p.mu.Unlock()
}

// pruneLocked forgets the states with nothing waiting and no publish for
// an interval.
func (p *pushes) pruneLocked(interval time.Duration) {
	for k, st := range p.states {
		if st.timer == nil && st.pending == 0 && time.Since(st.last) > interval {
			delete(p.states, k)
		}
	}
}

// pushSendLocked publishes the summary of what is pending to st's app
// server (§7) and judges the answer.
func (s *Server) pushSendLocked(st *pushState) {
	reg := st.reg
	summary := newForm("submit", nsPushSummary)
	summary.field("message-count", "", strconv.Itoa(st.pending))
	summary.field("last-message-sender", "", st.sender)
	var opts *Element
	if len(reg.Options) > 0 {
		opts = parseStored(reg.Options)
	}
	if s.cfg.PushBody && opts != nil && st.body != "" {
		if v, _ := first(formValues(opts), "include-body"); v == "true" || v == "1" {
			summary.field("last-message-body", "", st.body)
		}
	}
	publish := NewElement(pubsub.NS, "publish", "node", reg.Node).Append(
		NewElement(pubsub.NS, "item").Append(NewElement(nsPush, "notification").Append(summary.el)))
	ps := NewElement(pubsub.NS, "pubsub").Append(publish)
	if opts != nil {
		ps.Append(NewElement(pubsub.NS, "publish-options").Append(opts))
	}
	iq := NewElement(nsClient, "iq", "type", "set", "from", reg.Owner+"@"+s.cfg.Domain, "to", reg.JID).Append(ps)
	st.last = time.Now()
	st.pending, st.body = 0, ""

	var once sync.Once
	judge := func(ok bool, result string) {
		once.Do(func() { s.pushJudged(reg, ok, result) })
	}
	sent := s.ask(iq, s.pushSend, func(_ context.Context, r *request) {
		if r.typ == "result" {
			judge(true, "ok")
		} else {
			judge(false, "error")
		}
	})
	if !sent {
		go judge(false, "error")
		return
	}
	time.AfterFunc(pushAnswerTimeout, func() { judge(false, "timeout") })
}

// pushSend sends a publish: to a local session when the app server is a
// local full JID, else over server-to-server.
func (s *Server) pushSend(iq *Element) bool {
	to, err := jid.Parse(iq.AttrValue("to"))
	if err != nil {
		return false
	}
	if to.Domainpart() == s.cfg.Domain {
		sess := s.router.session(to.Bare().String(), to.Resourcepart())
		if sess == nil {
			return false
		}
		sess.sendElement(iq)
		return true
	}
	return s.sendRemote(iq) == nil
}

// pushJudged counts a publish's outcome; past Config.PushMaxErrors
// failures in a row the registration is disabled.
func (s *Server) pushJudged(reg storage.PushRegistration, ok bool, result string) {
	s.metrics.pushSent.WithLabelValues(result).Inc()
	p := &s.pushes
	p.mu.Lock()
	st := p.states[pushKey(reg)]
	failed := 0
	if st != nil {
		if ok {
			st.errors = 0
		} else {
			st.errors++
		}
		failed = st.errors
	}
	p.mu.Unlock()
	if ok || failed < s.cfg.PushMaxErrors {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reason := strconv.Itoa(failed) + " publishes in a row failed"
	if _, err := s.cfg.Store.DisablePush(ctx, reg.Owner, reg.JID, reg.Node, s.pushEvent(EventPushDisable, reg.Owner, reg.JID, reg.Node, reason)); err != nil {
		s.log.Error("push: disabling a failing app server", "user", reg.Owner, "jid", reg.JID, "err", err)
		return
	}
	s.metrics.pushDisabled.Inc()
	s.log.Info("push: registration disabled", "user", reg.Owner, "jid", reg.JID, "reason", reason)
	p.forget(reg.Owner, reg.JID, reg.Node)
}

// stop ends the timers (at shutdown): nothing more is published.
func (p *pushes) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, st := range p.states {
		if st.timer != nil {
			st.timer.Stop()
		}
	}
}
