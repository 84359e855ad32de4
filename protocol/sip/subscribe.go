package sip

import (
	"context"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Conference roster subscriptions (RFC 4575 over RFC 6665): a SUBSCRIBE to
// sip:ROOM@conference.DOMAIN with "Event: conference" makes a dialog in
// which the room sends NOTIFYs with application/conference-info+xml: the
// full roster first (and on every refresh), then a partial document with
// the next version for each join, leave, nick or role change of any occupant,
// XMPP or SIP. The room engine hands the subscription those events in the
// room's order (muc.Engine.Watch); NOTIFYs go through the sender's
// per-subscription queue, so a slow subscriber never stalls the room.

const (
	eventConference = "conference"
	// DefaultMaxSubscriptions bounds one user's live subscriptions.
	DefaultMaxSubscriptions = 16
)

// eventPackage is the package of an Event header, without parameters.
func eventPackage(req *sip.Request) string {
	h := req.GetHeader("Event")
	if h == nil {
		return ""
	}
	pkg, _, _ := strings.Cut(h.Value(), ";")
	return strings.ToLower(strings.TrimSpace(pkg))
}

// subscribe handles an authenticated SUBSCRIBE from user.
func (s *Server) subscribe(ctx context.Context, req *sip.Request, user string) (*sip.Response, func()) {
	rooms := s.cfg.Rooms
	if rooms == nil {
		// No rooms over SIP: no event package.
		return s.response(req, 489, "Bad Event"), nil
	}
	if pkg := eventPackage(req); pkg != eventConference {
		// RFC 6665 §4.2.1.2: the packages this notifier serves.
		res := s.response(req, 489, "Bad Event")
		res.AppendHeader(sip.NewHeader("Allow-Events", eventConference))
		return res, nil
	}
	expires, res := s.subscriptionExpires(req)
	if res != nil {
		return res, nil
	}
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		return s.refresh(req, rooms, user, tag, expires)
	}
	to := req.Recipient
	if !strings.EqualFold(to.Host, s.cfg.RoomHost) || to.User == "" {
		return s.response(req, sip.StatusNotFound, "Not Found: only rooms (sip:ROOM@"+s.cfg.RoomHost+") have a roster"), nil
	}
	if !acceptsConfInfo(req) {
		res := s.response(req, sip.StatusNotAcceptable, "Not Acceptable")
		res.AppendHeader(sip.NewHeader("Accept", confInfoContentType))
		return res, nil
	}
	contact := req.Contact()
	if contact == nil || contact.Address.Wildcard || contact.Address.Host == "" {
		return s.response(req, sip.StatusBadRequest, "Bad Request: a SUBSCRIBE needs a Contact"), nil
	}
	room, bare := roomOf(to), s.bare(user)
	if room == "" {
		return s.response(req, sip.StatusNotFound, "Not Found"), nil
	}
	if err := s.cfg.Rooms.MayRead(ctx, room, bare); err != nil {
		return s.refused(req, "subscribe", room, user, err), nil
	}
	r, err := s.cfg.Rooms.Room(ctx, room, bare)
	if err != nil {
		return s.refused(req, "subscribe", room, user, err), nil
	}
	fromTag, _ := req.From().Params.Get("tag")
	sub := &subscription{s: s, aor: s.aor(user), room: room, callID: req.CallID().Value(),
		localTag: sip.GenerateTagN(16), remoteTag: fromTag, local: s.roomURI(room),
		remote: *req.From().Address.Clone(), target: *contact.Address.Clone(),
		transport: req.Transport(), source: req.Source(), realAddresses: r.WhoIs == "anyone",
		known: make(map[string]knownUser)}
	for _, h := range req.GetHeaders("Record-Route") {
		sub.routes = append(sub.routes, h.Value())
	}
	// Our Contact is the room's URI as the subscriber reached it.
	ours := sip.Uri{Scheme: "sip", User: room, Host: to.Host, Port: to.Port}
	if tr := req.Transport(); tr != "" && !strings.EqualFold(tr, "UDP") {
		ours.UriParams = sip.NewParams()
		ours.UriParams.Add("transport", strings.ToLower(tr))
	}
	sub.contact = "<" + ours.String() + ">"
	sub.id = sub.callID + "|" + sub.remoteTag + "|" + sub.localTag

	if expires > 0 && !s.addSubscription(sub) {
		return s.response(req, sip.StatusForbidden,
			"Forbidden: at most "+strconv.Itoa(s.cfg.MaxSubscriptions)+" subscriptions"), nil
	}
	res = s.subscribeOK(req, sub, expires)
	if expires == 0 {
		// A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, and done.
		return res, func() {
			rooms.Snapshot(room, func(occ []muc.Occupant) {
				sub.mu.Lock()
				defer sub.mu.Unlock()
				sub.queueFull(occ, "terminated;reason=timeout")
				sub.done = true
			})
		}
	}
	sub.expires = time.Now().Add(expires)
	return res, func() {
		sub.mu.Lock()
		if !sub.done {
			sub.timer = time.AfterFunc(expires, func() { sub.terminate("timeout") })
		}
		sub.mu.Unlock()
		stop := rooms.Watch(room, bare, sub, func(occ []muc.Occupant) {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			if !sub.done {
				sub.queueFull(occ, sub.activeState())
			}
		})
		sub.mu.Lock()
		sub.unwatch = stop
		done := sub.done
		sub.mu.Unlock()
		if done { // ended while the watch began (Close)
			stop()
		}
	}
}

