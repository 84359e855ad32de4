package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/parleychat/parley/storage"
)

// updateRoster runs UpdateRoster and fails the test on an error.
func (e *env) updateRoster(owner, contact string, change func(*storage.RosterState)) int64 {
	e.t.Helper()
	v, err := e.store.UpdateRoster(e.ctx, owner, contact, func(st *storage.RosterState) error {
		change(st)
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateRoster(%s, %s): %v", owner, contact, err)
	}
	return v
}

// rosterState reads the pair's state through UpdateRoster, changing
// nothing.
func (e *env) rosterState(owner, contact string) storage.RosterState {
	e.t.Helper()
	var got storage.RosterState
	if v := e.updateRoster(owner, contact, func(st *storage.RosterState) { got = *st }); v != 0 {
		e.t.Fatalf("UpdateRoster that changed nothing returned version %d, want 0", v)
	}
	return got
}

// UpdateRoster: one change to one (owner, contact) pair, its item and its
// pending request, in one transaction (RFC 6121 §3's transitions, §2's
// roster sets and removals).
var rosterUpdateTests = []test{
	{"ReadsTheState", func(t *testing.T, e *env) {
		e.createAccount("alice")
		st := e.rosterState("alice", "bob@example.org")
		if st.OnRoster || st.PendingIn != nil {
			t.Errorf("state of a stranger = %+v, want not on the roster and no request", st)
		}
		wantRoster(t, []storage.RosterItem{st.Item}, []storage.RosterItem{{Owner: "alice", JID: "bob@example.org", Subscription: storage.SubscriptionNone}})
		item := storage.RosterItem{Owner: "alice", JID: "bob@example.org", Name: "Bob", Subscription: storage.SubscriptionTo, Groups: []string{"Work", "😀"}}
		e.putRosterItem(item)
		stanza := []byte(`<presence from="bob@example.org" type="subscribe"/>`)
		e.addPending(storage.PendingSubscription{Owner: "alice", From: "bob@example.org", Stanza: stanza})
		st = e.rosterState("alice", "bob@example.org")
		if !st.OnRoster || !bytes.Equal(st.PendingIn, stanza) {
			t.Errorf("state = %+v, want on the roster with the request", st)
		}
		wantRoster(t, []storage.RosterItem{st.Item}, []storage.RosterItem{item})
	}},

	{"PutsChangesAndDeletesTheItem", func(t *testing.T, e *env) {
		e.createAccount("alice")
		want := storage.RosterItem{Owner: "alice", JID: "bob@example.org", Subscription: storage.SubscriptionNone, Ask: true}
		v := e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) {
			st.OnRoster, st.Item.Ask = true, true
			st.Item.Owner, st.Item.JID = "mallory", "eve@example.org" // ignored
		})
		if v != 1 {
			t.Errorf("first change returned version %d, want 1", v)
		}
		items, _ := e.roster("alice")
		wantRoster(t, items, []storage.RosterItem{want})

		// Setting what is there changes nothing: no new version.
		if v := e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) { st.Item.Ask = true }); v != 0 {
			t.Errorf("a change to the same values returned version %d, want 0", v)
		}
		want.Subscription, want.Ask, want.Name, want.Groups = storage.SubscriptionBoth, false, "Bob", []string{"Friends"}
		if v := e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) {
			st.Item.Subscription, st.Item.Ask, st.Item.Name, st.Item.Groups = want.Subscription, false, "Bob", []string{"Friends"}
		}); v != 2 {
			t.Errorf("second change returned version %d, want 2", v)
		}
		items, _ = e.roster("alice")
		wantRoster(t, items, []storage.RosterItem{want})

		if v := e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) { st.OnRoster = false }); v != 3 {
			t.Errorf("removal returned version %d, want 3", v)
		}
		if items, v := e.roster("alice"); len(items) != 0 || v != 3 {
			t.Errorf("after removal: %+v at version %d, want none at 3", items, v)
		}
		// Removing what is not there changes nothing.
		if v := e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) { st.OnRoster = false }); v != 0 {
			t.Errorf("removing a stranger returned version %d, want 0", v)
		}
	}},

	{"StoresReplacesAndForgetsTheRequest", func(t *testing.T, e *env) {
		e.createAccount("alice")
		first := []byte(`<presence from="bob@example.org" type="subscribe"/>`)
		for _, from := range []string{"bob@example.org", "carol@example.org"} {
			if v := e.updateRoster("alice", from, func(st *storage.RosterState) {
				st.PendingIn = bytes.ReplaceAll(first, []byte("bob@example.org"), []byte(from))
			}); v != 0 {
				t.Errorf("storing a request returned version %d, want 0: the roster did not change", v)
			}
		}
		again := []byte(`<presence from="bob@example.org" type="subscribe"><status>again</status></presence>`)
		e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) { st.PendingIn = again })
		// Replaced in its place: still before carol's.
		ps := e.pending("alice")
		if len(ps) != 2 || ps[0].From != "bob@example.org" || !bytes.Equal(ps[0].Stanza, again) || ps[1].From != "carol@example.org" {
			t.Errorf("pending after a replacement: %+v", ps)
		}
		e.updateRoster("alice", "bob@example.org", func(st *storage.RosterState) { st.PendingIn = nil })
		if ps := e.pending("alice"); len(ps) != 1 || ps[0].From != "carol@example.org" {
			t.Errorf("pending after forgetting bob's: %+v", ps)
		}
		if items, v := e.roster("alice"); len(items) != 0 || v != 0 {
			t.Errorf("requests alone made roster %+v at version %d", items, v)
		}
		// An empty stanza is still a request.
		e.updateRoster("alice", "dave@example.org", func(st *storage.RosterState) { st.PendingIn = []byte{} })
		if st := e.rosterState("alice", "dave@example.org"); st.PendingIn == nil {
			t.Error("a request stored with an empty stanza reads back as none")
		}
	}},

	{"AnErrorChangesNothing", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.putRosterItem(storage.RosterItem{Owner: "alice", JID: "bob@example.org", Subscription: storage.SubscriptionTo})
		refused := errors.New("refused")
		_, err := e.store.UpdateRoster(e.ctx, "alice", "bob@example.org", func(st *storage.RosterState) error {
			st.Item.Subscription = storage.SubscriptionBoth
			st.PendingIn = []byte("<presence/>")
			return refused
		})
		wantErrorIs(t, "UpdateRoster whose change fails", err, refused)
		// An item the store refuses rolls back the request with it.
		_, err = e.store.UpdateRoster(e.ctx, "alice", "bob@example.org", func(st *storage.RosterState) error {
			st.Item.Subscription = "maybe"
			st.PendingIn = []byte("<presence/>")
			return nil
		})
		wantInvalid(t, "UpdateRoster to subscription maybe", err)
		st := e.rosterState("alice", "bob@example.org")
		if st.Item.Subscription != storage.SubscriptionTo || st.PendingIn != nil {
			t.Errorf("after failed changes: %+v, want subscription to and no request", st)
		}
		if _, v := e.roster("alice"); v != 1 {
			t.Errorf("version after failed changes = %d, want 1", v)
		}
	}},

	{"UnknownOwnerAndInvalidContact", func(t *testing.T, e *env) {
		_, err := e.store.UpdateRoster(e.ctx, "nobody", "bob@example.org", func(st *storage.RosterState) error {
			st.OnRoster = true
			return nil
		})
		wantErrorIs(t, "UpdateRoster(owner nobody)", err, storage.ErrNotFound)
		e.createAccount("alice")
		for _, contact := range []string{"", longString('j', storage.MaxJIDLength+1)} {
			_, err := e.store.UpdateRoster(e.ctx, "alice", contact, func(st *storage.RosterState) error {
				st.OnRoster = true
				return nil
			})
			wantInvalid(t, fmt.Sprintf("UpdateRoster(contact %.20q)", contact), err)
		}
	}},

	// Changes that read, decide and write run one after another: none
	// is lost, whichever back end and however many writers. Each writer
	// adds its own group to one item, as concurrent roster sets would,
	// and moves a request in and out, as subscription stanzas would.
	{"ConcurrentChangesLoseNothing", func(t *testing.T, e *env) {
		e.createAccount("alice")
		const writers, each = 6, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					_, err := e.store.UpdateRoster(e.ctx, "alice", "bob@example.org", func(st *storage.RosterState) error {
						st.OnRoster = true
						st.Item.Groups = append(st.Item.Groups, fmt.Sprintf("g%d-%d", w, i))
						if st.PendingIn == nil {
							st.PendingIn = []byte("<presence/>")
						} else {
							st.PendingIn = nil
						}
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent UpdateRoster: %v", err)
		}
		st := e.rosterState("alice", "bob@example.org")
		if len(st.Item.Groups) != writers*each {
			t.Errorf("item has %d groups, want %d: a change was lost", len(st.Item.Groups), writers*each)
		}
		if slices.Sort(st.Item.Groups); len(slices.Compact(st.Item.Groups)) != writers*each {
			t.Errorf("groups written twice: %v", st.Item.Groups)
		}
		// An even number of flips leaves no request.
		if st.PendingIn != nil {
			t.Errorf("request left after %d flips", writers*each)
		}
		if _, v := e.roster("alice"); v != writers*each {
			t.Errorf("version %d, want %d", v, writers*each)
		}
	}},
}
