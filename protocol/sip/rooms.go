package sip

import (
	"context"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Rooms over SIP in pager mode (RFC 3428; DESIGN §1): a MESSAGE to
// sip:ROOM@conference.DOMAIN whose body starts with "/" or "#" (Kamailio
// imc's prefix) is a command, answered with 200 and then a MESSAGE from
// the room to the sender's contacts; any other body is a post, answered
// with 200 only after the room engine committed it. A refusal by the
// engine, for a post or a command, is the SIP status statusOf maps it to,
// with the engine's reason in the reason phrase.

const (
	frontDoorSIP       = "sip"
	defaultHistoryN    = 10
	maxHistoryN        = 50
	textPlain          = "text/plain;charset=UTF-8"
	maxReasonPhraseLen = 200
)

const helpText = `Commands (start with / or #):
/join [nick]    join the room, to receive its posts here
/leave          leave the room
/who            who is in the room
/history [N]    the last N posts (default 10, at most 50)
/topic [text]   show or set the topic
/nick NAME      change your nick in the room
/rooms          the rooms you may see
/invite USER    invite user@domain (or user) to the room
/help           this text
Anything else is posted to the room.`

// statusOf is the SIP status and reason phrase for a refusal: a room
// engine refusal, a delivery failure or a database failing over as
// interop's error table says it, and the seconds of its Retry-After when it
// is temporary. Anything else is internal (500), for the caller to log.
func statusOf(err error) (code int, phrase string, retryAfter int, internal bool) {
	r := interop.RefusalOf(err)
	return r.Status, safePhrase(r.Phrase()), r.RetryAfter, r.Condition == interop.InternalServerError
}

// refusalResponse is the response to a request refused with err (statusOf),
// with Retry-After (RFC 3261 §20.33) when the refusal is temporary.
func (s *Server) refusalResponse(req *sip.Request, err error) (res *sip.Response, internal bool) {
	code, phrase, retryAfter, internal := statusOf(err)
	res = s.response(req, code, phrase)
	if retryAfter > 0 {
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(retryAfter)))
	}
	return res, internal
}