// subscriptionExpires reads the Expires of a SUBSCRIBE (RFC 6665
// §4.2.1.1): absent means the default, too brief gets 423, too long is
// shortened; 0 ends the subscription.
func (s *Server) subscriptionExpires(req *sip.Request) (time.Duration, *sip.Response) {
	h := req.GetHeader("Expires")
	if h == nil {
		return s.cfg.DefaultExpires, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	if err != nil {
		return 0, s.response(req, sip.StatusBadRequest, "Bad Request: Expires")
	}
	d := time.Duration(n) * time.Second
	if d > 0 && d < s.cfg.MinExpires {
		res := s.response(req, sip.StatusIntervalToBrief, "Interval Too Brief")
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		return 0, res
	}
	return min(d, s.cfg.MaxExpires), nil
}

// acceptsConfInfo reports whether a SUBSCRIBE's Accept, if any, allows
// conference-info documents.
func acceptsConfInfo(req *sip.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for _, v := range strings.Split(h.Value(), ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(v))
			if err == nil && (mt == confInfoContentType || mt == "application/*" || mt == "*/*") {
				return true
			}
		}
	}
	return false
}

// subscribeOK is the 200 that makes or refreshes the dialog.
func (s *Server) subscribeOK(req *sip.Request, sub *subscription, expires time.Duration) *sip.Response {
	res := s.response(req, sip.StatusOK, "OK")
	if to := res.To(); to != nil {
		// sipgo gave the response a tag of its own when the request had
		// none: the dialog's is ours.
		if to.Params == nil {
			to.Params = sip.NewParams()
		}
		to.Params.Remove("tag")
		to.Params.Add("tag", sub.localTag)
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	res.AppendHeader(sip.NewHeader("Contact", sub.contact))
	return res
}

// refresh handles a SUBSCRIBE inside a subscription's dialog: a refresh,
// or an unsubscribe with Expires: 0 (RFC 6665 §4.1.2.2, §4.1.2.3).
func (s *Server) refresh(req *sip.Request, rooms muc.Rooms, user, localTag string, expires time.Duration) (*sip.Response, func()) {
	fromTag, _ := req.From().Params.Get("tag")
	id := req.CallID().Value() + "|" + fromTag + "|" + localTag
	s.subsMu.Lock()
	sub := s.subs[id]
	s.subsMu.Unlock()
	if sub == nil {
		return s.response(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist"), nil
	}
	if sub.aor != s.aor(user) {
		return s.response(req, sip.StatusForbidden, "Forbidden: not your subscription"), nil
	}
	res := s.subscribeOK(req, sub, expires)
	if expires == 0 {
		return res, func() { sub.terminate("") }
	}
	sub.mu.Lock()
	if sub.done {
		sub.mu.Unlock()
		return s.response(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist"), nil
	}
	sub.expires = time.Now().Add(expires)
	if sub.timer != nil {
		sub.timer.Reset(expires)
	}
	sub.mu.Unlock()
	// RFC 6665 §4.2.1.1: a refresh is answered with a NOTIFY; this one
	// carries the full roster again.
	return res, func() {
		rooms.Snapshot(sub.room, func(occ []muc.Occupant) {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			if !sub.done {
				sub.queueFull(occ, sub.activeState())
			}
		})
	}
}

// addSubscription registers sub unless its user has MaxSubscriptions.
func (s *Server) addSubscription(sub *subscription) bool {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subsByAOR[sub.aor] >= s.cfg.MaxSubscriptions {
		return false
	}
	s.subs[sub.id] = sub
	s.subsByAOR[sub.aor]++
	return true
}

func (s *Server) removeSubscription(sub *subscription) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subs[sub.id] != sub {
		return
	}
	delete(s.subs, sub.id)
	if s.subsByAOR[sub.aor]--; s.subsByAOR[sub.aor] <= 0 {
		delete(s.subsByAOR, sub.aor)
	}
}

// Subscriptions is how many conference subscriptions user has.
func (s *Server) Subscriptions(user string) int {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	return s.subsByAOR[s.aor(user)]
}

// closeSubscriptions ends every subscription without NOTIFYs (shutdown).
func (s *Server) closeSubscriptions() {
	for _, sub := range s.subscriptions() {
		sub.end()
	}
}

// subscriptions lists the live subscriptions.
func (s *Server) subscriptions() []*subscription {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	all := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		all = append(all, sub)
	}
	return all
}

// recheckSubscriptions ends the subscriptions whose subscriber may no
// longer see the room (RFC 6665 §4.2.2: terminated;reason=rejected) or
// whose room changed whether it shows real addresses (reason=deactivated:
// the subscriber subscribes again and gets the roster in the new form).
// The housekeeping runs it with the expiry of bindings.
func (s *Server) recheckSubscriptions(ctx context.Context) {
	for _, sub := range s.subscriptions() {
		bare := strings.TrimPrefix(sub.aor, "sip:")
		err := s.cfg.Rooms.MayRead(ctx, sub.room, bare)
		var r storage.Room
		if err == nil {
			r, err = s.cfg.Rooms.Room(ctx, sub.room, bare)
		}
		switch {
		case err != nil && muc.CodeOf(err) == 0:
			s.log.Warn("rechecking a conference subscription", "aor", sub.aor, "room", sub.room, "err", err)
		case err != nil:
			sub.terminate("rejected")
		case (r.WhoIs == "anyone") != sub.realAddresses:
			sub.terminate("deactivated")
		}
	}
}
