package xmpp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// Topic feeds over XMPP: XEP-0050 ad-hoc commands on conference.DOMAIN to
// follow and unfollow rooms and list what one follows, and the headline
// messages (RFC 6121 §5.2.2) that alert a follower to a matching post
// (shared/DESIGN.md §1 "Topic feed / keyword alert"). The rules — who may
// follow what, how keywords match, who is alerted — are the engine's
// (muc/feeds.go).

const (
	nsCommands  = "http://jabber.org/protocol/commands" // XEP-0050
	nsOutOfBand = "jabber:x:oob"                        // XEP-0066
	// nsFeeds names Parley's own parts of topic feeds: the FORM_TYPE of the
	// command forms and the <feed/> element of an alert.
	nsFeeds = "urn:parley:feeds:0"

	cmdFollow      = "follow"
	cmdUnfollow    = "unfollow"
	cmdListFollows = "list-follows"

	// commandTimeout is how long a multi-stage command waits for its next
	// stage (XEP-0050 §4.3: the responder may time sessions out).
	commandTimeout = 10 * time.Minute
	// maxCommandSessions bounds the sessions waiting for a next stage,
	// per user and in all.
	maxCommandSessionsPerUser = 8
	maxCommandSessions        = 10000
)

// commands are the service's ad-hoc commands in the order disco lists them.
var commands = []struct{ node, name string }{
	{cmdFollow, "Follow a room"},
	{cmdUnfollow, "Unfollow a room"},
	{cmdListFollows, "List followed rooms"},
}

func isCommandNode(node string) bool {
	if node == nsCommands {
		return true
	}
	for _, c := range commands {
		if c.node == node {
			return true
		}
	}
	return false
}

// commandSessions are the multi-stage command executions waiting for
// their next stage (XEP-0050 §3.4), bound to the requester's full JID.
// The zero value is ready to use.
type commandSessions struct {
	mu   sync.Mutex
	byID map[string]commandSession
}

type commandSession struct {
	node    string
	owner   string // full JID
	started time.Time
}

// start opens a session for node and returns its id.
func (c *commandSessions) start(node, owner string, now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = make(map[string]commandSession)
	}
	mine := 0
	var oldest string
	for id, s := range c.byID {
		switch {
		case now.Sub(s.started) > commandTimeout:
			delete(c.byID, id)
		case s.owner == owner:
			mine++
			if oldest == "" || s.started.Before(c.byID[oldest].started) {
				oldest = id
			}
		}
	}
	if mine >= maxCommandSessionsPerUser {
		delete(c.byID, oldest)
	}
	if len(c.byID) >= maxCommandSessions {
		for id := range c.byID { // any one: map order is random
			delete(c.byID, id)
			break
		}
	}
	id := randomID(10)
	c.byID[id] = commandSession{node: node, owner: owner, started: now}
	return id
}

// take ends the session id and returns it; ok is false when there is no
// such session for owner and node, expired is true when it timed out.
func (c *commandSessions) take(id, node, owner string, now time.Time) (ok, expired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, found := c.byID[id]
	if !found || s.owner != owner || s.node != node {
		return false, false
	}
	delete(c.byID, id)
	if now.Sub(s.started) > commandTimeout {
		return false, true
	}
	return true, false
}

// registerCommands registers the service's ad-hoc commands (XEP-0050)
// and their disco nodes (§2.2, §2.3).
func (m *mucService) registerCommands(mx *mux) {
	// Topic feeds alert the follower's sessions here: the commands are
	// for this server's users (localOnly).
	mx.iq(toMUCService, "set", nsCommands, "command", m.command, advertise(nsCommands), localOnly)
	mx.node(toMUCService, isCommandNode, m.commandDisco)
}

// commandError is a stanza error with XEP-0050's application-specific
// condition (§4.6), e.g. bad-action or bad-sessionid.
func commandError(serr *StanzaError, specific string) *StanzaError {
	serr.App = NewElement(nsCommands, specific)
	return serr
}

func badAction(text string) error { return commandError(errBadRequest(text), "bad-action") }

func badPayload(text string) error { return commandError(errBadRequest(text), "bad-payload") }

