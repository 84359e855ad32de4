package xmpp

import (
	"context"
	"strconv"
	"time"

	"github.com/parleychat/parley/roster"
)

// Last Activity (XEP-0012): the server answers for itself with its uptime
// (§6) and for an account that has no available resource with the time
// since its last one went offline and that presence's status (§5), to the
// account and to contacts with a subscription to its presence; others get
// forbidden. An account online answers 0 seconds. A query to a full JID is
// routed to that client (§4), which answers for itself.
//
// The last logout is kept with the account, in the store's account XML
// under lastActivityKey: a key no XEP-0049 request can name (those are
// always {namespace}name), so a client cannot read or forge it there.

const (
	nsLast          = "jabber:iq:last"
	lastActivityKey = "parley:last-activity"
)

func (s *Server) registerLastActivity() {
	started := time.Now()
	s.mux.iq(toServer, "get", nsLast, "query", func(context.Context, *request) (*Element, error) {
		return lastQuery(time.Since(started), ""), nil
	}, advertise(nsLast))
	s.mux.iq(toAccount, "get", nsLast, "query", s.accountLastActivity, advertise(nsLast))
	s.presenceHooks = append(s.presenceHooks, s.recordLastActivity)
}

func lastQuery(d time.Duration, status string) *Element {
	if d < 0 {
		d = 0
	}
	return NewElement(nsLast, "query", "seconds", strconv.FormatInt(int64(d/time.Second), 10)).AppendText(status)
}

// accountLastActivity answers §5's query on a bare JID.
func (s *Server) accountLastActivity(ctx context.Context, r *request) (*Element, error) {
	user := r.to.Localpart()
	if r.to.String() != r.from.bareJID() {
		item, err := s.cfg.Store.RosterItem(ctx, user, r.from.bareJID())
		switch {
		case isNotFound(err):
			return nil, errForbidden("only contacts subscribed to its presence may ask")
		case err != nil:
			return nil, err
		case !roster.ItemState(item).From():
			return nil, errForbidden("only contacts subscribed to its presence may ask")
		}
	}
	for _, sess := range s.router.sessions(r.to.String()) {
		if sess.isAvailable() {
			return lastQuery(0, ""), nil
		}
	}
	b, err := s.cfg.Store.PrivateXML(ctx, user, lastActivityKey)
	if isNotFound(err) {
		if _, err := s.cfg.Store.Account(ctx, user); isNotFound(err) {
			return nil, errServiceUnavailable("")
		}
		return nil, errItemNotFound("no activity recorded")
	}
	if err != nil {
		return nil, err
	}
	rec := parseStored(b)
	if rec == nil {
		return nil, errItemNotFound("no activity recorded")
	}
	at, err := time.Parse(time.RFC3339Nano, rec.AttrValue("stamp"))
	if err != nil {
		return nil, errItemNotFound("no activity recorded")
	}
	return lastQuery(time.Since(at), rec.Text()), nil
}

// recordLastActivity keeps the time and status of an account's last
// available session going offline.
func (s *Server) recordLastActivity(ctx context.Context, sess *session, p *Element, available bool) {
	if available || !sess.isAvailable() {
		return
	}
	for _, other := range s.router.sessions(sess.bareJID()) {
		if other != sess && other.isAvailable() {
			return
		}
	}
	status := ""
	if st := p.Child(nsClient, "status"); st != nil {
		status = st.Text()
	}
	rec := NewElement(nsLast, "query", "stamp", time.Now().UTC().Format(time.RFC3339Nano)).AppendText(status)
	if err := s.cfg.Store.PutPrivateXML(ctx, sess.jid.Localpart(), lastActivityKey, rec.Bytes()); err != nil && !isNotFound(err) { // not found: the account was just deleted
		s.log.Warn("recording last activity", "user", sess.bareJID(), "err", err)
	}
}
