package roster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// The roster tests run on both back ends, without a socket: the state
// machine is the package's, the transactions the store's.
func backends(t *testing.T, run func(t *testing.T, store storage.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		run(t, store)
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		store, err := mysql.Open(t.Context(), mysqltest.Database(t, "parley_roster_test_"), contentrules.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		run(t, store)
	})
}

// appendixA is RFC 6121 Appendix A.2 and A.3, row by row as the RFC
// prints them: the existing state, whether the stanza is routed (A.2) or
// delivered (A.3), and the new state. It is written out here again, apart
// from the package's tables, so that a slip in either shows.
var appendixA = []struct {
	section  string
	inbound  bool
	ev       Event
	rows     string
	forwards string // what the column says: routed or delivered
}{
	{"A.2.1", false, Subscribe, `
		"None"                  | yes | "None + Pending Out"
		"None + Pending Out"    | yes | no state change
		"None + Pending In"     | yes | "None + Pending Out+In"
		"None + Pending Out+In" | yes | no state change
		"To"                    | yes | no state change
		"To + Pending In"       | yes | no state change
		"From"                  | yes | "From + Pending Out"
		"From + Pending Out"    | yes | no state change
		"Both"                  | yes | no state change`, "route"},
	{"A.2.2", false, Unsubscribe, `
		"None"                  | yes | no state change
		"None + Pending Out"    | yes | "None"
		"None + Pending In"     | yes | no state change
		"None + Pending Out+In" | yes | "None + Pending In"
		"To"                    | yes | "None"
		"To + Pending In"       | yes | "None + Pending In"
		"From"                  | yes | no state change
		"From + Pending Out"    | yes | "From"
		"Both"                  | yes | "From"`, "route"},
	{"A.2.3", false, Subscribed, `
		"None"                  | no  | no state change
		"None + Pending Out"    | no  | no state change
		"None + Pending In"     | yes | "From"
		"None + Pending Out+In" | yes | "From + Pending Out"
		"To"                    | no  | no state change
		"To + Pending In"       | yes | "Both"
		"From"                  | no  | no state change
		"From + Pending Out"    | no  | no state change
		"Both"                  | no  | no state change`, "route"},
	{"A.2.4", false, Unsubscribed, `
		"None"                  | no  | no state change
		"None + Pending Out"    | no  | no state change
		"None + Pending In"     | yes | "None"
		"None + Pending Out+In" | yes | "None + Pending Out"
		"To"                    | no  | no state change
		"To + Pending In"       | yes | "To"
		"From"                  | yes | "None"
		"From + Pending Out"    | yes | "None + Pending Out"
		"Both"                  | yes | "To"`, "route"},
	{"A.3.1", true, Subscribe, `
		"None"                  | yes | "None + Pending In"
		"None + Pending Out"    | yes | "None + Pending Out+In"
		"None + Pending In"     | no  | no state change
		"None + Pending Out+In" | no  | no state change
		"To"                    | yes | "To + Pending In"
		"To + Pending In"       | no  | no state change
		"From"                  | no  | no state change
		"From + Pending Out"    | no  | no state change
		"Both"                  | no  | no state change`, "deliver"},
	{"A.3.2", true, Unsubscribe, `
		"None"                  | no  | no state change
		"None + Pending Out"    | no  | no state change
		"None + Pending In"     | yes | "None"
		"None + Pending Out+In" | yes | "None + Pending Out"
		"To"                    | no  | no state change
		"To + Pending In"       | yes | "To"
		"From"                  | yes | "None"
		"From + Pending Out"    | yes | "None + Pending Out"
		"Both"                  | yes | "To"`, "deliver"},
	{"A.3.3", true, Subscribed, `
		"None"                  | no  | no state change
		"None + Pending Out"    | yes | "To"
		"None + Pending In"     | no  | no state change
		"None + Pending Out+In" | yes | "To + Pending In"
		"To"                    | no  | no state change
		"To + Pending In"       | no  | no state change
		"From"                  | no  | no state change
		"From + Pending Out"    | yes | "Both"
		"Both"                  | no  | no state change`, "deliver"},
	{"A.3.4", true, Unsubscribed, `
		"None"                  | no  | no state change
		"None + Pending Out"    | yes | "None"
		"None + Pending In"     | no  | no state change
		"None + Pending Out+In" | yes | "None + Pending In"
		"To"                    | yes | "None"
		"To + Pending In"       | yes | "None + Pending In"
		"From"                  | no  | no state change
		"From + Pending Out"    | yes | "From"
		"Both"                  | yes | "From"`, "deliver"},
}