// commandDisco answers disco#items on the commands node (XEP-0050 §2.2) and
// disco#info on it and on each command (§2.3).
func (m *mucService) commandDisco(ctx context.Context, r *request) (*Element, error) {
	q := r.payload
	node := q.AttrValue("node")
	if q.Name.Space == nsDiscoItems {
		if node != nsCommands {
			return NewElement(nsDiscoItems, "query", "node", node), nil
		}
		out := NewElement(nsDiscoItems, "query", "node", nsCommands)
		for _, c := range commands {
			out.Append(NewElement(nsDiscoItems, "item", "jid", m.domain, "node", c.node, "name", c.name))
		}
		return out, nil
	}
	if node == nsCommands {
		return discoInfo(node, "automation", "command-list", "Topic feeds", []string{nsDiscoInfo, nsDiscoItems, nsCommands}), nil
	}
	for _, c := range commands {
		if c.node == node {
			return discoInfo(node, "automation", "command-node", c.name, []string{nsCommands, nsDataForms}), nil
		}
	}
	return nil, errItemNotFound("no such node")
}

// command executes one stage of an ad-hoc command (XEP-0050 §3).
func (m *mucService) command(ctx context.Context, r *request) (*Element, error) {
	cmd, user := r.payload, r.from.bareJID()
	node := cmd.AttrValue("node")
	found := false
	for _, c := range commands {
		found = found || c.node == node
	}
	if !found {
		return nil, errItemNotFound("no such command")
	}
	action := cmd.AttrValue("action")
	switch action {
	case "", "execute", "complete", "cancel", "next", "prev":
	default:
		return nil, badAction(fmt.Sprintf("unknown action %q", action))
	}
	owner, now := r.from.fullJID().String(), time.Now()
	id := cmd.AttrValue("sessionid")
	if id != "" {
		// A later stage: the session must be ours and alive.
		ok, expired := m.commands.take(id, node, owner, now)
		switch {
		case expired:
			return nil, commandError(errNotAllowed("the command session timed out; start again"), "session-expired")
		case !ok:
			return nil, commandError(errBadRequest("no such command session"), "bad-sessionid")
		}
	}
	if action == "cancel" {
		// §3.5: canceling ends the session; there may be none to end.
		return commandResult(node, id, "canceled"), nil
	}
	var submitted *Element
	if x := cmd.Child(nsDataForms, "x"); x != nil {
		switch x.AttrValue("type") {
		case "submit":
			submitted = x
		case "cancel":
			return commandResult(node, id, "canceled"), nil
		default:
			return nil, badPayload("submit the form with type='submit'")
		}
	}
	if id != "" && submitted == nil {
		return nil, badPayload("this stage expects the submitted form")
	}
	if id == "" && (action == "prev" || action == "next" || action == "complete") && submitted == nil {
		return nil, badAction(fmt.Sprintf("%q needs a command session", action))
	}
	if action == "prev" {
		return nil, badAction("these commands have one stage")
	}

	switch node {
	case cmdFollow:
		if submitted == nil {
			return m.executing(node, owner, now, followForm()), nil
		}
		return m.submitFollow(ctx, user, id, submitted)
	case cmdUnfollow:
		if submitted == nil {
			follows, err := m.engine.Follows(ctx, user)
			if err != nil {
				return nil, err
			}
			if len(follows) == 0 {
				return commandResult(node, "", "completed").Append(commandNote("info", "You follow no rooms.")), nil
			}
			return m.executing(node, owner, now, m.unfollowForm(follows)), nil
		}
		return m.submitUnfollow(ctx, user, id, submitted)
	default: // cmdListFollows: one stage, no form to fill
		follows, err := m.engine.Follows(ctx, user)
		if err != nil {
			return nil, err
		}
		return commandResult(node, id, "completed").Append(
			commandNote("info", fmt.Sprintf("You follow %d rooms.", len(follows))), m.followsTable(follows)), nil
	}
}

// executing is the reply that opens a session and asks for a form (§3.4).
func (m *mucService) executing(node, owner string, now time.Time, form *Element) *Element {
	id := m.commands.start(node, owner, now)
	out := commandResult(node, id, "executing")
	out.Append(NewElement(nsCommands, "actions", "execute", "complete").Append(NewElement(nsCommands, "complete")))
	return out.Append(form)
}

