package storagetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parleychat/parley/storage"
)

var storeTests = []test{
	{"Ping", func(t *testing.T, e *env) {
		if err := e.store.Ping(e.ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},

	{"DataSurvivesReopen", func(t *testing.T, e *env) {
		owner := "zoë🦊"
		if err := e.store.CreateAccount(e.ctx, owner, []storage.ScramCredential{cred(sha1, 1), cred(sha256, 2)}, nil, nil); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		items := []storage.RosterItem{
			{Owner: owner, JID: "bob@example.org", Name: "Bob 🐝", Subscription: "both", Groups: []string{"Friends", "Work"}},
			{Owner: owner, JID: "carol@example.org", Subscription: "to", Ask: true},
		}
		for _, it := range items {
			e.putRosterItem(it)
		}
		pending := storage.PendingSubscription{Owner: owner, From: "eve@example.org", Stanza: []byte(`<presence type="subscribe"><status>👋</status></presence>`)}
		e.addPending(pending)
		e.storeOffline(owner, "bob@example.org/phone", "<message><body>one</body></message>")
		e.storeOffline(owner, "bob@example.org/phone", "<message><body>two ✌</body></message>")
		last := e.storeOffline(owner, "bob@example.org/phone", "<message><body>three</body></message>")
		if err := e.store.DeleteOfflineThrough(e.ctx, owner, last-1); err != nil {
			t.Fatalf("DeleteOfflineThrough: %v", err)
		}
		account, err := e.store.Account(e.ctx, owner)
		if err != nil {
			t.Fatalf("Account: %v", err)
		}
		offline := e.offline(owner)

		e.reopen()

		got, err := e.store.Account(e.ctx, owner)
		if err != nil {
			t.Fatalf("Account after reopen: %v", err)
		}
		if !got.Created.Equal(account.Created) {
			t.Errorf("Created after reopen = %v, want %v", got.Created, account.Created)
		}
		wantCreds(t, "credentials after reopen", got.Credentials, account.Credentials)
		gotItems, v := e.roster(owner)
		wantRoster(t, gotItems, items)
		if v != 2 {
			t.Errorf("roster version after reopen = %d, want 2", v)
		}
		wantPending(t, e.pending(owner), []storage.PendingSubscription{pending})
		gotOffline := e.offline(owner)
		if len(gotOffline) != 1 || gotOffline[0].ID != offline[0].ID || !bytes.Equal(gotOffline[0].Stanza, offline[0].Stanza) ||
			!gotOffline[0].Stored.Equal(offline[0].Stored) {
			t.Errorf("offline messages after reopen = %+v, want %+v", gotOffline, offline)
		}

		// Counters carry on where they were.
		if v := e.putRosterItem(storage.RosterItem{Owner: owner, JID: "dave@example.org", Subscription: "none"}); v != 3 {
			t.Errorf("first roster change after reopen gave version %d, want 3", v)
		}
		if err := e.store.DeleteOfflineThrough(e.ctx, owner, last); err != nil {
			t.Fatalf("DeleteOfflineThrough: %v", err)
		}
		e.reopen()
		if id := e.storeOffline(owner, "bob@example.org/phone", "<message/>"); id <= last {
			t.Errorf("offline id after emptying the queue and reopening = %d, want > %d", id, last)
		}
		names, err := e.store.ListAccounts(e.ctx)
		if err != nil || !slices.Equal(names, []string{owner}) {
			t.Errorf("ListAccounts after reopen = %q, %v", names, err)
		}
	}},

	{"CanceledContext", func(t *testing.T, e *env) {
		e.createAccount("alice")
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		calls := map[string]error{
			"CreateAccount": e.store.CreateAccount(ctx, "bob", nil, nil, nil),
			"StoreOffline": func() error {
				_, err := e.store.StoreOffline(ctx, storage.OfflineMessage{Owner: "alice", From: "x@example.org/y", Stanza: []byte("<message/>")}, 0)
				return err
			}(),
			"UpdateRoster": func() error {
				_, err := e.store.UpdateRoster(ctx, "alice", "x@example.org", func(st *storage.RosterState) error {
					st.OnRoster = true
					return nil
				})
				return err
			}(),
			"Account": func() error {
				_, err := e.store.Account(ctx, "alice")
				return err
			}(),
			"Roster": func() error {
				_, _, err := e.store.Roster(ctx, "alice")
				return err
			}(),
		}
		for call, err := range calls {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context: %v, want an error wrapping context.Canceled", call, err)
			}
		}
		// Nothing happened.
		if _, err := e.store.Account(e.ctx, "bob"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Account(bob) after a canceled CreateAccount: %v", err)
		}
		if items, v := e.roster("alice"); len(items) != 0 || v != 0 {
			t.Errorf("roster after a canceled UpdateRoster: %+v version %d", items, v)
		}
		if n := len(e.offline("alice")); n != 0 {
			t.Errorf("%d offline messages after a canceled StoreOffline", n)
		}
	}},

	{"UnicodeEverywhere", func(t *testing.T, e *env) {
		owner := "пётр"
		e.createAccount(owner)
		p := storage.PendingSubscription{Owner: owner, From: "мария@пример.рф", Stanza: []byte("<presence type='subscribe'><status>Привет 👋🏽</status></presence>")}
		e.addPending(p)
		wantPending(t, e.pending(owner), []storage.PendingSubscription{p})

		from := "用户@例子.中国/📱 手机"
		stanza := "<message><body>你好 👨‍👩‍👧‍👦 𝄞 ok</body></message>"
		e.storeOffline(owner, from, stanza)
		got := e.offline(owner)
		if len(got) != 1 || got[0].From != from || string(got[0].Stanza) != stanza {
			t.Errorf("offline message = %+v, want from %q stanza %q", got, from, stanza)
		}
	}},
}
