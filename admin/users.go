package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// User is a local account. Disabled: it has no stored credentials, so
// nobody can log in as it until its password is set again.
type User struct {
	Name     string `json:"name"`
	JID      string `json:"jid"`
	Disabled bool   `json:"disabled"`
}

// Session is one client on the node: an XMPP session (JID the full JID;
// Available, it sent available presence; Detached, its connection is gone
// and it may resume) or a SIP registration (JID the user's bare JID,
// Contact the registered contact URI).
type Session struct {
	Kind      string `json:"kind"` // "xmpp" or "sip"
	JID       string `json:"jid"`
	Available bool   `json:"available,omitempty"`
	Detached  bool   `json:"detached,omitempty"`
	Contact   string `json:"contact,omitempty"`
}

// ErrUserExists and ErrNoUser are the account refusals.
var (
	ErrUserExists = errors.New("user already exists")
	ErrNoUser     = errors.New("no such user")
)

func accountError(err error) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return ErrUserExists
	case errors.Is(err, storage.ErrNotFound):
		return ErrNoUser
	}
	return err
}

func (b *bound) user(name string) User {
	return User{Name: name, JID: name + "@" + b.s.cfg.Domain}
}

// credentials derives what is stored for a password: SCRAM verifiers and
// the SIP digest HA1 for the realm, which is the domain (RFC 8760).
func (b *bound) credentials(name, password string) ([]storage.ScramCredential, []storage.DigestCredential, error) {
	if password == "" {
		return nil, nil, fieldError("password", errors.New("empty password"))
	}
	creds, err := auth.DeriveCredentials(name, password)
	if err != nil {
		return nil, nil, fieldError("password", err)
	}
	digest, err := auth.DeriveDigestCredentials(name, b.s.cfg.Domain, password)
	if err != nil {
		return nil, nil, fieldError("password", err)
	}
	return creds, digest, nil
}

// event is the compliance event of an account change, with the
// administrator as actor and the user as target. A change to the account
// is stored with its event, in one transaction (storage.Accounts).
func (b *bound) event(typ, user string, detail map[string]any) (*storage.OutboxEvent, error) {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["user"] = user
	payload, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("recording %s for compliance: %w", typ, err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &storage.OutboxEvent{EventID: base64.RawURLEncoding.EncodeToString(id), Type: typ,
		Actor: Recorded(b.actor), Time: b.s.cfg.Now().UTC(), Payload: payload}, nil
}

// record writes the compliance event of what changed nothing stored (a
// kick), after it happened.
func (b *bound) record(ctx context.Context, typ, user string, detail map[string]any) error {
	ev, err := b.event(typ, user, detail)
	if err != nil {
		return err
	}
	if err := b.s.cfg.Store.AppendOutbox(ctx, *ev); err != nil {
		return fmt.Errorf("recording %s for compliance: %w", typ, err)
	}
	return nil
}

// Recorded is the actor compliance records for actor: the administrator's
// JID for muc.AdminActor(JID), else actor itself.
func Recorded(actor string) string {
	if j, ok := strings.CutPrefix(actor, muc.AdminActor("")); ok {
		return j
	}
	return actor
}

// Username normalises a user given as a username or as a bare JID of the
// domain to the account's username (RFC 7622 §3.3).
func (s *Service) Username(v string) (string, error) {
	v = strings.TrimSpace(v)
	if local, domain, ok := strings.Cut(v, "@"); ok && strings.EqualFold(domain, s.cfg.Domain) {
		v = local
	}
	return auth.NormalizeUsername(v)
}

func (b *bound) username(v string) (string, error) {
	name, err := b.s.Username(v)
	return name, fieldError("user", err)
}

func (b *bound) AddUser(ctx context.Context, name, password string) (User, error) {
	name, err := b.username(name)
	if err != nil {
		return User{}, err
	}
	creds, digest, err := b.credentials(name, password)
	if err != nil {
		return User{}, err
	}
	ev, err := b.event("account.add", b.user(name).JID, nil)
	if err != nil {
		return User{}, err
	}
	if err := b.s.cfg.Store.CreateAccount(ctx, name, creds, digest, ev); err != nil {
		return User{}, accountError(err)
	}
	return b.user(name), nil
}

func (b *bound) Users(ctx context.Context) ([]User, error) {
	names, err := b.s.cfg.Store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(names))
	for _, n := range names {
		a, err := b.s.cfg.Store.Account(ctx, n)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		u := b.user(n)
		u.Disabled = err == nil && len(a.Credentials) == 0 && !b.s.cfg.ExternalAuth
		out = append(out, u)
	}
	return out, nil
}

