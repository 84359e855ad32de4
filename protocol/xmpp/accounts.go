package xmpp

import (
	"context"
	"errors"

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
// replacing its credentials otherwise (item-not-found if it does not).
func (s *Server) setPassword(ctx context.Context, username, password string, create bool) error {
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
		err = s.cfg.Store.CreateAccount(ctx, username, creds, digest...)
	} else {
		err = s.cfg.Store.SetCredentials(ctx, username, creds, digest...)
	}
	switch {
	case errors.Is(err, storage.ErrExists):
		return stanzaError(interop.Conflict, "the username is taken")
	case isNotFound(err):
		return errItemNotFound("no such account")
	}
	return err
}

// deleteAccount removes an account and ends its sessions on this node
// with a stream error (RFC 6120 §4.9.3.12 not-authorized: the identity
// they authenticated as is gone).
func (s *Server) deleteAccount(ctx context.Context, username string) error {
	if err := s.cfg.Store.DeleteAccount(ctx, username); err != nil {
		if isNotFound(err) {
			return errItemNotFound("no such account")
		}
		return err
	}
	for _, sess := range s.router.sessions(username + "@" + s.cfg.Domain) {
		sess.mu.Lock()
		kill := sess.kill // replaced when the session is detached or resumed (sm.go)
		sess.mu.Unlock()
		if kill != nil {
			kill(&StreamError{Condition: "not-authorized", Text: "the account was deleted"})
		}
	}
	return nil
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
