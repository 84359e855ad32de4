package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/parleychat/parley/storage"
)

var rosterTests = []test{
	{"EmptyRosterIsVersionZero", func(t *testing.T, e *env) {
		e.createAccount("alice")
		for _, owner := range []string{"alice", "nobody"} {
			items, v := e.roster(owner)
			if len(items) != 0 || v != 0 {
				t.Errorf("Roster(%s) = %+v version %d, want empty at 0", owner, items, v)
			}
		}
	}},

	{"PutIncrementsVersionAndRosterIsOrderedByJID", func(t *testing.T, e *env) {
		e.createAccount("alice")
		items := []storage.RosterItem{
			{Owner: "alice", JID: "romeo@example.net", Name: "Romeo", Subscription: storage.SubscriptionBoth, Groups: []string{"Friends", "Lovers"}},
			{Owner: "alice", JID: "mercutio@example.com", Subscription: storage.SubscriptionFrom},
			{Owner: "alice", JID: "benvolio@example.net", Name: "Ben 🗡", Subscription: storage.SubscriptionNone, Ask: true, Groups: []string{"Montague"}},
			{Owner: "alice", JID: "nurse@example.com", Name: "Nurse", Subscription: storage.SubscriptionTo},
		}
		for i, it := range items {
			if v := e.putRosterItem(it); v != int64(i+1) {
				t.Fatalf("put #%d returned version %d, want %d", i+1, v, i+1)
			}
		}
		got, v := e.roster("alice")
		if v != 4 {
			t.Errorf("Roster version = %d, want 4", v)
		}
		want := slices.Clone(items)
		slices.SortFunc(want, func(a, b storage.RosterItem) int {
			switch {
			case a.JID < b.JID:
				return -1
			case a.JID > b.JID:
				return 1
			}
			return 0
		})
		wantRoster(t, got, want)
	}},

	{"PutReplacesTheItem", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.putRosterItem(storage.RosterItem{Owner: "alice", JID: "bob@example.org", Name: "Bob", Subscription: "none", Ask: true, Groups: []string{"a", "b"}})
		// RFC 6121 §2.1.2.2: a roster set replaces the item, groups included.
		changed := storage.RosterItem{Owner: "alice", JID: "bob@example.org", Name: "Robert", Subscription: "to", Groups: []string{"c"}}
		if v := e.putRosterItem(changed); v != 2 {
			t.Errorf("second put returned version %d, want 2", v)
		}
		got, err := e.store.RosterItem(e.ctx, "alice", "bob@example.org")
		if err != nil {
			t.Fatalf("RosterItem: %v", err)
		}
		wantRoster(t, []storage.RosterItem{got}, []storage.RosterItem{changed})

		changed.Groups = nil
		e.putRosterItem(changed)
		items, v := e.roster("alice")
		wantRoster(t, items, []storage.RosterItem{changed})
		if v != 3 {
			t.Errorf("version = %d, want 3", v)
		}
	}},

	{"PutUnknownOwnerGivesErrNotFound", func(t *testing.T, e *env) {
		_, err := e.store.UpdateRoster(e.ctx, "nobody", "bob@example.org", func(st *storage.RosterState) error {
			st.OnRoster = true
			return nil
		})
		wantErrorIs(t, "UpdateRoster(owner nobody)", err, storage.ErrNotFound)
	}},

	{"PutRejectsInvalidItems", func(t *testing.T, e *env) {
		e.createAccount("alice")
		for _, it := range []storage.RosterItem{
			{Owner: "alice", JID: "bob@example.org", Subscription: "maybe"},
			{Owner: "alice", JID: "bob@example.org", Subscription: ""},
			{Owner: "alice", JID: "", Subscription: "none"},
			{Owner: "alice", JID: longString('x', storage.MaxJIDLength+1), Subscription: "none"},
			{Owner: "alice", JID: "bob@example.org", Subscription: "none", Groups: []string{""}},
		} {
			_, err := e.store.UpdateRoster(e.ctx, it.Owner, it.JID, func(st *storage.RosterState) error {
				st.OnRoster, st.Item = true, it
				return nil
			})
			wantInvalid(t, fmt.Sprintf("UpdateRoster(%.40q, subscription %q, groups %q)", it.JID, it.Subscription, it.Groups), err)
		}
		if items, v := e.roster("alice"); len(items) != 0 || v != 0 {
			t.Errorf("after rejected puts: roster %+v version %d, want empty at 0", items, v)
		}
	}},

	{"RosterItem", func(t *testing.T, e *env) {
		e.createAccount("alice")
		want := storage.RosterItem{Owner: "alice", JID: "bob@example.org", Name: "Bob", Subscription: "both", Groups: []string{"Work"}}
		e.putRosterItem(want)
		got, err := e.store.RosterItem(e.ctx, "alice", "bob@example.org")
		if err != nil {
			t.Fatalf("RosterItem: %v", err)
		}
		wantRoster(t, []storage.RosterItem{got}, []storage.RosterItem{want})

		_, err = e.store.RosterItem(e.ctx, "alice", "carol@example.org")
		wantErrorIs(t, "RosterItem(alice, carol)", err, storage.ErrNotFound)
		_, err = e.store.RosterItem(e.ctx, "alice", "Bob@example.org")
		wantErrorIs(t, "RosterItem(alice, Bob) (JIDs are byte-exact)", err, storage.ErrNotFound)
		_, err = e.store.RosterItem(e.ctx, "nobody", "bob@example.org")
		wantErrorIs(t, "RosterItem(nobody, bob)", err, storage.ErrNotFound)
	}},

	{"DeleteRosterItem", func(t *testing.T, e *env) {
		e.createAccount("alice")
		bob := storage.RosterItem{Owner: "alice", JID: "bob@example.org", Subscription: "both"}
		carol := storage.RosterItem{Owner: "alice", JID: "carol@example.org", Subscription: "to"}
		e.putRosterItem(bob)
		e.putRosterItem(carol)

		remove := func(st *storage.RosterState) error {
			st.OnRoster = false
			return nil
		}
		v, err := e.store.UpdateRoster(e.ctx, "alice", "bob@example.org", remove)
		if err != nil || v != 3 {
			t.Fatalf("removal = %d, %v; want 3, nil", v, err)
		}
		_, err = e.store.RosterItem(e.ctx, "alice", "bob@example.org")
		wantErrorIs(t, "RosterItem after delete", err, storage.ErrNotFound)

		if v, err := e.store.UpdateRoster(e.ctx, "alice", "bob@example.org", remove); err != nil || v != 0 {
			t.Errorf("removal twice = %d, %v; want 0 (no change), nil", v, err)
		}
		_, err = e.store.UpdateRoster(e.ctx, "nobody", "bob@example.org", remove)
		wantErrorIs(t, "removal from nobody's roster", err, storage.ErrNotFound)

		items, v := e.roster("alice")
		wantRoster(t, items, []storage.RosterItem{carol})
		if v != 3 {
			t.Errorf("version after removing what was gone = %d, want 3 (unchanged)", v)
		}
	}},

	{"VersionsArePerOwner", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.createAccount("bob")
		e.putRosterItem(storage.RosterItem{Owner: "alice", JID: "x@example.org", Subscription: "none"})
		e.putRosterItem(storage.RosterItem{Owner: "alice", JID: "y@example.org", Subscription: "none"})
		if v := e.putRosterItem(storage.RosterItem{Owner: "bob", JID: "x@example.org", Subscription: "none"}); v != 1 {
			t.Errorf("bob's first change gave version %d, want 1", v)
		}
		if _, v := e.roster("alice"); v != 2 {
			t.Errorf("alice's version = %d, want 2", v)
		}
	}},

	{"UnicodeItems", func(t *testing.T, e *env) {
		owner := "zoë🦊"
		e.createAccount(owner)
		want := []storage.RosterItem{
			{Owner: owner, JID: "мария@пример.рф", Name: "Мария 👩‍🔬", Subscription: "both", Groups: []string{"Ünïcødé", "😀", "家族"}},
			{Owner: owner, JID: "用户@例子.中国", Name: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200d", Subscription: "from", Ask: true, Groups: []string{"a\"b\\c", "<x>&amp;"}},
		}
		for _, it := range want {
			e.putRosterItem(it)
		}
		got, _ := e.roster(owner)
		wantRoster(t, got, want) // "м" (U+043C) sorts before "用" (U+7528)
	}},

	{"ConcurrentPutsGetDistinctVersions", func(t *testing.T, e *env) {
		e.createAccount("alice")
		const writers, each = 8, 10
		versions := make(chan int64, writers*each)
		errs := make(chan error, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					v, err := e.store.UpdateRoster(e.ctx, "alice", fmt.Sprintf("c%d-%d@example.org", w, i), func(st *storage.RosterState) error {
						st.OnRoster = true
						return nil
					})
					if err != nil {
						errs <- err
						continue
					}
					versions <- v
				}
			})
		}
		wg.Wait()
		close(versions)
		close(errs)
		for err := range errs {
			t.Errorf("concurrent UpdateRoster: %v", err)
		}
		got := slices.Sorted(func(yield func(int64) bool) {
			for v := range versions {
				if !yield(v) {
					return
				}
			}
		})
		for i, v := range got {
			if v != int64(i+1) {
				t.Fatalf("versions returned = %v, want each of 1..%d once", got, writers*each)
			}
		}
		items, v := e.roster("alice")
		if len(items) != writers*each || v != writers*each {
			t.Errorf("roster has %d items at version %d, want %d at %d", len(items), v, writers*each, writers*each)
		}
	}},
}

