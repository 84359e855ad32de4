package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// Service administration (XEP-0133) as ad-hoc commands (XEP-0050) on the
// server, for the accounts Config.Admins names: add a user (§4.1), delete
// users (§4.2), change a user's password (§4.7), list the online users
// (§4.21) and send an announcement to them (§4.23). Others see no commands
// and are refused with forbidden. What a command changes is what
// parleyctl's user commands change; a deleted user's sessions end.
//
// The online list and the announcement cover this node's sessions: in a
// pool each node answers for its own users (README, "Server services").

const nsAdmin = "http://jabber.org/protocol/admin"

// adminCommands are the commands in the order disco lists them; those
// with a form take it in a second stage.
var adminCommands = []struct {
	node, name string
	form       func() *Element // nil: one stage
}{
	{nsAdmin + "#add-user", "Add a user", addUserForm},
	{nsAdmin + "#delete-user", "Delete users", deleteUserForm},
	{nsAdmin + "#change-user-password", "Change a user's password", changePasswordForm},
	{nsAdmin + "#get-online-users-list", "List the online users", nil},
	{nsAdmin + "#announce", "Send an announcement to the online users", announceForm},
}

func (s *Server) registerAdminCommands() {
	s.mux.iq(toServer, "set", nsCommands, "command", s.adminCommand, advertise(nsCommands), localOnly)
	s.mux.node(toServer, func(node string) bool {
		if node == nsCommands {
			return true
		}
		for _, c := range adminCommands {
			if c.node == node {
				return true
			}
		}
		return false
	}, s.adminCommandDisco)
}

func (s *Server) isAdmin(o origin) bool {
	if o.session() == nil {
		return false
	}
	j := o.fullJID()
	return j.Domainpart() == s.cfg.Domain && slices.Contains(*s.admins.Load(), j.Localpart())
}

// SetAdmins replaces the administrators (Config.Admins) from the next
// request on (parleyd's reload): one taken off the list has no admin
// command from then on.
func (s *Server) SetAdmins(users []string) {
	users = slices.Clone(users)
	s.admins.Store(&users)
}

// adminCommandDisco lists the commands to an administrator (XEP-0050
// §2.2; nobody else is shown any) and describes each (§2.3).
func (s *Server) adminCommandDisco(_ context.Context, r *request) (*Element, error) {
	node := r.payload.AttrValue("node")
	admin := s.isAdmin(r.from)
	if r.payload.Name.Space == nsDiscoItems {
		out := NewElement(nsDiscoItems, "query", "node", node)
		if node == nsCommands && admin {
			for _, c := range adminCommands {
				out.Append(NewElement(nsDiscoItems, "item", "jid", s.cfg.Domain, "node", c.node, "name", c.name))
			}
		}
		return out, nil
	}
	if node == nsCommands {
		return discoInfo(node, "automation", "command-list", "Service administration", []string{nsDiscoInfo, nsDiscoItems, nsCommands}), nil
	}
	for _, c := range adminCommands {
		if c.node == node && admin {
			return discoInfo(node, "automation", "command-node", c.name, []string{nsCommands, nsDataForms}), nil
		}
	}
	return nil, errItemNotFound("no such node")
}

