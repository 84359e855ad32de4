package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
	"github.com/parleychat/parley/storage/backend"
)

// ldapFlags are the global flags that point parleyctl at srv.
func ldapFlags(srv *slapdtest.Server) []string {
	return []string{"--auth", "ldap", "--ldap-url", srv.URL, "--ldap-ca", srv.CAFile,
		"--ldap-bind-dn", slapdtest.ReaderDN, "--ldap-bind-password", slapdtest.ReaderPassword,
		"--ldap-user-base", slapdtest.Users, "--ldap-group-base", slapdtest.Groups}
}

// parleyctl with the --ldap-* flags resolves directory groups: ldap check
// shows a user's groups (nested ones too), policy lists take group:NAME
// and group:DN (a DN whole, commas and all), and the engine's wall applies
// to a group's members when parleyctl adds them to a room.
func TestLDAPGroupsInPolicy(t *testing.T) {
	srv := slapdtest.StartTree(t, slapdtest.Tree{
		Users: []slapdtest.User{{UID: "alice", Password: "a"}, {UID: "bob", Password: "b"}},
		Groups: []slapdtest.Group{
			{CN: "research", Members: []string{"alice"}},
			{CN: "traders", Members: []string{"bob"}},
			{CN: "desk", Subgroups: []string{"traders"}},
		},
	})
	r := newRunner(t)
	flags := ldapFlags(srv)
	ctl := func(want int, args ...string) result { t.Helper(); return r.must(want, "", append(flags, args...)...) }

	out := ctl(exitOK, "ldap", "check", "bob").stdout
	for _, want := range []string{"uid=bob,ou=people,dc=example,dc=org", "group:traders  cn=traders,ou=groups,dc=example,dc=org", "group:desk  cn=desk,ou=groups,dc=example,dc=org"} {
		if !strings.Contains(out, want) {
			t.Errorf("ldap check bob: no %q in\n%s", want, out)
		}
	}
	if res := ctl(exitFailure, "ldap", "check", "*"); !strings.Contains(res.stderr, "no directory user") {
		t.Errorf("ldap check *: %s", res.stderr)
	}
	r.must(exitFailure, "", "ldap", "check", "bob") // no directory given
	if res := r.must(exitFailure, "", "category", "add", "x", "--deny", "group:traders"); !strings.Contains(res.stderr, "--auth ldap") {
		t.Errorf("a group without the directory settings: %s", res.stderr)
	}

	deskDN := "cn=desk,ou=groups,dc=example,dc=org"
	ctl(exitOK, "category", "add", "wall", "--allow", "group:research", "--allow", "bob", "--deny", "group:"+deskDN)
	out = ctl(exitOK, "category", "show", "wall").stdout
	if !strings.Contains(out, "group:"+deskDN) || !strings.Contains(out, "group:research, bob@localhost") {
		t.Errorf("category show wall:\n%s", out)
	}
	ctl(exitOK, "room", "create", "lab", "--category", "wall", "--members", "alice")
	// bob is allowed by name, and denied as a member of desk (through
	// traders): the wall wins.
	if res := ctl(exitFailure, "room", "members", "add", "lab", "bob"); !strings.Contains(res.stderr, "ethical wall") {
		t.Errorf("adding bob (in desk) to a room of wall: %s", res.stderr)
	}
	// A room's members may be a group.
	ctl(exitOK, "room", "members", "add", "lab", "group:research")
	if out := ctl(exitOK, "room", "members", "list", "lab").stdout; !strings.Contains(out, "group:research") {
		t.Errorf("room members list lab: %s", out)
	}
	if res := ctl(exitFailure, "category", "add", "typo", "--deny", "group:tradrs"); !strings.Contains(res.stderr, "no such group") {
		t.Errorf("a misspelt group: %s", res.stderr)
	}
	if res := ctl(exitFailure, "category", "add", "bad", "--deny", "group:cn=x,,"); !strings.Contains(res.stderr, "invalid group DN") {
		t.Errorf("a bad group DN: %s", res.stderr)
	}
}

// user sip-password sets a directory user's SIP digest password (their
// directory password cannot serve SIP digest), creating the account; for
// an account with XMPP credentials it keeps them.
func TestUserSIPPassword(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"})
	r := newRunner(t)
	flags := ldapFlags(srv)
	r.must(exitOK, "", append(flags, "user", "sip-password", "alice", "--password", "sip-secret")...)
	r.must(exitFailure, "", append(flags, "user", "sip-password", "mallory", "--password", "x")...) // not in the directory
	r.must(exitOK, "", "user", "add", "carol", "--password", "xmpp-pw")
	r.must(exitOK, "sip-pw\n", "user", "sip-password", "carol")
	if !r.checkPassword("carol", "xmpp-pw") {
		t.Error("carol's XMPP password changed with her SIP password")
	}

	ctx := context.Background()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(r.data, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for user, pw := range map[string]string{"alice": "sip-secret", "carol": "sip-pw"} {
		want, err := auth.DeriveDigestCredentials(user, "localhost", pw)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			got, err := store.DigestCredential(ctx, user, "localhost", w.Algorithm)
			if err != nil || got.HA1 != w.HA1 {
				t.Errorf("%s's %s digest credential: %+v, %v; want HA1 %s", user, w.Algorithm, got, err, w.HA1)
			}
		}
	}
	if acct, err := store.Account(ctx, "alice"); err != nil || len(acct.Credentials) != 0 {
		t.Errorf("alice's account: %+v, %v; want one with no SCRAM credentials", acct, err)
	}
}