// stateNamed is the state the RFC names name ("None + Pending Out+In").
func stateNamed(t *testing.T, name string) State {
	t.Helper()
	for _, s := range States {
		if s.String() == name {
			return s
		}
	}
	t.Fatalf("no state is named %q", name)
	return State{}
}

type row struct {
	before, after State
	forward       bool
}

// parseRows reads one table of appendixA.
func parseRows(t *testing.T, table string) []row {
	t.Helper()
	var rows []row
	for line := range strings.SplitSeq(strings.TrimSpace(table), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 3 {
			t.Fatalf("row %q", line)
		}
		r := row{before: stateNamed(t, strings.Trim(strings.TrimSpace(cols[0]), `"`))}
		r.forward = strings.TrimSpace(cols[1]) == "yes"
		if next := strings.TrimSpace(cols[2]); next == "no state change" {
			r.after = r.before
		} else {
			r.after = stateNamed(t, strings.Trim(next, `"`))
		}
		rows = append(rows, r)
	}
	if len(rows) != len(States) {
		t.Fatalf("%d rows, want one per state", len(rows))
	}
	return rows
}

const alice = "alice"

// request is the stanza of a subscription request from contact.
func request(contact string) []byte {
	return fmt.Appendf(nil, `<presence from="%s" to="alice@localhost" type="subscribe"/>`, contact)
}

