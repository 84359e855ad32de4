package xmpp

import (
	"context"
	"errors"
	"slices"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// Account changes from XMPP: in-band registration and password change
// (XEP-0077, register.go) and the administrators' commands (XEP-0133,
// admin_commands.go) go through these, as parleyctl's user commands do:
// protocol/auth derives what is stored, never the password.

// setPassword stores credentials derived from password for username,
// creating the account when create is set (conflict if it exists) and
// replacing its credentials otherwise (item-not-found if it does not),
// with ev, the compliance event that records the change if there is one,
// in the same transaction.
func (s *Server) setPassword(ctx context.Context, username, password string, create bool, ev *storage.OutboxEvent) error {
	if password == "" {
		return errNotAcceptable("the password may not be empty")
	}
	creds, err := auth.DeriveCredentials(username, password)
	if err != nil {
		return errNotAcceptable(err.Error())
	}
	digest, err := auth.DeriveDigestCredentials(username, s.cfg.Domain, password)
	if err != nil {
		return errNotAcceptable(err.Error())
	}
	if create {
		err = s.cfg.Store.CreateAccount(ctx, username, creds, digest, ev)
	} else {
		err = s.cfg.Store.SetCredentials(ctx, username, creds, digest, ev)
	}
	switch {
	case errors.Is(err, storage.ErrExists):
		return stanzaError(interop.Conflict, "the username is taken")
	case isNotFound(err):
		return errItemNotFound("no such account")
	}
	return err
}

// deleteAccount removes an account, with ev as setPassword, and ends its
// sessions on this node with a stream error (RFC 6120 §4.9.3.12
// not-authorized: the identity they authenticated as is gone).
func (s *Server) deleteAccount(ctx context.Context, username string, ev *storage.OutboxEvent) error {
	if err := s.cfg.Store.DeleteAccount(ctx, username, ev); err != nil {
		if isNotFound(err) {
			return errItemNotFound("no such account")
		}
		return err
	}
	s.endSessions(username, &StreamError{Condition: "not-authorized", Text: "the account was deleted"})
	return nil
}

// endSessions ends the sessions of username on this node with serr and
// returns how many there were.
func (s *Server) endSessions(username string, serr *StreamError) int {
	sessions := s.router.sessions(username + "@" + s.cfg.Domain)
	for _, sess := range sessions {
		sess.mu.Lock()
		kill := sess.kill // replaced when the session is detached or resumed (sm.go)
		sess.mu.Unlock()
		if kill != nil {
			kill(serr)
		}
	}
	return len(sessions)
}

// OnlineSession is one session bound on this node, as the admin API
// (package admin) lists it.
type OnlineSession struct {
	JID string `json:"jid"` // the full JID
	// Available: the session sent available presence; Detached: its
	// connection is gone and it waits to be resumed (XEP-0198).
	Available bool `json:"available"`
	Detached  bool `json:"detached"`
}

// OnlineSessions lists the sessions bound on this node, by JID.
func (s *Server) OnlineSessions() []OnlineSession {
	var out []OnlineSession
	for _, sess := range s.router.all() {
		sess.mu.Lock()
		out = append(out, OnlineSession{JID: sess.jid.String(), Available: sess.available, Detached: sess.sm.detached})
		sess.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b OnlineSession) int { return strings.Compare(a.JID, b.JID) })
	return out
}

// Kick ends every session of the local account username on this node
// with a policy-violation stream error (RFC 6120 §4.9.3.14) saying an
// administrator did it, and returns how many it ended. The client may log
// in again unless its credentials were taken away first.
func (s *Server) Kick(username string) int {
	return s.endSessions(username, &StreamError{Condition: "policy-violation", Text: "disconnected by an administrator"})
}

// localUsername checks that v names an account of this domain (a bare
// JID, or a username alone) and returns its normalised username.
func (s *Server) localUsername(v string) (string, error) {
	if v == "" {
		return "", errBadRequest("no account given")
	}
	name := v
	if j, err := jid.Parse(v); err == nil && j.Localpart() != "" {
		if j.Domainpart() != s.cfg.Domain || j.Resourcepart() != "" {
			return "", errNotAcceptable("not an account of " + s.cfg.Domain + ": " + v)
		}
		name = j.Localpart()
	}
	u, err := auth.NormalizeUsername(name)
	if err != nil {
		return "", errJIDMalformed(err.Error())
	}
	return u, nil
}