func commandResult(node, id, status string) *Element {
	if id == "" && status != "executing" {
		id = randomID(10) // §3.4: every reply carries a sessionid
	}
	return NewElement(nsCommands, "command", "node", node, "sessionid", id, "status", status)
}

func commandNote(typ, text string) *Element {
	return NewElement(nsCommands, "note", "type", typ).AppendText(text)
}

func followForm() *Element {
	f := newForm("form", nsFeeds)
	f.el.Append(NewElement(nsDataForms, "title").AppendText("Follow a room"),
		NewElement(nsDataForms, "instructions").AppendText(
			"You get a headline message for each post in the room while you are not in it. "+
				"Give keywords, one per line, to be alerted only to posts that mention one of them as a whole word "+
				"(case does not matter; end a keyword with * to match words starting with it). No keywords: every post."))
	room := f.add("room", "jid-single", "Room")
	room.Append(NewElement(nsDataForms, "required"))
	f.add("keywords", "text-multi", "Keywords (one per line)")
	return f.el
}

func (m *mucService) unfollowForm(follows []storage.Follow) *Element {
	f := newForm("form", nsFeeds)
	f.el.Append(NewElement(nsDataForms, "title").AppendText("Unfollow a room"))
	field := f.add("room", "list-single", "Room")
	field.Append(NewElement(nsDataForms, "required"))
	for _, fl := range follows {
		option(field, m.followLabel(fl), m.roomJID(fl.Room))
	}
	return f.el
}

func (m *mucService) followLabel(f storage.Follow) string {
	if len(f.Keywords) == 0 {
		return m.roomJID(f.Room) + " (every post)"
	}
	return m.roomJID(f.Room) + " (" + strings.Join(f.Keywords, ", ") + ")"
}

// followsTable is a XEP-0004 §3.4 multi-item result: one item per follow.
func (m *mucService) followsTable(follows []storage.Follow) *Element {
	x := NewElement(nsDataForms, "x", "type", "result")
	x.Append(NewElement(nsDataForms, "title").AppendText("Followed rooms"))
	x.Append(NewElement(nsDataForms, "reported").Append(
		NewElement(nsDataForms, "field", "var", "room", "label", "Room", "type", "jid-single"),
		NewElement(nsDataForms, "field", "var", "keywords", "label", "Keywords", "type", "text-multi"),
		NewElement(nsDataForms, "field", "var", "since", "label", "Since", "type", "text-single")))
	for _, f := range follows {
		kws := NewElement(nsDataForms, "field", "var", "keywords")
		for _, k := range f.Keywords {
			kws.Append(NewElement(nsDataForms, "value").AppendText(k))
		}
		x.Append(NewElement(nsDataForms, "item").Append(
			NewElement(nsDataForms, "field", "var", "room").Append(NewElement(nsDataForms, "value").AppendText(m.roomJID(f.Room))),
			kws,
			NewElement(nsDataForms, "field", "var", "since").Append(NewElement(nsDataForms, "value").AppendText(f.Created.UTC().Format(time.RFC3339)))))
	}
	return x
}

// formRoom reads the room field: a room JID at this service, or a bare
// room name.
func (m *mucService) formRoom(values map[string][]string) (string, error) {
	v, _ := first(values, "room")
	v = strings.TrimSpace(v)
	if v == "" {
		return "", badPayload("the room field is required")
	}
	if !strings.Contains(v, "@") {
		v += "@" + m.domain
	}
	j, err := jid.Parse(v)
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", commandError(errJIDMalformed("the room must be a room JID like room@"+m.domain), "bad-payload")
	}
	if j.Domainpart() != m.domain {
		return "", commandError(errItemNotFound("only rooms at "+m.domain+" can be followed here"), "bad-payload")
	}
	return roomName(j), nil
}

