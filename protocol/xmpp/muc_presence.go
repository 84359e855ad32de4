package xmpp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
)

// handlePresence processes presence sent to a room (XEP-0045 §7.2 join,
// §7.6 nick change, §7.7 presence update, §7.14 leave).
func (m *mucService) handlePresence(ctx context.Context, sess *session, p *Element, to jid.JID) {
	typ := p.AttrValue("type")
	room := roomName(to)
	if room == "" {
		// Presence to the service itself: nothing to do.
		return
	}
	nick := to.Resourcepart()
	k := m.sinkFor(sess)
	_, inRoom := k.view(room)
	switch typ {
	case "":
		if nick == "" {
			// §7.2.1: a join needs a nick.
			m.replyError(sess, p, errJIDMalformed("join with room@service/nick"))
			return
		}
		payload := presencePayload(p)
		if inRoom {
			if cur, _ := k.nick(room); cur == nick {
				if err := m.engine.SetPresence(ctx, room, sess.jid.String(), payload); err != nil {
					m.replyError(sess, p, err)
				}
				return
			}
		}
		req := muc.JoinRequest{
			Room:     room,
			Nick:     nick,
			User:     sess.bare,
			Session:  muc.Session{Address: sess.jid.String(), FrontDoor: frontDoorXMPP, Sink: k},
			Presence: payload,
			History:  muc.HistoryRequest{MaxStanzas: -1},
			Create:   true,
		}
		if x := p.Child(nsMUC, "x"); x != nil {
			if pw := x.Child(nsMUC, "password"); pw != nil {
				req.Password = pw.Text()
			}
			if h := x.Child(nsMUC, "history"); h != nil {
				req.History = parseHistoryRequest(h)
			}
		}
		if err := m.engine.Join(ctx, req); err != nil {
			m.replyError(sess, p, err)
		}
	case "unavailable":
		if err := m.engine.Leave(ctx, room, sess.jid.String(), presencePayload(p)); err != nil {
			m.replyError(sess, p, err)
		}
	case "error":
		// A client bouncing room presence is gone from the room
		// (XEP-0045 §7.2 recommends treating errors as leaving).
		_ = m.engine.Leave(ctx, room, sess.jid.String(), nil)
	default:
		// Subscriptions to rooms are not supported.
		m.replyError(sess, p, errServiceUnavailable("rooms do not take presence subscriptions"))
	}
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
