package xmpp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/muc"
)

// registerPresence registers presence to rooms and occupants: join
// (XEP-0045 §7.2), nick change (§7.6), presence update (§7.7) and leave
// (§7.14). Presence to the service itself is dropped (the mux's default).
func (m *mucService) registerPresence(mx *mux) {
	mx.stanza(toOccupant, "presence", "available", "", "", m.join, fromRemote(m.remoteJoin),
		advertiseAt(toRoom, nsMUC), advertiseAt(toMUCService, nsMUC))
	protocol := unadvertised("part of " + nsMUC + " (advertised with the join)")
	mx.stanza(toRoom, "presence", "available", "", "", func(ctx context.Context, r *request) error {
		// §7.2.1: a join needs a nick.
		return m.presenceError(r, errJIDMalformed("join with room@service/nick"))
	}, protocol)
	for _, at := range []addressee{toRoom, toOccupant} {
		mx.stanza(at, "presence", "unavailable", "", "", m.leave, protocol)
		mx.stanza(at, "presence", "error", "", "", m.leave, protocol)
		mx.stanza(at, "presence", anyType, "", "", func(ctx context.Context, r *request) error {
			return m.presenceError(r, errServiceUnavailable("rooms do not take presence subscriptions"))
		}, protocol)
	}
}

// presenceError answers a presence to a room with the error and, as
// XEP-0045 §7.2.6 shows for errors to a join, the <x/> echoed.
func (m *mucService) presenceError(r *request, err error) error {
	if err == nil || r.typ == "error" {
		return nil
	}
	reply := errorReply(r.el, m.srv.stanzaError(r, err), "")
	r.reply(reply.Append(NewElement(nsMUC, "x")))
	return nil
}

// join enters a room under a nick, changes one's nick in it, or updates
// one's presence there (XEP-0045 §7.2, §7.6, §7.7).
func (m *mucService) join(ctx context.Context, r *request) error {
	return m.joinAs(ctx, r, m.sinkFor(r.from.session()), true)
}

// joinAs runs a join, nick change or presence update for the occupant
// whose events k renders. create lets a join create a missing room
// (local users only).
func (m *mucService) joinAs(ctx context.Context, r *request, k *mucSink, create bool) error {
	p, room, nick := r.el, roomName(r.to), r.to.Resourcepart()
	addr := k.sess.fullJID().String()
	payload := presencePayload(p)
	// The nick the room assigned (status 210), or the one asked for
	// that normalises to it: a presence update.
	if cur, in := k.nick(room); in && (cur == nick || cur == normalizedNick(nick)) {
		return m.presenceError(r, m.engine.SetPresence(ctx, room, addr, payload))
	}
	req := muc.JoinRequest{
		Room:     room,
		Nick:     nick,
		User:     k.sess.bareJID(),
		Session:  muc.Session{Address: addr, FrontDoor: frontDoorXMPP, Sink: k},
		Presence: payload,
		History:  muc.HistoryRequest{MaxStanzas: -1},
		Create:   create,
	}
	if x := p.Child(nsMUC, "x"); x != nil {
		if pw := x.Child(nsMUC, "password"); pw != nil {
			req.Password = pw.Text()
		}
		if h := x.Child(nsMUC, "history"); h != nil {
			req.History = parseHistoryRequest(h)
		}
	}
	return m.presenceError(r, m.engine.Join(ctx, req))
}

// leave takes the sender out of the room (§7.14). A client bouncing room
// presence is gone from the room too (§7.2 recommends treating errors as
// leaving).
func (m *mucService) leave(ctx context.Context, r *request) error {
	room, addr := roomName(r.to), r.from.fullJID().String()
	if r.typ == "error" {
		_ = m.engine.Leave(ctx, room, addr, nil)
		return nil
	}
	return m.presenceError(r, m.engine.Leave(ctx, room, addr, presencePayload(r.el)))
}

// presencePayload keeps what other occupants should see of a presence
// (show, status, priority, caps…), without the muc join element.
func presencePayload(p *Element) []byte {
	out := NewElement(nsClient, "presence")
	for _, c := range p.Elements() {
		if c.Name.Space == nsMUC || c.Name.Space == nsMUCUser {
			continue
		}
		out.Append(c)
	}
	return out.Bytes()
}

// parseHistoryRequest reads <history/> (XEP-0045 §7.2.14).
func parseHistoryRequest(h *Element) muc.HistoryRequest {
	hr := muc.HistoryRequest{MaxStanzas: -1}
	if v, err := strconv.Atoi(strings.TrimSpace(h.AttrValue("maxstanzas"))); err == nil && v >= 0 {
		hr.MaxStanzas = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(h.AttrValue("maxchars"))); err == nil && v >= 0 {
		hr.MaxChars = v
		if v == 0 {
			hr.MaxStanzas = 0
		}
	}
	if v, err := strconv.Atoi(strings.TrimSpace(h.AttrValue("seconds"))); err == nil && v >= 0 {
		hr.Seconds = v
		if v == 0 {
			hr.MaxStanzas = 0
		}
	}
	if v := h.AttrValue("since"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			hr.Since = t
		}
	}
	return hr
}

// normalizedNick is nick as the room keeps it (muc.NormalizeNick), or ""
// if the room would refuse it.
func normalizedNick(nick string) string {
	n, err := muc.NormalizeNick(nick)
	if err != nil {
		return ""
	}
	return n
}
