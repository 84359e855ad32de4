package sip

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/muc"
)

// One conference subscription (subscribe.go makes them): its dialog, what
// the subscriber was told, and the NOTIFYs it queues on the sender.

// subscription is one conference subscription dialog (RFC 6665 §4.1.2.1
// and §4.2.1): the room is the notifier, the subscriber's From the remote
// party.
type subscription struct {
	s    *Server
	id   string // dialog id: Call-ID, remote tag, local tag
	aor  string // the subscriber, sip:user@DOMAIN
	room string

	callID, localTag, remoteTag string
	local                       sip.Uri  // the room's URI: From of NOTIFYs
	remote                      sip.Uri  // the subscriber's From: To of NOTIFYs
	target                      sip.Uri  // the subscriber's Contact: NOTIFY Request-URI
	routes                      []string // Record-Route of the SUBSCRIBE, in order (§12.1.1)
	contact                     string   // our Contact
	transport, source           string   // where the SUBSCRIBE came from
	realAddresses               bool     // the room shows real addresses to everyone

	mu      sync.Mutex
	version uint64               // of the last document queued
	cseq    uint32               // of the last NOTIFY sent
	known   map[string]knownUser // by nick: the occupants the subscriber knows
	expires time.Time
	timer   *time.Timer
	done    bool
	unwatch func()
}

// knownUser is what a subscriber was told of an occupant.
type knownUser struct {
	entity string
	role   muc.Role
}

// activeState is the Subscription-State of an active subscription.
// sub.mu is held.
func (sub *subscription) activeState() string {
	secs := max(int((time.Until(sub.expires)+time.Second-1)/time.Second), 0)
	return "active;expires=" + strconv.Itoa(secs)
}

// queueFull queues a full roster document. sub.mu is held.
func (sub *subscription) queueFull(occ []muc.Occupant, state string) {
	clear(sub.known)
	users := make([]confUser, 0, len(occ))
	for _, o := range occ {
		u := sub.s.fullUser(sub.room, sub.realAddresses, o)
		sub.known[o.Nick] = knownUser{u.Entity, o.Role}
		users = append(users, u)
	}
	sub.queueDoc("full", users, state)
}

// queueDoc queues a NOTIFY with the next version of the document. sub.mu
// is held.
func (sub *subscription) queueDoc(docState string, users []confUser, state string) {
	sub.version++
	doc := confInfo{Entity: sub.local.String(), State: docState, Version: sub.version,
		Users: confUsersElem{State: docState, Users: users}}
	if docState == "full" {
		doc.Description = &confDesc{DisplayText: sub.room}
	}
	sub.s.out.enqueue("subscription "+sub.id, outgoing{sub: sub, state: state,
		contentType: confInfoContentType, body: marshalConfInfo(doc)})
}

// Deliver is the room's event feed (muc.Sink), called under the room's
// lock: joins, leaves, nick and role changes become partial documents.
func (sub *subscription) Deliver(ev muc.Event) {
	switch ev.Kind {
	case muc.EventDestroyed:
		sub.terminate("noresource")
		return
	case muc.EventRevoked:
		// The subscriber may no longer read the room (RFC 6665 §4.2.2:
		// "rejected", a change in authorization policy).
		sub.terminate("rejected")
		return
	case muc.EventPresence:
	default:
		return
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.done {
		return
	}
	o := ev.Occupant
	var u confUser
	switch {
	case o.Role == muc.RoleNone:
		k, ok := sub.known[o.Nick]
		if !ok {
			return
		}
		delete(sub.known, o.Nick)
		u = confUser{Entity: k.entity, State: "deleted"}
	case ev.OldNick != "":
		delete(sub.known, ev.OldNick)
		u = sub.s.fullUser(sub.room, sub.realAddresses, o)
		u.State, u.Endpoint, u.Roles = "partial", nil, nil
		sub.known[o.Nick] = knownUser{u.Entity, o.Role}
	default:
		k, ok := sub.known[o.Nick]
		switch {
		case !ok:
			u = sub.s.fullUser(sub.room, sub.realAddresses, o)
		case k.role != o.Role:
			u = sub.s.fullUser(sub.room, sub.realAddresses, o)
			u.State, u.DisplayText, u.Endpoint = "partial", "", nil
		default:
			return // a presence update: not in this roster
		}
		sub.known[o.Nick] = knownUser{u.Entity, o.Role}
	}
	sub.queueDoc("partial", []confUser{u}, sub.activeState())
}

// terminate ends the subscription with a last NOTIFY saying so (RFC 6665
// §4.2.2); reason may be "" (unsubscribed), "timeout", "noresource",
// "rejected" or "deactivated".
func (sub *subscription) terminate(reason string) {
	sub.mu.Lock()
	if sub.done {
		sub.mu.Unlock()
		return
	}
	state := "terminated"
	if reason != "" {
		state += ";reason=" + reason
	}
	sub.s.out.enqueue("subscription "+sub.id, outgoing{sub: sub, state: state})
	sub.mu.Unlock()
	sub.end()
}

// end forgets the subscription, sending nothing more.
func (sub *subscription) end() {
	sub.mu.Lock()
	sub.done = true
	if sub.timer != nil {
		sub.timer.Stop()
	}
	unwatch := sub.unwatch
	sub.unwatch = nil
	sub.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	sub.s.removeSubscription(sub)
}

// notifyRequest builds the next NOTIFY of the dialog (RFC 6665 §4.2.2,
// RFC 3261 §12.2.1.1): Request-URI the subscriber's Contact, From the
// room with our tag, To the subscriber with theirs, the next CSeq, and
// the route set.
func (sub *subscription) notifyRequest(m outgoing) *sip.Request {
	req := sip.NewRequest(sip.NOTIFY, *sub.target.Clone())
	from := &sip.FromHeader{Address: *sub.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", sub.localTag)
	to := &sip.ToHeader{Address: *sub.remote.Clone(), Params: sip.NewParams()}
	if sub.remoteTag != "" {
		to.Params.Add("tag", sub.remoteTag)
	}
	callID := sip.CallIDHeader(sub.callID)
	sub.mu.Lock()
	sub.cseq++
	cseq := &sip.CSeqHeader{SeqNo: sub.cseq, MethodName: sip.NOTIFY}
	sub.mu.Unlock()
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	for _, r := range sub.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	req.AppendHeader(sip.NewHeader("Contact", sub.contact))
	req.AppendHeader(sip.NewHeader("Event", eventConference))
	req.AppendHeader(sip.NewHeader("Subscription-State", m.state))
	if m.body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", m.contentType))
		req.SetBody(m.body)
	}
	if tr := strings.ToUpper(sub.transport); tr != "" && len(sub.routes) == 0 && sub.source != "" && sip.IsReliable(tr) {
		// A connection-oriented subscriber is reached over its connection.
		req.SetTransport(tr)
		req.SetDestination(sub.source)
	}
	return req
}
