package xmpp

import (
	"context"
)

// In-band registration (XEP-0077). A logged-in user may always change
// their password (§3.3) and ask what they are registered as (§3.1); with
// Config.AllowRegistration anyone may create an account on a secured
// stream before authenticating (§3.1, the iq-register stream feature §4)
// and a user may cancel their own registration (§3.2). One account per
// stream; the stream's other limits (unauthenticated streams per address,
// the time to authenticate) bound the rest. With a password Verifier (an
// LDAP directory) passwords are the directory's: a change is refused and
// registration cannot be opened.

const (
	nsRegister        = "jabber:iq:register"
	nsRegisterFeature = "http://jabber.org/features/iq-register"
)

func (s *Server) registerInBand() {
	for _, at := range []addressee{toServer, toAccount} {
		s.mux.iq(at, "get", nsRegister, "query", s.registrationInfo, advertise(nsRegister), localOnly)
		// A stanza handler: removal answers before the session ends.
		s.mux.stanza(at, "iq", "set", nsRegister, "query", s.registrationChange, advertise(nsRegister), localOnly)
	}
}

// ownAccount refuses a registration request about another account.
func ownAccount(r *request) error {
	if r.at == toAccount && r.to.String() != r.from.bareJID() {
		return errForbidden("only your own registration")
	}
	return nil
}

// registrationInfo answers §3.1 for a registered user.
func (s *Server) registrationInfo(_ context.Context, r *request) (*Element, error) {
	if err := ownAccount(r); err != nil {
		return nil, err
	}
	q := NewElement(nsRegister, "query")
	q.Append(NewElement(nsRegister, "registered"))
	q.Append(NewElement(nsRegister, "username").AppendText(r.from.fullJID().Localpart()))
	q.Append(NewElement(nsRegister, "password"))
	return q, nil
}

// registrationChange changes the user's password (§3.3) or, when
// registration is open, removes the account (§3.2): the result goes out
// before the account's sessions end.
func (s *Server) registrationChange(ctx context.Context, r *request) error {
	if err := ownAccount(r); err != nil {
		return err
	}
	user := r.from.fullJID().Localpart()
	result := NewElement(nsClient, "iq", "type", "result", "id", r.el.AttrValue("id"))
	if r.payload.Child(nsRegister, "remove") != nil {
		if !s.cfg.AllowRegistration {
			return errNotAllowed("accounts are removed by the server's administrators here")
		}
		r.reply(result)
		if err := s.deleteAccount(ctx, user, nil); err != nil {
			s.log.Error("removing an account in band", "user", user, "err", err)
		}
		return nil
	}
	name, pw := r.payload.Child(nsRegister, "username"), r.payload.Child(nsRegister, "password")
	if name == nil || pw == nil {
		return errBadRequest("give username and password")
	}
	if u, err := s.localUsername(name.Text()); err != nil || u != user {
		return errNotAuthorized("you may change only your own password")
	}
	if s.cfg.Verifier != nil {
		return errNotAllowed("passwords are checked by the directory here: change yours there")
	}
	if err := s.setPassword(ctx, user, pw.Text(), false, nil); err != nil {
		return err
	}
	r.reply(result)
	return nil
}

func errNotAuthorized(text string) *StanzaError {
	return &StanzaError{Type: "auth", Condition: "not-authorized", Text: text}
}

// registerFeature is the §4 stream feature, offered on a secured stream
// before authentication when registration is open.
func (c *conn) registerFeature() *Element {
	if !c.srv.cfg.AllowRegistration || !c.secure || c.username != "" || c.registered {
		return nil
	}
	return NewElement(nsRegisterFeature, "register")
}

// preAuthRegistration answers a registration IQ before authentication
// (§3.1): the fields on get, a new account on set. It reports false for
// any other stanza, which the caller refuses as before.
func (c *conn) preAuthRegistration(ctx context.Context, iq *Element) (bool, error) {
	q := firstChild(iq)
	if !c.srv.cfg.AllowRegistration || !c.secure || q == nil || q.Name.Space != nsRegister || q.Name.Local != "query" {
		return false, nil
	}
	id := iq.AttrValue("id")
	reply := func(payload *Element, serr *StanzaError) error {
		if serr != nil {
			return c.write(errorReply(iq, serr, "").Bytes())
		}
		out := NewElement(nsClient, "iq", "type", "result", "id", id)
		if payload != nil {
			out.Append(payload)
		}
		return c.write(out.Bytes())
	}
	switch iq.AttrValue("type") {
	case "get":
		f := NewElement(nsRegister, "query")
		f.Append(NewElement(nsRegister, "instructions").AppendText("Choose a username and a password."))
		f.Append(NewElement(nsRegister, "username"), NewElement(nsRegister, "password"))
		return true, reply(f, nil)
	case "set":
	default:
		return true, reply(nil, errBadRequest("get or set"))
	}
	if c.registered {
		return true, reply(nil, errNotAllowed("one account per stream"))
	}
	name, pw := q.Child(nsRegister, "username"), q.Child(nsRegister, "password")
	if name == nil || pw == nil || name.Text() == "" {
		return true, reply(nil, errNotAcceptable("give username and password"))
	}
	user, err := c.srv.localUsername(name.Text())
	if err != nil {
		return true, reply(nil, c.srv.asStanzaError(err))
	}
	if err := c.srv.setPassword(ctx, user, pw.Text(), true, nil); err != nil {
		return true, reply(nil, c.srv.asStanzaError(err))
	}
	c.registered = true
	c.logger().Info("account registered in band", "user", user)
	return true, reply(nil, nil)
}

// asStanzaError is err as a stanza error: itself, or internal (logged).
func (s *Server) asStanzaError(err error) *StanzaError {
	if serr, ok := err.(*StanzaError); ok {
		return serr
	}
	s.log.Error("registration failed", "err", err)
	return errInternal("")
}