func (m *mucService) submitFollow(ctx context.Context, user, id string, x *Element) (*Element, error) {
	values := formValues(x)
	room, err := m.formRoom(values)
	if err != nil {
		return nil, err
	}
	var keywords []string
	for _, v := range values["keywords"] {
		keywords = append(keywords, strings.Split(v, "\n")...)
	}
	f, err := m.engine.Follow(ctx, user, room, keywords)
	if err != nil {
		return nil, err
	}
	note := "You follow " + m.roomJID(room) + ": every post."
	if len(f.Keywords) > 0 {
		note = "You follow " + m.roomJID(room) + " for posts mentioning: " + strings.Join(f.Keywords, ", ") + "."
	}
	return commandResult(cmdFollow, id, "completed").Append(commandNote("info", note)), nil
}

func (m *mucService) submitUnfollow(ctx context.Context, user, id string, x *Element) (*Element, error) {
	room, err := m.formRoom(formValues(x))
	if err != nil {
		return nil, err
	}
	if err := m.engine.Unfollow(ctx, user, room); err != nil {
		return nil, err
	}
	return commandResult(cmdUnfollow, id, "completed").Append(commandNote("info", "You no longer follow "+m.roomJID(room)+".")), nil
}

// feedAlerter delivers topic-feed alerts to XMPP users (muc.Alerter).
type feedAlerter struct{ m *mucService }

// TopicAlerter returns the XMPP front door's muc.Alerter, for the engine
// (muc.Engine.SetAlerter), or nil if the server has no MUC service.
func (s *Server) TopicAlerter() muc.Alerter {
	if s.muc == nil {
		return nil
	}
	return feedAlerter{s.muc}
}

// Alert sends the follower a headline message from the room to each of
// their available resources (RFC 6121 §8.5.2.1.1: headlines go to every
// resource with non-negative priority). A follower with none gets nothing:
// headlines are not stored offline (§8.5.2.2.2); the post stays in the
// room's archive. The message carries:
//
//   - a body that reads on any client: room, nick, post and the keywords
//     it matched;
//   - the post itself as received by occupants, with its XEP-0359
//     stanza-id, in a XEP-0297 <forwarded/> with its XEP-0203 time;
//   - a XEP-0066 link to the room (an RFC 5122 xmpp:…?join URI);
//   - <feed xmlns='urn:parley:feeds:0' room='…' stanza-id='…'> with one
//     <keyword/> per matched keyword, for clients that jump to the post
//     (a MAM query on the room with that id).
//
// Sending only queues on the sessions (session.send never blocks).
func (a feedAlerter) Alert(user, room string, msg *storage.HistoryMessage, matched []string) {
	m := a.m
	targets := m.srv.deliveryTargets(user, "headline")
	remote := m.srv.cfg.Remote
	if len(targets) == 0 && remote == nil {
		return
	}
	roomJID := m.roomJID(room)
	body := roomJID + " — " + msg.Nick + ": " + msg.Body
	if len(matched) > 0 {
		body += "\n(matched: " + strings.Join(matched, ", ") + ")"
	}
	post := m.groupchatMessage(msg, "", "")
	stamp := msg.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	feed := NewElement(nsFeeds, "feed", "room", roomJID, "stanza-id", msg.StanzaID)
	for _, k := range matched {
		feed.Append(NewElement(nsFeeds, "keyword").AppendText(k))
	}
	alert := func(to string) *Element {
		out := NewElement(nsClient, "message", "type", "headline", "from", roomJID, "to", to, "id", randomID(6))
		out.Append(NewElement(nsClient, "subject").AppendText("New post in " + roomJID))
		out.Append(NewElement(nsClient, "body").AppendText(body))
		out.Append(NewElement(nsForward, "forwarded").Append(
			NewElement(nsDelay, "delay", "stamp", stamp), post))
		out.Append(NewElement(nsOutOfBand, "x").Append(
			NewElement(nsOutOfBand, "url").AppendText("xmpp:"+roomJID+"?join"),
			NewElement(nsOutOfBand, "desc").AppendText("Join "+roomJID)))
		return out.Append(feed)
	}
	for _, r := range targets {
		r.sendElement(alert(r.jid.String()))
	}
	if remote != nil {
		// The follower's sessions on other nodes of the pool.
		remote.Send(user, alert(user).Bytes())
	}
}