// safePhrase keeps a reason phrase on one line and short.
func safePhrase(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxReasonPhraseLen {
		s = s[:maxReasonPhraseLen]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// roomOf is the room that uri (sip:ROOM@conference.DOMAIN) names: its user
// part with RFC 3261 §25.1 escapes undone, normalised as every front door
// normalises a room name (internal/identity: the localpart of the room's
// JID), so that a SIP user reaches the room an XMPP user reaches by the same
// name. "" if it cannot name a room: the caller answers as for a room that
// does not exist.
func roomOf(uri sip.Uri) string {
	user, err := url.PathUnescape(uri.User)
	if err != nil {
		return ""
	}
	room, err := identity.RoomName(user)
	if err != nil {
		return ""
	}
	return room
}

// roomURI is the SIP URI of a room.
func (s *Server) roomURI(room string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: room, Host: s.cfg.RoomHost}
}

func (s *Server) roomAddress(room string) string {
	u := s.roomURI(room)
	return u.String()
}

// bare is the bare JID a SIP user is in rooms as (RFC 7247 §4).
func (s *Server) bare(user string) string {
	return user + "@" + strings.ToLower(s.cfg.Domain)
}

// message handles an authenticated MESSAGE from user.
func (s *Server) message(ctx context.Context, req *sip.Request, user string) (*sip.Response, func()) {
	room, body, res := s.roomText(req)
	if res != nil {
		return res, nil
	}
	if trimmed := strings.TrimSpace(body); trimmed[0] == '/' || trimmed[0] == '#' {
		return s.command(ctx, req, room, s.localCaller(user), trimmed[1:])
	}
	_, err := s.cfg.Rooms.Post(ctx, muc.PostRequest{Room: room, Address: s.aor(user), AsUser: s.bare(user),
		FrontDoor: frontDoorSIP, Body: body})
	if err != nil {
		return s.refused(req, "post", room, user, err), nil
	}
	return s.response(req, sip.StatusOK, "OK"), nil
}

// roomText reads the room and the text of a MESSAGE to a room (text/plain
// or message/cpim), or the response refusing it.
func (s *Server) roomText(req *sip.Request) (room, body string, res *sip.Response) {
	to := req.Recipient
	if !strings.EqualFold(to.Host, s.cfg.RoomHost) || to.User == "" {
		return "", "", s.response(req, sip.StatusNotFound, "Not Found: only rooms (sip:ROOM@"+s.cfg.RoomHost+") take MESSAGEs")
	}
	body = string(req.Body())
	if ct := req.ContentType(); ct != nil {
		mt, _, err := mime.ParseMediaType(ct.Value())
		switch {
		case err == nil && mt == "text/plain":
		case err == nil && mt == cpimContentType:
			text, err := unwrapCPIM(req.Body())
			if err != nil {
				return "", "", s.response(req, sip.StatusBadRequest, "Bad Request: "+safePhrase(err.Error()))
			}
			body = text
		default:
			res := s.response(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type")
			res.AppendHeader(sip.NewHeader("Accept", acceptedContentTypes))
			return "", "", res
		}
	}
	if err := interop.CheckText(body); err != nil {
		// A post, /topic and /join's nick all end up in XMPP stanzas and
		// the archive (RFC 7702 §5): XML must be able to carry them.
		return "", "", s.response(req, sip.StatusBadRequest, safePhrase("Bad Request: "+err.Error()))
	}
	body = strings.TrimRight(body, "\r\n")
	if strings.TrimSpace(body) == "" {
		return "", "", s.response(req, sip.StatusBadRequest, "Bad Request: empty message")
	}
	if room = roomOf(to); room == "" {
		return "", "", s.response(req, sip.StatusNotFound, "Not Found")
	}
	return room, body, nil
}

// refused answers a request the engine refused.
func (s *Server) refused(req *sip.Request, what, room, user string, err error) *sip.Response {
	res, internal := s.refusalResponse(req, err)
	if internal {
		s.log.Error("room "+what, "room", room, "user", user, "err", err)
	}
	return res
}

// caller is who sends a room command: a user of this domain, reached at
// their registered contacts, or a user of another domain (federation.go),
// reached through their domain's server. Both are occupants by aor.
type caller struct {
	name    string // for logs: the local user, or the foreign bare JID
	aor     string // sip:user@domain, the occupant's session address
	bare    string // the bare JID the room engine knows them by
	foreign bool
}

// localCaller is a user of this domain.
func (s *Server) localCaller(user string) caller {
	return caller{name: user, aor: s.aor(user), bare: s.bare(user)}
}

// reply sends text from the room to aor, after the response.
func (s *Server) reply(room, aor, text string) func() {
	return func() { s.sendText(aor, room, text) }
}

func (s *Server) sendText(aor, room, text string) {
	s.out.enqueue(aor, outgoing{from: s.roomURI(room), contentType: textPlain, body: []byte(text)})
}

// command runs a /command (without its prefix) in room for c.
func (s *Server) command(ctx context.Context, req *sip.Request, room string, c caller, line string) (*sip.Response, func()) {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	aor, bare, engine := c.aor, c.bare, s.cfg.Rooms
	ok := func(text string) (*sip.Response, func()) {
		return s.response(req, sip.StatusOK, "OK"), s.reply(room, aor, text)
	}
	fail := func(err error) (*sip.Response, func()) {
		return s.refused(req, name, room, c.name, err), nil
	}
	switch strings.ToLower(name) {
	case "join":
		// A local user is reached at their registered contacts, and
		// leaves when the last expires (leaveUnreachable); a foreign
		// user through their domain's server, and leaves when it
		// refuses or does not answer (federation.go).
		if !c.foreign && len(s.reg.bindings(aor)) == 0 {
			return s.response(req, sip.StatusForbidden, "Forbidden: REGISTER a contact before joining"), nil
		}
		nick := arg
		if nick == "" {
			if o, in := engine.Occupant(room, aor); in {
				nick = o.Nick
			} else {
				nick, _, _ = strings.Cut(bare, "@")
			}
		}
		if !c.foreign {
			s.joinedMu.Lock()
			s.joined[aor] = true
			s.joinedMu.Unlock()
		}
		// The sink tells the user they joined (EventJoined), in order
		// with the room's later events.
		err := engine.Join(ctx, muc.JoinRequest{Room: room, Nick: nick, User: bare,
			Session: muc.Session{Address: aor, FrontDoor: frontDoorSIP, Sink: newSink(s, aor, bare)},
			History: muc.HistoryRequest{MaxStanzas: 0}})
		if err != nil {
			return fail(err)
		}
		return s.response(req, sip.StatusOK, "OK"), nil
	case "leave", "part":
		if _, in := engine.Occupant(room, aor); !in {
			return ok("You are not in " + room + ".")
		}
		if err := engine.Leave(ctx, room, aor, nil); err != nil {
			return fail(err)
		}
		return s.response(req, sip.StatusOK, "OK"), nil // the sink says "You left"
	case "who", "members":
		if err := engine.MayRead(ctx, room, bare); err != nil {
			return fail(err)
		}
		// As an XMPP client is shown: the occupants whose presence the
		// room broadcasts (muc#roomconfig_presencebroadcast), and how
		// many others are in.
		total := len(engine.Occupants(room))
		if total == 0 {
			return ok("Nobody is in " + room + ".")
		}
		var nicks []string
		engine.Snapshot(room, func(occ []muc.Occupant) {
			for _, o := range occ {
				n := o.Nick
				if o.Role == muc.RoleModerator {
					n += " (manager)"
				}
				nicks = append(nicks, n)
			}
		})
		slices.Sort(nicks)
		text := fmt.Sprintf("In %s (%d)", room, total)
		if len(nicks) > 0 {
			text += ": " + strings.Join(nicks, ", ")
		}
		if quiet := total - len(nicks); quiet > 0 {
			text += fmt.Sprintf("; %d more not shown (the room broadcasts the presence of some roles only)", quiet)
		}
		return ok(text)
	case "history":
		n := defaultHistoryN
		if arg != "" {
			v, err := strconv.Atoi(arg)
			if err != nil || v < 1 {
				return s.response(req, sip.StatusBadRequest, "Bad Request: /history takes a number"), nil
			}
			n = min(v, maxHistoryN)
		}
		msgs, _, err := engine.History(ctx, bare, frontDoorSIP, storage.HistoryQuery{Room: room, Limit: n, Last: true})
		if err != nil {
			return fail(err)
		}
		if len(msgs) == 0 {
			return ok("No history in " + room + ".")
		}
		var b strings.Builder
		for i, m := range msgs {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("[" + m.Time.UTC().Format(time.DateTime) + "] " + renderHistory(m))
		}
		return ok(b.String())
	case "topic", "subject":
		if arg == "" {
			r, err := engine.Room(ctx, room, bare)
			if err != nil {
				return fail(err)
			}
			if r.Subject == "" {
				return ok("No topic in " + room + ".")
			}
			return ok("Topic of " + room + ": " + continued(r.Subject))
		}
		if err := engine.SetSubject(ctx, room, aor, arg, nil); err != nil {
			return fail(err)
		}
		return s.response(req, sip.StatusOK, "OK"), nil // the sink shows the new topic
	case "nick":
		if arg == "" {
			return s.response(req, sip.StatusBadRequest, "Bad Request: /nick NAME"), nil
		}
		o, in := engine.Occupant(room, aor)
		if !in {
			return s.response(req, sip.StatusForbidden, "Forbidden: /join "+room+" first"), nil
		}
		if o.Nick == arg {
			return ok("You are " + arg + " in " + room + " already.")
		}
		err := engine.Join(ctx, muc.JoinRequest{Room: room, Nick: arg, User: bare,
			Session: muc.Session{Address: aor, FrontDoor: frontDoorSIP, Sink: newSink(s, aor, bare)}})
		if err != nil {
			return fail(err)
		}
		return s.response(req, sip.StatusOK, "OK"), nil // the sink shows the change
	case "rooms", "list":
		rooms, err := engine.ListRooms(ctx, bare, "")
		if err != nil {
			return fail(err)
		}
		if len(rooms) == 0 {
			return ok("No rooms.")
		}
		var b strings.Builder
		b.WriteString("Rooms:")
		for _, r := range rooms {
			b.WriteString("\n" + s.roomAddress(r.Name) + " (" + string(muc.PrivacyOf(r)) + ")")
			if r.Subject != "" {
				b.WriteString(" " + continued(r.Subject))
			}
		}
		return ok(b.String())
	case "invite":
		if arg == "" {
			return s.response(req, sip.StatusBadRequest, "Bad Request: /invite USER"), nil
		}
		invitee := strings.ToLower(strings.TrimPrefix(arg, "sip:"))
		if !strings.Contains(invitee, "@") {
			invitee = s.bare(invitee)
		}
		if err := engine.Invite(ctx, room, aor, invitee); err != nil {
			return fail(err)
		}
		local, host, _ := strings.Cut(invitee, "@")
		if strings.EqualFold(host, s.cfg.Domain) {
			// The invitee's SIP contacts, if any, get the invitation
			// (DESIGN §1: a MESSAGE with the room URI).
			s.sendText(s.aor(local), room, fmt.Sprintf("%s invites you to %s. Answer /join to this address to join.",
				bare, s.roomAddress(room)))
		}
		return ok("Invited " + invitee + " to " + room + ".")
	case "help", "":
		return ok(helpText)
	}
	return s.response(req, sip.StatusBadRequest, "Bad Request: unknown command /"+safePhrase(name)+"; try /help"), nil
}

// renderHistory is one archived message as text.
func renderHistory(m storage.HistoryMessage) string {
	switch m.Kind {
	case storage.KindSubject:
		return "* " + m.Nick + " set the topic: " + continued(m.Body)
	case storage.KindCorrection:
		return m.Nick + " (corrected): " + continued(m.Body)
	case storage.KindRetraction, storage.KindModeration:
		return "* " + m.Nick + " removed a message"
	}
	return m.Nick + ": " + continued(m.Body)
}

// continuation starts every line of a post, topic or reason after its
// first in the text/plain rendering, so that a multi-line post cannot
// pass one of its lines off as another line the room writes ("carol: …",
// "* carol left"): those start at the line's beginning, with a nick, which
// never starts with a space (RFC 8266 trims them). Endpoints that take
// message/cpim see the sender in its From header instead (cpim.go).
const continuation = "  | "

// lineBreaks maps every line break a text/plain reader may honour: CR LF,
// CR, LF, NEL, and Unicode's line and paragraph separators.
var lineBreaks = strings.NewReplacer("\r\n", "\n"+continuation, "\r", "\n"+continuation, "\n", "\n"+continuation,
	"\u0085", "\n"+continuation, "\u2028", "\n"+continuation, "\u2029", "\n"+continuation)

// continued is text with its line breaks as LF and every line after the
// first started with continuation.
func continued(text string) string {
	return lineBreaks.Replace(strings.TrimRight(text, "\r\n"))
}

// leaveUnreachable takes every user whose contacts all expired or were
// removed out of the rooms they joined over SIP (XMPP occupants see their
// unavailable presence).
func (s *Server) leaveUnreachable() {
	if s.cfg.Rooms == nil {
		return
	}
	s.joinedMu.Lock()
	var gone []string
	for aor := range s.joined {
		if len(s.reg.bindings(aor)) == 0 {
			gone = append(gone, aor)
			delete(s.joined, aor)
		}
	}
	s.joinedMu.Unlock()
	for _, aor := range gone {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.cfg.Rooms.LeaveAll(ctx, aor)
		cancel()
		s.log.Debug("SIP user unreachable: left its rooms", "aor", aor)
	}
}

// sink is a SIP occupant's muc.Sink in one room: it renders events as
// text and queues them for the user's contacts. Deliver never blocks.
type sink struct {
	s    *Server
	aor  string
	user string // bare JID

	mu    sync.Mutex
	known map[string]bool // nicks in the room, to tell a join from a presence update
	// realAddresses: the room shows occupants' addresses to everyone
	// (whois "anyone"), so CPIM From may carry them.
	realAddresses bool
}

func newSink(s *Server, aor, user string) *sink {
	return &sink{s: s, aor: aor, user: user, known: make(map[string]bool)}
}

func (k *sink) Deliver(ev muc.Event) {
	k.mu.Lock()
	text := k.render(ev)
	var post *cpimPost
	if ev.Kind == muc.EventMessage && text != "" {
		post = &cpimPost{nick: ev.Occupant.Nick, from: k.s.userEntity(ev.Room, k.realAddresses, ev.Occupant),
			to: k.s.roomAddress(ev.Room), at: ev.Message.Time, text: cpimText(*ev.Message)}
	}
	k.mu.Unlock()
	if text != "" {
		k.s.out.enqueue(k.aor, outgoing{from: k.s.roomURI(ev.Room), contentType: textPlain, body: []byte(text), cpim: post})
	}
}

// cpimText is a message as the text of a message/cpim wrapper, whose From
// already names the sender.
func cpimText(m storage.HistoryMessage) string {
	switch m.Kind {
	case storage.KindCorrection:
		return "(corrected) " + m.Body
	case storage.KindRetraction, storage.KindModeration:
		return "* removed a message"
	}
	return m.Body
}

// self reports whether an occupant is this sink's session.
func (k *sink) self(o muc.Occupant) bool {
	for _, sess := range o.Sessions {
		if sess.Address == k.aor {
			return true
		}
	}
	return false
}

// leftText tells a SIP occupant why it is out of a room, from the
// XEP-0045 status codes of its unavailable presence (§15.6).
func leftText(ev muc.Event) string {
	switch {
	case slices.Contains(ev.Status, muc.StatusBanned):
		return "You were banned from " + ev.Room + "."
	case slices.Contains(ev.Status, muc.StatusKicked):
		return "You were kicked from " + ev.Room + "."
	case slices.Contains(ev.Status, muc.StatusAffiliation):
		return "You were removed from " + ev.Room + ": you may no longer be in it."
	case slices.Contains(ev.Status, muc.StatusMembersOnly):
		return "You were removed from " + ev.Room + ": it is now for members only."
	}
	return "You left " + ev.Room + "."
}

func (k *sink) render(ev muc.Event) string {
	switch ev.Kind {
	case muc.EventJoined:
		j := ev.Joined
		if j.Rejoin {
			return "You are in " + ev.Room + " as " + j.Self.Nick + " already."
		}
		nicks := make([]string, 0, len(j.Others))
		for _, o := range j.Others {
			nicks = append(nicks, o.Nick)
			k.known[o.Nick] = true
		}
		k.known[j.Self.Nick] = true
		k.realAddresses = j.Room.WhoIs == "anyone"
		slices.Sort(nicks)
		text := "You joined " + ev.Room + " as " + j.Self.Nick + "."
		if len(nicks) > 0 {
			text += " Also here: " + strings.Join(nicks, ", ") + "."
		}
		if j.Room.Subject != "" {
			text += " Topic: " + continued(j.Room.Subject)
		}
		return text
	case muc.EventMessage:
		m := ev.Message
		if m == nil || (m.FrontDoor == frontDoorSIP && ev.Occupant.User == k.user) {
			return "" // pager mode: no echo of one's own SIP posts
		}
		return renderHistory(*m)
	case muc.EventSubject:
		if ev.Message == nil {
			return ""
		}
		return "* " + ev.Occupant.Nick + " set the topic: " + continued(ev.Message.Body)
	case muc.EventPresence:
		o := ev.Occupant
		joined := !k.known[o.Nick]
		if ev.OldNick != "" {
			delete(k.known, ev.OldNick)
		}
		if o.Role == muc.RoleNone {
			delete(k.known, o.Nick)
		} else {
			k.known[o.Nick] = true
		}
		switch {
		case ev.OldNick != "" && k.self(o):
			return "You are now known as " + o.Nick + "."
		case ev.OldNick != "":
			return "* " + ev.OldNick + " is now known as " + o.Nick
		case o.Role == muc.RoleNone && k.self(o):
			text := leftText(ev)
			if ev.Reason != "" {
				text += " " + continued(ev.Reason)
			}
			return text
		case o.Role == muc.RoleNone:
			return "* " + o.Nick + " left"
		case joined && !k.self(o):
			return "* " + o.Nick + " joined"
		}
		return "" // a presence or role update
	case muc.EventConfig:
		if ev.Config != nil {
			k.realAddresses = ev.Config.WhoIs == "anyone"
		}
		return ""
	case muc.EventDestroyed:
		text := ev.Room + " was closed; you are out."
		if ev.Reason != "" {
			text += " " + continued(ev.Reason)
		}
		return text
	}
	return ""
}