// adminCommand runs one stage of a command (XEP-0050 §3).
func (s *Server) adminCommand(ctx context.Context, r *request) (*Element, error) {
	cmd := r.payload
	node := cmd.AttrValue("node")
	i := slices.IndexFunc(adminCommands, func(c struct {
		node, name string
		form       func() *Element
	}) bool {
		return c.node == node
	})
	if i < 0 {
		return nil, errItemNotFound("no such command")
	}
	if !s.isAdmin(r.from) {
		return nil, errForbidden("only the server's administrators run these commands")
	}
	c := adminCommands[i]
	owner, now := r.from.fullJID().String(), time.Now()
	action, id := cmd.AttrValue("action"), cmd.AttrValue("sessionid")
	switch action {
	case "", "execute", "complete", "cancel", "next":
	case "prev":
		return nil, badAction("these commands have no previous stage")
	default:
		return nil, badAction(fmt.Sprintf("unknown action %q", action))
	}
	if id != "" {
		ok, expired := s.adminSessions.take(id, node, owner, now)
		switch {
		case expired:
			return nil, commandError(errNotAllowed("the command session timed out; start again"), "session-expired")
		case !ok:
			return nil, commandError(errBadRequest("no such command session"), "bad-sessionid")
		}
	}
	if action == "cancel" {
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
	if c.form != nil && submitted == nil {
		if id != "" {
			return nil, badPayload("this stage expects the submitted form")
		}
		sid := s.adminSessions.start(node, owner, now)
		out := commandResult(node, sid, "executing")
		out.Append(NewElement(nsCommands, "actions", "execute", "complete").Append(NewElement(nsCommands, "complete")))
		return out.Append(c.form()), nil
	}
	values := formValues(submitted)
	switch node {
	case nsAdmin + "#add-user":
		user, pw, err := s.accountAndPassword(values, "accountjid", true)
		if err != nil {
			return nil, commandError(asStanzaErr(err), "bad-payload")
		}
		ev, err := adminEvent(r, "account.add", map[string]any{"user": user + "@" + s.cfg.Domain})
		if err != nil {
			return nil, err
		}
		if err := s.setPassword(ctx, user, pw, true, ev); err != nil {
			return nil, err
		}
		s.log.Info("account added by an administrator", "user", user, "admin", owner)
		return done(node, id, "Added "+user+"@"+s.cfg.Domain+"."), nil
	case nsAdmin + "#delete-user":
		var names []string
		for _, v := range values["accountjids"] {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					names = append(names, line)
				}
			}
		}
		if len(names) == 0 {
			return nil, badPayload("name the accounts to delete")
		}
		var users []string
		for _, n := range names {
			u, err := s.localUsername(n)
			if err != nil {
				return nil, commandError(asStanzaErr(err), "bad-payload")
			}
			users = append(users, u)
		}
		for _, u := range users {
			ev, err := adminEvent(r, "account.delete", map[string]any{"user": u + "@" + s.cfg.Domain})
			if err != nil {
				return nil, err
			}
			if err := s.deleteAccount(ctx, u, ev); err != nil {
				return nil, err
			}
			s.log.Info("account deleted by an administrator", "user", u, "admin", owner)
		}
		return done(node, id, fmt.Sprintf("Deleted %d accounts.", len(users))), nil
	case nsAdmin + "#change-user-password":
		user, pw, err := s.accountAndPassword(values, "accountjid", false)
		if err != nil {
			return nil, commandError(asStanzaErr(err), "bad-payload")
		}
		ev, err := adminEvent(r, "account.password", map[string]any{"user": user + "@" + s.cfg.Domain})
		if err != nil {
			return nil, err
		}
		if err := s.setPassword(ctx, user, pw, false, ev); err != nil {
			return nil, err
		}
		s.log.Info("password changed by an administrator", "user", user, "admin", owner)
		return done(node, id, "Changed the password of "+user+"@"+s.cfg.Domain+"."), nil
	case nsAdmin + "#get-online-users-list":
		var bares []string
		for _, sess := range s.router.all() {
			if !slices.Contains(bares, sess.bareJID()) {
				bares = append(bares, sess.bareJID())
			}
		}
		slices.Sort(bares)
		f := newForm("result", nsAdmin)
		f.add("onlineuserjids", "jid-multi", "The online users", bares...)
		return commandResult(node, id, "completed").Append(f.el), nil
	default: // announce
		text := strings.Join(values["announcement"], "\n")
		if strings.TrimSpace(text) == "" {
			return nil, badPayload("the announcement is empty")
		}
		subject, _ := first(values, "subject")
		n := 0
		for _, sess := range s.router.all() {
			msg := NewElement(nsClient, "message", "type", "headline", "from", s.cfg.Domain, "to", sess.jid.String(), "id", randomID(6))
			if subject != "" {
				msg.Append(NewElement(nsClient, "subject").AppendText(subject))
			}
			msg.Append(NewElement(nsClient, "body").AppendText(text))
			if sess.sendElement(msg) {
				n++
			}
		}
		s.log.Info("announcement sent", "sessions", n, "admin", owner)
		if err := s.recordAdminAction(ctx, r, EventAnnouncement, map[string]any{"subject": subject, "body": text, "sessions": n}); err != nil {
			return nil, err
		}
		return done(node, id, fmt.Sprintf("Sent to %d sessions.", n)), nil
	}
}