// SetPassword replaces an account's credentials (enabling a disabled
// one). Sessions already logged in stay logged in.
func (b *bound) SetPassword(ctx context.Context, name, password string) (User, error) {
	if b.s.cfg.ExternalAuth {
		return User{}, errors.New("the directory (--auth ldap) holds the passwords: change it there")
	}
	name, err := b.username(name)
	if err != nil {
		return User{}, err
	}
	// Check first, so nobody types a password twice for an unknown user.
	if _, err := b.s.cfg.Store.Account(ctx, name); err != nil {
		return User{}, accountError(err)
	}
	creds, digest, err := b.credentials(name, password)
	if err != nil {
		return User{}, err
	}
	ev, err := b.event("account.password", b.user(name).JID, nil)
	if err != nil {
		return User{}, err
	}
	if err := b.s.cfg.Store.SetCredentials(ctx, name, creds, digest, ev); err != nil {
		return User{}, accountError(err)
	}
	return b.user(name), nil
}

// SetSIPPassword sets the SIP digest credentials (HA1 for the domain, RFC
// 8760) of an account and keeps its SCRAM credentials. With a directory
// (--auth ldap) the user must exist there, and an account is made for one
// who has not logged in yet. SIP digest needs H(user:realm:password)
// stored in advance, which a directory bind cannot give: this is a second
// password, for SIP only, that the directory does not manage.
func (b *bound) SetSIPPassword(ctx context.Context, name, password string) (User, error) {
	name, err := b.username(name)
	if err != nil {
		return User{}, err
	}
	if password == "" {
		return User{}, fieldError("password", errors.New("empty password"))
	}
	if d := b.s.cfg.DirectoryUsers; d != nil {
		// A typo would make an account nobody has.
		if err := d.UserExists(ctx, name); err != nil {
			return User{}, fmt.Errorf("checking %s in the directory: %w", name, err)
		}
	}
	acct, err := b.s.cfg.Store.Account(ctx, name)
	exists := err == nil
	if err != nil && !(errors.Is(err, storage.ErrNotFound) && b.s.cfg.ExternalAuth) {
		return User{}, accountError(err)
	}
	digest, err := auth.DeriveDigestCredentials(name, b.s.cfg.Domain, password)
	if err != nil {
		return User{}, fieldError("password", err)
	}
	ev, err := b.event("account.sip_password", b.user(name).JID, map[string]any{"created": !exists})
	if err != nil {
		return User{}, err
	}
	if exists {
		err = b.s.cfg.Store.SetCredentials(ctx, name, acct.Credentials, digest, ev)
	} else {
		err = b.s.cfg.Store.CreateAccount(ctx, name, nil, digest, ev)
	}
	if err != nil {
		return User{}, accountError(err)
	}
	return b.user(name), nil
}

// DisableUser removes an account's credentials (nothing is left to log
// in with, over XMPP or SIP) and ends its sessions on the node; its
// rooms, roster and history stay. SetPassword enables it again.
//
// account.disable is stored with the change. The sessions end after it
// committed (ended before, a client could log in again with the old
// credentials), so how many ended is recorded after that, as
// account.kick, when there were any.
func (b *bound) DisableUser(ctx context.Context, name string) (User, error) {
	if b.s.cfg.ExternalAuth {
		return User{}, errors.New("the directory (--auth ldap) holds the accounts: disable it there")
	}
	name, err := b.username(name)
	if err != nil {
		return User{}, err
	}
	u := b.user(name)
	u.Disabled = true
	ev, err := b.event("account.disable", u.JID, nil)
	if err != nil {
		return User{}, err
	}
	if err := b.s.cfg.Store.SetCredentials(ctx, name, nil, nil, ev); err != nil {
		return User{}, accountError(err)
	}
	if b.s.cfg.Node == nil {
		return u, nil
	}
	if kicked := b.s.cfg.Node.Kick(name); kicked > 0 {
		return u, b.record(ctx, "account.kick", u.JID, map[string]any{"sessions_ended": kicked, "disabled": true})
	}
	return u, nil
}