var pendingTests = []test{
	{"AddListRemove", func(t *testing.T, e *env) {
		e.createAccount("alice")
		sub := func(from, stanza string) storage.PendingSubscription {
			return storage.PendingSubscription{Owner: "alice", From: from, Stanza: []byte(stanza)}
		}
		// Added in this order; listed oldest first, not by JID.
		for _, p := range []storage.PendingSubscription{
			sub("romeo@example.net", `<presence from="romeo@example.net" type="subscribe"/>`),
			sub("juliet@example.com", `<presence from="juliet@example.com" type="subscribe"><status>😘</status></presence>`),
			sub("benvolio@example.net", `<presence type="subscribe"/>`),
		} {
			e.addPending(p)
		}
		// A repeated request replaces the stanza and keeps its place.
		again := sub("romeo@example.net", `<presence type="subscribe"><status>again</status></presence>`)
		e.addPending(again)
		wantPending(t, e.pending("alice"), []storage.PendingSubscription{
			again,
			sub("juliet@example.com", `<presence from="juliet@example.com" type="subscribe"><status>😘</status></presence>`),
			sub("benvolio@example.net", `<presence type="subscribe"/>`),
		})

		forget := func(st *storage.RosterState) error {
			st.PendingIn = nil
			return nil
		}
		if _, err := e.store.UpdateRoster(e.ctx, "alice", "juliet@example.com", forget); err != nil {
			t.Fatalf("forgetting juliet's request: %v", err)
		}
		for _, from := range []string{"juliet@example.com", "nobody@example.com"} {
			if v, err := e.store.UpdateRoster(e.ctx, "alice", from, forget); err != nil || v != 0 {
				t.Errorf("forgetting a request from %s that is not there: %d, %v; want 0, nil", from, v, err)
			}
		}
		wantPending(t, e.pending("alice"), []storage.PendingSubscription{
			again,
			sub("benvolio@example.net", `<presence type="subscribe"/>`),
		})
		if ps := e.pending("nobody"); len(ps) != 0 {
			t.Errorf("PendingSubscriptions(nobody) = %+v, want none", ps)
		}
	}},

	{"AddUnknownOwnerGivesErrNotFound", func(t *testing.T, e *env) {
		_, err := e.store.UpdateRoster(e.ctx, "nobody", "romeo@example.net", func(st *storage.RosterState) error {
			st.PendingIn = []byte("<presence/>")
			return nil
		})
		wantErrorIs(t, "UpdateRoster(nobody) with a request", err, storage.ErrNotFound)
	}},

	{"AddRejectsInvalidJID", func(t *testing.T, e *env) {
		e.createAccount("alice")
		for _, from := range []string{"", longString('j', storage.MaxJIDLength+1)} {
			_, err := e.store.UpdateRoster(e.ctx, "alice", from, func(st *storage.RosterState) error {
				st.PendingIn = []byte("<presence/>")
				return nil
			})
			wantInvalid(t, fmt.Sprintf("UpdateRoster(from %.20q) with a request", from), err)
		}
	}},
}
