package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var accountTests = []test{
	{"CreateAndRead", func(t *testing.T, e *env) {
		before := time.Now()
		// Given out of order: Account returns them ordered by mechanism.
		creds := []storage.ScramCredential{cred(sha256, 1), cred(sha1, 2)}
		if err := e.store.CreateAccount(e.ctx, "alice", creds, nil, nil); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		after := time.Now()
		a, err := e.store.Account(e.ctx, "alice")
		if err != nil {
			t.Fatalf("Account: %v", err)
		}
		if a.Username != "alice" {
			t.Errorf("Username = %q, want alice", a.Username)
		}
		wantTime(t, "Created", a.Created, before, after)
		wantCreds(t, "Account(alice)", a.Credentials, []storage.ScramCredential{cred(sha1, 2), cred(sha256, 1)})
	}},

	{"CreateExistingGivesErrExists", func(t *testing.T, e *env) {
		e.createAccount("alice")
		err := e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 9)}, nil, nil)
		wantErrorIs(t, "CreateAccount(alice) again", err, storage.ErrExists)
		c, err := e.store.ScramCredential(e.ctx, "alice", sha256)
		if err != nil {
			t.Fatalf("ScramCredential: %v", err)
		}
		if !sameCred(c, cred(sha256, 1)) {
			t.Errorf("failed CreateAccount changed the credential to %+v", c)
		}
	}},

	{"CreateWithoutCredentials", func(t *testing.T, e *env) {
		if err := e.store.CreateAccount(e.ctx, "bot", nil, nil, nil); err != nil {
			t.Fatalf("CreateAccount(bot, nil): %v", err)
		}
		a, err := e.store.Account(e.ctx, "bot")
		if err != nil {
			t.Fatalf("Account: %v", err)
		}
		if len(a.Credentials) != 0 {
			t.Errorf("Credentials = %+v, want none", a.Credentials)
		}
		_, err = e.store.ScramCredential(e.ctx, "bot", sha256)
		wantErrorIs(t, "ScramCredential(bot)", err, storage.ErrNotFound)
	}},

	{"CreateRejectsInvalidInput", func(t *testing.T, e *env) {
		err := e.store.CreateAccount(e.ctx, "", nil, nil, nil)
		wantInvalid(t, `CreateAccount("")`, err)
		err = e.store.CreateAccount(e.ctx, longString('a', storage.MaxUsernameLength+1), nil, nil, nil)
		wantInvalid(t, "CreateAccount(too long)", err)
		err = e.store.CreateAccount(e.ctx, "bad\xffutf8", nil, nil, nil)
		wantInvalid(t, "CreateAccount(invalid UTF-8)", err)

		// The account must not be half created.
		err = e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 1), cred(sha256, 2)}, nil, nil)
		wantInvalid(t, "CreateAccount with the same mechanism twice", err)
		_, err = e.store.Account(e.ctx, "alice")
		wantErrorIs(t, "Account after failed CreateAccount", err, storage.ErrNotFound)

		bad := cred(sha1, 1)
		bad.Iterations = 0
		wantInvalid(t, "CreateAccount with 0 iterations", e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{bad}, nil, nil))
		names, err := e.store.ListAccounts(e.ctx)
		if err != nil || len(names) != 0 {
			t.Fatalf("ListAccounts = %q, %v; want none", names, err)
		}
	}},

	{"LongestUsername", func(t *testing.T, e *env) {
		// 255 four-byte characters: 1020 bytes in a utf8mb4 key.
		name := longString('🦊', storage.MaxUsernameLength)
		e.createAccount(name)
		e.putRosterItem(storage.RosterItem{Owner: name, JID: longString('🐻', storage.MaxJIDLength), Subscription: "both"})
		a, err := e.store.Account(e.ctx, name)
		if err != nil || a.Username != name {
			t.Fatalf("Account = %q, %v", a.Username, err)
		}
	}},

	{"UsernamesAreByteExact", func(t *testing.T, e *env) {
		// Callers normalise; storage must not fold case or Unicode forms
		// behind their back (MySQL's default collations would).
		names := []string{"alice", "Alice", "ALICE", "zoë", "zoe\u0308", "strasse", "straße"}
		for _, n := range names {
			e.createAccount(n)
		}
		got, err := e.store.ListAccounts(e.ctx)
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		if want := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
			t.Fatalf("ListAccounts = %q, want %q", got, want)
		}
		_, err = e.store.Account(e.ctx, "ZOË")
		wantErrorIs(t, "Account(ZOË)", err, storage.ErrNotFound)
	}},

	{"AccountUnknownGivesErrNotFound", func(t *testing.T, e *env) {
		e.createAccount("alice")
		// Names that could never have been stored are simply not found.
		for _, name := range []string{"nobody", "", "bad\xffutf8", longString('a', storage.MaxUsernameLength+1)} {
			_, err := e.store.Account(e.ctx, name)
			wantErrorIs(t, fmt.Sprintf("Account(%.20q)", name), err, storage.ErrNotFound)
			_, err = e.store.ScramCredential(e.ctx, name, sha256)
			wantErrorIs(t, fmt.Sprintf("ScramCredential(%.20q)", name), err, storage.ErrNotFound)
			_, err = e.store.RosterItem(e.ctx, "alice", name)
			wantErrorIs(t, fmt.Sprintf("RosterItem(alice, %.20q)", name), err, storage.ErrNotFound)
		}
	}},

	{"SetCredentialsReplacesAll", func(t *testing.T, e *env) {
		if err := e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{cred(sha1, 1), cred(sha256, 2)}, nil, nil); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		if err := e.store.SetCredentials(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 7)}, nil, nil); err != nil {
			t.Fatalf("SetCredentials: %v", err)
		}
		a, err := e.store.Account(e.ctx, "alice")
		if err != nil {
			t.Fatalf("Account: %v", err)
		}
		wantCreds(t, "after SetCredentials", a.Credentials, []storage.ScramCredential{cred(sha256, 7)})
		_, err = e.store.ScramCredential(e.ctx, "alice", sha1)
		wantErrorIs(t, "ScramCredential(alice, SHA-1) after SetCredentials", err, storage.ErrNotFound)

		if err := e.store.SetCredentials(e.ctx, "alice", nil, nil, nil); err != nil {
			t.Fatalf("SetCredentials(nil): %v", err)
		}
		if a, _ = e.store.Account(e.ctx, "alice"); len(a.Credentials) != 0 {
			t.Errorf("Credentials after SetCredentials(nil) = %+v", a.Credentials)
		}
	}},

	{"SetCredentialsErrors", func(t *testing.T, e *env) {
		err := e.store.SetCredentials(e.ctx, "nobody", []storage.ScramCredential{cred(sha256, 1)}, nil, nil)
		wantErrorIs(t, "SetCredentials(nobody)", err, storage.ErrNotFound)

		e.createAccount("alice")
		err = e.store.SetCredentials(e.ctx, "alice", []storage.ScramCredential{cred(sha1, 5), cred(sha1, 6)}, nil, nil)
		wantInvalid(t, "SetCredentials with the same mechanism twice", err)
		c, err := e.store.ScramCredential(e.ctx, "alice", sha256)
		if err != nil || !sameCred(c, cred(sha256, 1)) {
			t.Fatalf("failed SetCredentials changed the credentials: %+v, %v", c, err)
		}
	}},

	{"ScramCredential", func(t *testing.T, e *env) {
		if err := e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{cred(sha1, 3), cred(sha256, 4)}, nil, nil); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		for _, want := range []storage.ScramCredential{cred(sha1, 3), cred(sha256, 4)} {
			got, err := e.store.ScramCredential(e.ctx, "alice", want.Mechanism)
			if err != nil {
				t.Fatalf("ScramCredential(alice, %s): %v", want.Mechanism, err)
			}
			if !sameCred(got, want) {
				t.Errorf("ScramCredential(alice, %s) = %+v, want %+v", want.Mechanism, got, want)
			}
		}
		for _, c := range []struct{ user, mech string }{
			{"nobody", sha256},
			{"alice", "SCRAM-SHA-512"},
			{"alice", "scram-sha-256"},
		} {
			_, err := e.store.ScramCredential(e.ctx, c.user, c.mech)
			wantErrorIs(t, "ScramCredential("+c.user+", "+c.mech+")", err, storage.ErrNotFound)
		}
	}},

	{"ListAccountsInByteOrder", func(t *testing.T, e *env) {
		names, err := e.store.ListAccounts(e.ctx)
		if err != nil || len(names) != 0 {
			t.Fatalf("ListAccounts on an empty store = %q, %v", names, err)
		}
		want := []string{"zoë", "bob", "用户", "alice", "émile", "🦊fox", "alice2", "Zed"}
		for _, n := range want {
			e.createAccount(n)
		}
		slices.Sort(want) // byte order, which for UTF-8 is code point order
		got, err := e.store.ListAccounts(e.ctx)
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ListAccounts = %q, want %q", got, want)
		}
	}},

	{"DeleteAccountCascades", func(t *testing.T, e *env) {
		err := e.store.DeleteAccount(e.ctx, "nobody", nil)
		wantErrorIs(t, "DeleteAccount(nobody)", err, storage.ErrNotFound)

		for _, u := range []string{"alice", "bob"} {
			e.createAccount(u)
			e.putRosterItem(storage.RosterItem{Owner: u, JID: "carol@example.org", Subscription: "both", Groups: []string{"Friends"}})
			e.putRosterItem(storage.RosterItem{Owner: u, JID: "dave@example.org", Subscription: "to"})
			e.addPending(storage.PendingSubscription{
				Owner: u, From: "eve@example.org", Stanza: []byte(`<presence type="subscribe"/>`),
			})
			e.storeOffline(u, "carol@example.org/phone", "<message>hi</message>")
		}

		if err := e.store.DeleteAccount(e.ctx, "alice", nil); err != nil {
			t.Fatalf("DeleteAccount(alice): %v", err)
		}
		_, err = e.store.Account(e.ctx, "alice")
		wantErrorIs(t, "Account(alice) after delete", err, storage.ErrNotFound)
		_, err = e.store.ScramCredential(e.ctx, "alice", sha256)
		wantErrorIs(t, "ScramCredential(alice) after delete", err, storage.ErrNotFound)
		_, err = e.store.RosterItem(e.ctx, "alice", "carol@example.org")
		wantErrorIs(t, "RosterItem(alice) after delete", err, storage.ErrNotFound)
		err = e.store.DeleteAccount(e.ctx, "alice", nil)
		wantErrorIs(t, "DeleteAccount(alice) twice", err, storage.ErrNotFound)

		// Re-created, alice starts from nothing: the roster version too.
		e.createAccount("alice")
		if items, v := e.roster("alice"); len(items) != 0 || v != 0 {
			t.Errorf("re-created alice has roster %+v version %d, want empty at 0", items, v)
		}
		if ps := e.pending("alice"); len(ps) != 0 {
			t.Errorf("re-created alice has pending subscriptions %+v", ps)
		}
		if msgs := e.offline("alice"); len(msgs) != 0 {
			t.Errorf("re-created alice has offline messages %+v", msgs)
		}

		// bob is untouched.
		if items, v := e.roster("bob"); len(items) != 2 || v != 2 {
			t.Errorf("bob's roster = %+v version %d, want 2 items at version 2", items, v)
		}
		if len(e.pending("bob")) != 1 || len(e.offline("bob")) != 1 {
			t.Errorf("deleting alice changed bob's pending subscriptions or offline messages")
		}
		if _, err := e.store.ScramCredential(e.ctx, "bob", sha256); err != nil {
			t.Errorf("ScramCredential(bob): %v", err)
		}
	}},

	{"DigestCredentialsCreateReadReplace", func(t *testing.T, e *env) {
		// Given out of order: Account returns them by realm, then algorithm.
		given := []storage.DigestCredential{digestCred("example.org", "SHA-256", 1), digestCred("example.org", "MD5", 2), digestCred("a.example", "MD5", 3)}
		if err := e.store.CreateAccount(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 1)}, given, nil); err != nil {
			t.Fatalf("CreateAccount with digest credentials: %v", err)
		}
		a, err := e.store.Account(e.ctx, "alice")
		if err != nil {
			t.Fatalf("Account: %v", err)
		}
		want := []storage.DigestCredential{given[2], given[1], given[0]}
		if !slices.Equal(a.Digest, want) {
			t.Fatalf("Account(alice).Digest = %+v, want %+v", a.Digest, want)
		}
		wantCreds(t, "Account(alice)", a.Credentials, []storage.ScramCredential{cred(sha256, 1)})
		for _, w := range given {
			got, err := e.store.DigestCredential(e.ctx, "alice", w.Realm, w.Algorithm)
			if err != nil || got != w {
				t.Errorf("DigestCredential(alice, %s, %s) = %+v, %v; want %+v", w.Realm, w.Algorithm, got, err, w)
			}
		}
		for _, c := range []struct{ user, realm, alg string }{
			{"nobody", "example.org", "MD5"},
			{"alice", "example.com", "MD5"},
			{"alice", "example.org", "SHA-512-256"},
			{"alice", "example.org", "md5"},
			{"bad\xffutf8", "example.org", "MD5"},
		} {
			_, err := e.store.DigestCredential(e.ctx, c.user, c.realm, c.alg)
			wantErrorIs(t, fmt.Sprintf("DigestCredential(%.20q, %s, %s)", c.user, c.realm, c.alg), err, storage.ErrNotFound)
		}

		// A password change replaces the digest credentials with the SCRAM
		// ones: a HA1 of the old password must not survive it.
		if err := e.store.SetCredentials(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 7)}, []storage.DigestCredential{digestCred("example.org", "MD5", 9)}, nil); err != nil {
			t.Fatalf("SetCredentials: %v", err)
		}
		if a, err = e.store.Account(e.ctx, "alice"); err != nil || !slices.Equal(a.Digest, []storage.DigestCredential{digestCred("example.org", "MD5", 9)}) {
			t.Fatalf("Digest after SetCredentials = %+v, %v", a.Digest, err)
		}
		_, err = e.store.DigestCredential(e.ctx, "alice", "example.org", "SHA-256")
		wantErrorIs(t, "old SHA-256 digest credential after SetCredentials", err, storage.ErrNotFound)
		if err := e.store.SetCredentials(e.ctx, "alice", []storage.ScramCredential{cred(sha256, 8)}, nil, nil); err != nil {
			t.Fatalf("SetCredentials without digest: %v", err)
		}
		if a, _ = e.store.Account(e.ctx, "alice"); len(a.Digest) != 0 {
			t.Errorf("SetCredentials without digest credentials kept %+v", a.Digest)
		}
	}},

	{"DigestCredentialsRejectInvalidInput", func(t *testing.T, e *env) {
		bad := []struct {
			what string
			d    storage.DigestCredential
		}{
			{"empty realm", storage.DigestCredential{Realm: "", Algorithm: "MD5", HA1: "00"}},
			{"empty algorithm", storage.DigestCredential{Realm: "example.org", HA1: "00"}},
			{"empty HA1", storage.DigestCredential{Realm: "example.org", Algorithm: "MD5"}},
			{"uppercase HA1", storage.DigestCredential{Realm: "example.org", Algorithm: "MD5", HA1: "AB"}},
			{"long realm", storage.DigestCredential{Realm: longString('r', 256), Algorithm: "MD5", HA1: "00"}},
		}
		for _, b := range bad {
			wantInvalid(t, "CreateAccount with "+b.what, e.store.CreateAccount(e.ctx, "alice", nil, []storage.DigestCredential{b.d}, nil))
		}
		twice := []storage.DigestCredential{digestCred("example.org", "MD5", 1), digestCred("example.org", "MD5", 2)}
		wantInvalid(t, "CreateAccount with the same realm and algorithm twice", e.store.CreateAccount(e.ctx, "alice", nil, twice, nil))
		_, err := e.store.Account(e.ctx, "alice")
		wantErrorIs(t, "Account after failed CreateAccount", err, storage.ErrNotFound)

		e.createAccount("alice")
		if err := e.store.SetCredentials(e.ctx, "alice", nil, []storage.DigestCredential{digestCred("example.org", "MD5", 1)}, nil); err != nil {
			t.Fatalf("SetCredentials: %v", err)
		}
		wantInvalid(t, "SetCredentials with the same realm and algorithm twice", e.store.SetCredentials(e.ctx, "alice", nil, twice, nil))
		if got, err := e.store.DigestCredential(e.ctx, "alice", "example.org", "MD5"); err != nil || got != digestCred("example.org", "MD5", 1) {
			t.Fatalf("failed SetCredentials changed the digest credential: %+v, %v", got, err)
		}
		err = e.store.SetCredentials(e.ctx, "nobody", nil, []storage.DigestCredential{digestCred("example.org", "MD5", 1)}, nil)
		wantErrorIs(t, "SetCredentials(nobody)", err, storage.ErrNotFound)
	}},

	{"DeleteAccountRemovesDigestCredentials", func(t *testing.T, e *env) {
		if err := e.store.CreateAccount(e.ctx, "alice", nil, []storage.DigestCredential{digestCred("example.org", "MD5", 1)}, nil); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		if err := e.store.DeleteAccount(e.ctx, "alice", nil); err != nil {
			t.Fatalf("DeleteAccount: %v", err)
		}
		e.createAccount("alice")
		_, err := e.store.DigestCredential(e.ctx, "alice", "example.org", "MD5")
		wantErrorIs(t, "DigestCredential of a re-created account", err, storage.ErrNotFound)
	}},

	{"EventsOnlyWithTheirChange", func(t *testing.T, e *env) {
		// An event given with an account change is in the outbox exactly
		// when the change committed (DESIGN §6): a refused change writes
		// none, and a change whose event cannot be written is not made.
		e.createAccount("alice")
		taken := event("account.add", "")
		if err := e.store.AppendOutbox(e.ctx, taken); err != nil {
			t.Fatal(err)
		}
		dup := func(typ string) *storage.OutboxEvent {
			ev := event(typ, "")
			ev.EventID = taken.EventID
			return &ev
		}
		fail := func(typ string) *storage.OutboxEvent { ev := event(typ, ""); return &ev }
		invalid := &storage.OutboxEvent{Type: "account.add"} // no event id
		one := []storage.DigestCredential{digestCred("example.org", "MD5", 1)}
		failures := []struct {
			what   string
			err    error
			target error // nil: refused as invalid input
		}{
			{"CreateAccount of a taken username", e.store.CreateAccount(e.ctx, "alice", nil, nil, fail("account.add")), storage.ErrExists},
			{"CreateAccount with two credentials of a mechanism",
				e.store.CreateAccount(e.ctx, "bob", []storage.ScramCredential{cred(sha256, 1), cred(sha256, 2)}, nil, fail("account.add")), nil},
			{"CreateAccount with an invalid event", e.store.CreateAccount(e.ctx, "bob", nil, nil, invalid), nil},
			{"CreateAccount with an event id used before", e.store.CreateAccount(e.ctx, "bob", nil, one, dup("account.add")), storage.ErrExists},
			{"SetCredentials of an unknown user", e.store.SetCredentials(e.ctx, "nobody", nil, nil, fail("account.password")), storage.ErrNotFound},
			{"SetCredentials with an invalid event", e.store.SetCredentials(e.ctx, "alice", nil, nil, invalid), nil},
			{"SetCredentials with an event id used before", e.store.SetCredentials(e.ctx, "alice", nil, nil, dup("account.disable")), storage.ErrExists},
			{"DeleteAccount of an unknown user", e.store.DeleteAccount(e.ctx, "nobody", fail("account.delete")), storage.ErrNotFound},
			{"DeleteAccount with an invalid event", e.store.DeleteAccount(e.ctx, "alice", invalid), nil},
			{"DeleteAccount with an event id used before", e.store.DeleteAccount(e.ctx, "alice", dup("account.delete")), storage.ErrExists},
		}
		for _, f := range failures {
			if f.target == nil {
				wantInvalid(t, f.what, f.err)
			} else if !errors.Is(f.err, f.target) {
				t.Errorf("%s: got error %v, want one wrapping %q", f.what, f.err, f.target)
			}
		}
		if evs := e.outbox(); len(evs) != 1 || evs[0].EventID != taken.EventID {
			t.Fatalf("failed account changes wrote events: %+v", evs)
		}
		_, err := e.store.Account(e.ctx, "bob")
		wantErrorIs(t, "Account(bob) after failed creations", err, storage.ErrNotFound)
		a, err := e.store.Account(e.ctx, "alice")
		if err != nil {
			t.Fatalf("alice after failed changes: %v", err)
		}
		wantCreds(t, "alice after failed changes", a.Credentials, []storage.ScramCredential{cred(sha256, 1)})

		start := 1
		successes := []struct {
			ev *storage.OutboxEvent
			do func(ev *storage.OutboxEvent) error
		}{
			{fail("account.add"), func(ev *storage.OutboxEvent) error {
				return e.store.CreateAccount(e.ctx, "bob", []storage.ScramCredential{cred(sha1, 3)}, one, ev)
			}},
			{fail("account.password"), func(ev *storage.OutboxEvent) error {
				return e.store.SetCredentials(e.ctx, "bob", []storage.ScramCredential{cred(sha256, 4)}, nil, ev)
			}},
			{fail("account.disable"), func(ev *storage.OutboxEvent) error { return e.store.SetCredentials(e.ctx, "bob", nil, nil, ev) }},
			{fail("account.delete"), func(ev *storage.OutboxEvent) error { return e.store.DeleteAccount(e.ctx, "alice", ev) }},
			{nil, func(*storage.OutboxEvent) error { return e.store.CreateAccount(e.ctx, "carol", nil, nil, nil) }},
			{nil, func(*storage.OutboxEvent) error { return e.store.SetCredentials(e.ctx, "carol", nil, one, nil) }},
			{nil, func(*storage.OutboxEvent) error { return e.store.DeleteAccount(e.ctx, "carol", nil) }},
		}
		for i, s := range successes {
			if err := s.do(s.ev); err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
			evs := e.outbox()
			switch {
			case s.ev == nil && len(evs) != start:
				t.Fatalf("change %d without an event wrote %+v", i, evs[start:])
			case s.ev != nil && (len(evs) != start+1 || !sameEvent(evs[start], *s.ev)):
				t.Fatalf("after %s the outbox ends in %+v, want exactly %+v", s.ev.Type, evs[start:], *s.ev)
			case s.ev != nil:
				start++
			}
		}
		e.reopen()
		wantStrings(t, "outbox after reopening", e.outboxTypes(),
			[]string{"account.add", "account.add", "account.password", "account.disable", "account.delete"})
		a, err = e.store.Account(e.ctx, "bob")
		if err != nil || len(a.Credentials) != 0 || len(a.Digest) != 0 {
			t.Errorf("bob after his changes: %+v, %v; want an account without credentials", a, err)
		}
		_, err = e.store.Account(e.ctx, "alice")
		wantErrorIs(t, "Account(alice) after its deletion", err, storage.ErrNotFound)
	}},
}

// digestCred returns a made-up but well-formed digest credential; seed
// makes credentials tell apart.
func digestCred(realm, algorithm string, seed byte) storage.DigestCredential {
	n := 32
	if algorithm == "SHA-256" {
		n = 64
	}
	return storage.DigestCredential{Realm: realm, Algorithm: algorithm, HA1: strings.Repeat(fmt.Sprintf("%x", seed%16), n)}
}