// DeleteUser removes an account with its roster and offline messages,
// and ends its sessions on the node.
func (b *bound) DeleteUser(ctx context.Context, name string) (User, error) {
	name, err := b.username(name)
	if err != nil {
		return User{}, err
	}
	ev, err := b.event("account.delete", b.user(name).JID, nil)
	if err != nil {
		return User{}, err
	}
	if err := b.s.cfg.Store.DeleteAccount(ctx, name, ev); err != nil {
		return User{}, accountError(err)
	}
	if b.s.cfg.Node != nil {
		b.s.cfg.Node.Kick(name)
	}
	return b.user(name), nil
}

func (b *bound) Sessions(context.Context) ([]Session, error) {
	if b.s.cfg.Node == nil {
		return nil, ErrNoNode
	}
	out := b.s.cfg.Node.Sessions()
	if out == nil {
		out = []Session{}
	}
	return out, nil
}

// Kick ends a user's sessions on the node; they may log in again (disable
// the account to keep them out).
func (b *bound) Kick(ctx context.Context, name string) (int, error) {
	if b.s.cfg.Node == nil {
		return 0, ErrNoNode
	}
	name, err := b.username(name)
	if err != nil {
		return 0, err
	}
	n := b.s.cfg.Node.Kick(name)
	return n, b.record(ctx, "account.kick", b.user(name).JID, map[string]any{"sessions_ended": n})
}

// Users turns a list of users (bare JIDs, usernames of the domain,
// @DOMAIN for every user of a domain, group:NAME or group:DN for a
// directory group) into the entries policy keeps, without repeats; "*"
// (everyone) is kept where everyone may be.
func (s *Service) Users(ctx context.Context, list []string, everyone bool) ([]string, error) {
	out := []string{}
	for _, u := range list {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if u == "*" {
			if !everyone {
				// Not *@DOMAIN, which is a valid JID.
				return nil, fmt.Errorf(`"*" (everyone) cannot be given here`)
			}
			out = append(out, u)
			continue
		}
		if ref, ok := strings.CutPrefix(u, muc.GroupPrefix); ok {
			if !s.cfg.Directory {
				return nil, fmt.Errorf("%s names a directory group: give --auth ldap and the --ldap-* settings parleyd uses", u)
			}
			g, err := groupEntry(ref)
			if err != nil {
				return nil, err
			}
			if s.cfg.Groups != nil {
				if err := s.cfg.Groups.GroupExists(ctx, strings.TrimPrefix(g, muc.GroupPrefix)); err != nil {
					return nil, err
				}
			}
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
			continue
		}
		j, err := s.UserJID(u)
		if domain, ok := strings.CutPrefix(u, "@"); ok {
			// Every user of a domain (another server's, federation).
			j, err = domainJID(domain)
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out, nil
}

// groupEntry checks a directory group given as group:NAME or group:DN
// and returns the policy entry for it.
func groupEntry(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", errors.New("group: needs a group's name or DN")
	}
	if strings.Contains(ref, "=") {
		dn, err := ldap.ParseDN(ref)
		if err != nil {
			return "", fmt.Errorf("invalid group DN %q: %w", ref, err)
		}
		ref = dn.String()
	}
	return muc.GroupPrefix + ref, nil
}

// domainJID normalises a domain given as @DOMAIN.
func domainJID(s string) (string, error) {
	j, err := identity.DomainJID(s)
	if err != nil {
		return "", fmt.Errorf("invalid domain %q: want @example.org", "@"+s)
	}
	return j, nil
}

// UserJID turns a user as given into the bare JID the engine keeps:
// alice@example.org as it is (normalised, RFC 7622), and a bare username
// as a user of the domain.
func (s *Service) UserJID(v string) (string, error) {
	given := v
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "@") {
		v += "@" + s.cfg.Domain
	}
	j, err := identity.BareJID(v)
	if err != nil {
		return "", fmt.Errorf("invalid user %q: want a bare JID (alice@example.org) or a username", given)
	}
	return j, nil
}