// EventAnnouncement is the compliance event of an announcement to every
// online user (XEP-0133 §4.23).
const EventAnnouncement = "announcement"

// adminEvent is the compliance event of what an administrator did
// through a command, as the admin console and parleyctl record the same
// changes (package admin: account.add, account.delete, account.password),
// with the administrator's bare JID as the actor. An account change is
// stored with its event in one transaction: it fails if the event cannot
// be written.
func adminEvent(r *request, typ string, detail map[string]any) (*storage.OutboxEvent, error) {
	detail["via"] = "xep-0133"
	payload, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("admin command %s: %w", typ, err)
	}
	return &storage.OutboxEvent{EventID: randomID(12), Type: typ, Actor: r.from.bareJID(), Time: time.Now().UTC(), Payload: payload}, nil
}

// recordAdminAction records what an administrator did that changed
// nothing stored (an announcement), after it was done. An event that
// cannot be recorded is answered with an error: the administrator must
// know the record lacks it.
func (s *Server) recordAdminAction(ctx context.Context, r *request, typ string, detail map[string]any) error {
	ev, err := adminEvent(r, typ, detail)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.AppendOutbox(ctx, *ev); err != nil {
		s.log.Error("admin command: recording for compliance", "event", typ, "err", err)
		return errInternal("done, but not recorded for compliance: " + typ)
	}
	return nil
}

func done(node, id, note string) *Element {
	return commandResult(node, id, "completed").Append(commandNote("info", note))
}

func asStanzaErr(err error) *StanzaError {
	if serr, ok := err.(*StanzaError); ok {
		return serr
	}
	return errBadRequest(err.Error())
}

// accountAndPassword reads an account field and the password with its
// verification (XEP-0133 §4.1, §4.7).
func (s *Server) accountAndPassword(values map[string][]string, field string, verify bool) (string, string, error) {
	v, _ := first(values, field)
	user, err := s.localUsername(strings.TrimSpace(v))
	if err != nil {
		return "", "", err
	}
	pw, _ := first(values, "password")
	if pw == "" {
		return "", "", errNotAcceptable("the password may not be empty")
	}
	if again, ok := first(values, "password-verify"); verify && ok && again != pw {
		return "", "", errNotAcceptable("the passwords differ")
	}
	return user, pw, nil
}

func adminForm(title string) *form {
	f := newForm("form", nsAdmin)
	f.el.Append(NewElement(nsDataForms, "title").AppendText(title))
	return f
}

func required(field *Element) { field.Append(NewElement(nsDataForms, "required")) }

func addUserForm() *Element {
	f := adminForm("Add a user")
	required(f.add("accountjid", "jid-single", "The Jabber ID of the account"))
	required(f.add("password", "text-private", "The password"))
	required(f.add("password-verify", "text-private", "The password again"))
	return f.el
}

func deleteUserForm() *Element {
	f := adminForm("Delete users")
	required(f.add("accountjids", "jid-multi", "The Jabber IDs of the accounts to delete"))
	return f.el
}

func changePasswordForm() *Element {
	f := adminForm("Change a user's password")
	required(f.add("accountjid", "jid-single", "The Jabber ID of the account"))
	required(f.add("password", "text-private", "The new password"))
	return f.el
}

func announceForm() *Element {
	f := adminForm("Send an announcement to the online users")
	f.add("subject", "text-single", "Subject")
	required(f.add("announcement", "text-multi", "Announcement"))
	return f.el
}