// setState stores s as alice's state with contact, the way the server
// would keep it: an item when there is a subscription or an outbound
// request, a pending request when there is an inbound one.
func setState(t *testing.T, store storage.Store, contact string, s State) {
	t.Helper()
	_, err := store.UpdateRoster(t.Context(), alice, contact, func(st *storage.RosterState) error {
		st.OnRoster = s.Subscription != storage.SubscriptionNone || s.PendingOut
		st.Item.Name, st.Item.Subscription, st.Item.Ask = "Contact", s.Subscription, s.PendingOut
		st.PendingIn = nil
		if s.PendingIn {
			st.PendingIn = request(contact)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stored reads what the store keeps about alice and contact.
func stored(t *testing.T, store storage.Store, contact string) storage.RosterState {
	t.Helper()
	var got storage.RosterState
	if _, err := store.UpdateRoster(t.Context(), alice, contact, func(st *storage.RosterState) error {
		got = *st
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func version(t *testing.T, store storage.Store) int64 {
	t.Helper()
	_, v, err := store.Roster(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAppendixA applies every row of RFC 6121 Appendix A.2 (stanzas the
// user sends) and A.3 (stanzas the user receives) to a stored state, on
// both back ends, and checks the outcome, what is stored afterwards, and
// that the change was one transaction: the roster version moves by one
// exactly when the item changed, and the push carries that version.
func TestAppendixA(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		if err := store.CreateAccount(ctx, alice, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		r := New(store)
		for _, table := range appendixA {
			for i, want := range parseRows(t, table.rows) {
				name := fmt.Sprintf("%s %s %s, %s", table.section, table.ev, map[bool]string{false: "sent", true: "received"}[table.inbound], want.before)
				contact := fmt.Sprintf("%s-%s-%d@example.net", strings.ReplaceAll(table.section, ".", ""), table.ev, i)
				setState(t, store, contact, want.before)
				before := stored(t, store, contact)
				v0 := version(t, store)

				var out Outcome
				var err error
				if table.inbound {
					out, err = r.Inbound(ctx, alice, contact, table.ev, fmt.Appendf(nil, "<presence type=%q/>", table.ev))
				} else {
					out, err = r.Outbound(ctx, alice, contact, table.ev)
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if out.Before != want.before || out.After != want.after || out.Forward != want.forward {
					t.Errorf("%s: %s -> %s, %s %t; want -> %s, %s %t", name, out.Before, out.After,
						table.forwards, out.Forward, want.after, table.forwards, want.forward)
				}

				after := stored(t, store, contact)
				if got := stateOf(after); got != want.after {
					t.Errorf("%s: stored state %s, want %s", name, got, want.after)
				}
				// Off the roster only while nothing but a request links
				// them (A.1, "None + Pending In").
				wantOnRoster := before.OnRoster || want.after.Subscription != storage.SubscriptionNone || want.after.PendingOut
				if after.OnRoster != wantOnRoster {
					t.Errorf("%s: on the roster %t, want %t", name, after.OnRoster, wantOnRoster)
				}
				// A new request keeps the stanza as received; an old one
				// keeps its own.
				switch {
				case want.after.PendingIn && !want.before.PendingIn:
					if !bytes.Equal(after.PendingIn, fmt.Appendf(nil, "<presence type=%q/>", table.ev)) {
						t.Errorf("%s: kept request %q", name, after.PendingIn)
					}
				case want.after.PendingIn:
					if !bytes.Equal(after.PendingIn, before.PendingIn) {
						t.Errorf("%s: request became %q", name, after.PendingIn)
					}
				}

				itemChanged := after.OnRoster != before.OnRoster || after.Item.Subscription != before.Item.Subscription || after.Item.Ask != before.Item.Ask
				v1 := version(t, store)
				switch {
				case itemChanged && (v1 != v0+1 || out.Push == nil || out.Push.Version != v1):
					t.Errorf("%s: version %d -> %d, push %+v; want one new version, pushed", name, v0, v1, out.Push)
				case itemChanged && (out.Push.Item.JID != contact || out.Push.Item.Subscription != after.Item.Subscription ||
					out.Push.Item.Ask != after.Item.Ask || out.Push.Item.Name != after.Item.Name || out.Push.Removed):
					t.Errorf("%s: push %+v, want the stored item %+v", name, out.Push.Item, after.Item)
				case !itemChanged && (v1 != v0 || out.Push != nil):
					t.Errorf("%s: version %d -> %d, push %+v; want no change and no push", name, v0, v1, out.Push)
				}

				// Presence follows the contact's subscription to the user:
				// unavailable when it ends, the user's presence when it
				// starts (§3.1.5, §3.2.2, §3.3.3).
				if lost := want.before.From() && !want.after.From(); out.Unavailable != lost {
					t.Errorf("%s: unavailable %t, want %t", name, out.Unavailable, lost)
				}
				if gained := !table.inbound && !want.before.From() && want.after.From(); out.Presence != gained {
					t.Errorf("%s: presence %t, want %t", name, out.Presence, gained)
				}
				// §3.1.3: a request from a contact who is already
				// subscribed is answered for the user.
				var send []Event
				if table.inbound && table.ev == Subscribe && want.before.From() {
					send = []Event{Subscribed}
				}
				if !slices.Equal(out.Send, send) {
					t.Errorf("%s: sends %v, want %v", name, out.Send, send)
				}
			}
		}
	})
}

// Stanzas to a user who has no account: a request is answered with
// unsubscribed on the user's behalf (RFC 6121 §3.1.3), the rest dropped.
func TestInboundForNoAccount(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Store) {
		r := New(store)
		for _, ev := range Events {
			out, err := r.Inbound(t.Context(), "nobody", "romeo@example.net", ev, []byte("<presence/>"))
			var want []Event
			if ev == Subscribe {
				want = []Event{Unsubscribed}
			}
			if err != nil || out.Forward || out.Push != nil || !slices.Equal(out.Send, want) {
				t.Errorf("%s to nobody: %+v, %v; want only %v sent back", ev, out, err, want)
			}
		}
	})
}

// Roster sets keep the subscription state; removals cancel it both ways
// (RFC 6121 §2.3, §2.5.2).
func TestSetAndRemove(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		if err := store.CreateAccount(ctx, alice, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		r := New(store)
		for i, s := range States {
			contact := fmt.Sprintf("c%d@example.net", i)
			setState(t, store, contact, s)
			out, err := r.Set(ctx, alice, contact, "Renamed", []string{"Friends", "🌹"})
			if err != nil {
				t.Fatal(err)
			}
			st := stored(t, store, contact)
			if got := stateOf(st); got != s || out.Before != s || out.After != s {
				t.Errorf("set in %s: state %s", s, got)
			}
			if !st.OnRoster || st.Item.Name != "Renamed" || !slices.Equal(st.Item.Groups, []string{"Friends", "🌹"}) {
				t.Errorf("set in %s: stored %+v", s, st.Item)
			}
			if out.Push == nil || out.Push.Version != version(t, store) || out.Push.Item.Name != "Renamed" || out.Push.Item.Subscription != s.Subscription {
				t.Errorf("set in %s: push %+v", s, out.Push)
			}

			out, err = r.Remove(ctx, alice, contact)
			if err != nil {
				t.Fatal(err)
			}
			var send []Event
			if s.To() || s.PendingOut {
				send = append(send, Unsubscribe)
			}
			if s.From() {
				send = append(send, Unsubscribed)
			}
			if !slices.Equal(out.Send, send) || out.Unavailable != s.From() || out.Forward {
				t.Errorf("remove in %s: sends %v (unavailable %t), want %v (%t)", s, out.Send, out.Unavailable, send, s.From())
			}
			if out.Push == nil || !out.Push.Removed || out.Push.Item.JID != contact || out.Push.Version != version(t, store) {
				t.Errorf("remove in %s: push %+v", s, out.Push)
			}
			if st := stored(t, store, contact); st.OnRoster || st.PendingIn != nil {
				t.Errorf("remove in %s: left %+v", s, st)
			}
			if _, err := r.Remove(ctx, alice, contact); !errors.Is(err, ErrNotOnRoster) {
				t.Errorf("second remove in %s: %v, want ErrNotOnRoster", s, err)
			}
		}
	})
}

// Two approvals crossing: the user approves the contact's request while
// the contact's approval of the user's arrives. Applied one after the
// other, in either order, they end in "Both"; read and written apart, the
// second write would put back the first's old state ("From" or "To"). Each
// transition is one transaction, so "Both" every time, on both back ends.
func TestCrossingApprovals(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		if err := store.CreateAccount(ctx, alice, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		r := New(store)
		const rounds = 20
		for i := range rounds {
			contact := fmt.Sprintf("cross%d@example.net", i)
			setState(t, store, contact, NonePendingOutIn)
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Go(func() {
				_, err := r.Outbound(ctx, alice, contact, Subscribed)
				errs <- err
			})
			wg.Go(func() {
				_, err := r.Inbound(ctx, alice, contact, Subscribed, []byte("<presence/>"))
				errs <- err
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := stateOf(stored(t, store, contact)); got != Both {
				t.Errorf("round %d: crossing approvals left %s, want Both", i, got)
			}
		}
	})
}

// The package's tables have a row for every state and event, and each row
// leads to one of the nine states.
func TestTablesAreComplete(t *testing.T) {
	for dir, tables := range map[string]map[Event]map[State]transition{"outbound": outbound, "inbound": inbound} {
		for _, ev := range Events {
			for _, s := range States {
				tr, ok := tables[ev][s]
				if !ok || !slices.Contains(States, tr.next) {
					t.Errorf("%s %s in %s: %+v, %t", dir, ev, s, tr, ok)
				}
			}
		}
	}
	if _, err := New(nil).Outbound(context.Background(), alice, "bob@example.net", "probe"); err == nil {
		t.Error("Outbound accepted a probe")
	}
}
