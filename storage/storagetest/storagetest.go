// Package storagetest is the one conformance suite every storage.Store
// implementation passes (shared/DESIGN.md §5). An implementation's test
// calls Run with an Opener that gives each subtest an empty database of its
// own:
//
//	func TestConformance(t *testing.T) {
//		t.Run("sqlite", func(t *testing.T) {
//			storagetest.Run(t, func(t *testing.T) func() storage.Store {
//				path := filepath.Join(t.TempDir(), "parley.db")
//				return func() storage.Store {
//					s, err := sqlite.Open(t.Context(), path, contentrules.Rules{})
//					if err != nil {
//						t.Fatal(err)
//					}
//					return s
//				}
//			})
//		})
//	}
//
// Subtests run in parallel, each on its own database, and are grouped by
// interface: Accounts, Rosters, PendingSubscriptions, RosterUpdates (a
// roster item and its pending request changed in one transaction),
// Offline, Categories, Rooms, Affiliations, History (sequence numbers,
// group commit, filters, paging, full-text search, tombstones), Files
// (slots, quota, chunks), Outbox (and that every event is written with its
// change, never without), RoomChanges (the room change log), Follows
// (topic feeds), Secrets (shared secrets), PubSub (personal eventing nodes,
// private XML, vCards), AccountArchive (the accounts' own archives of 1:1
// messages, preferences, retention), Blocklist and Store (durability across
// Close and reopen, concurrency, contexts).
//
// Bench runs the storage benchmarks on an implementation.
package storagetest

import (
	"context"
	"testing"

	"github.com/parleychat/parley/storage"
)

// Opener prepares an empty database for one subtest and returns open, which
// opens a Store on that database. The suite calls open once at the start of
// the subtest and again after it has closed the Store, to check that data
// survives a restart, so every call must reach the same database. The suite
// closes every Store it opens. Opener registers with t.Cleanup whatever
// removes the database; open reports its own failures with t.Fatal.
type Opener func(t *testing.T) (open func() storage.Store)

// Run runs the conformance suite against the implementation that newDatabase
// opens.
func Run(t *testing.T, newDatabase Opener) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Accounts", accountTests},
		{"Rosters", rosterTests},
		{"PendingSubscriptions", pendingTests},
		{"RosterUpdates", rosterUpdateTests},
		{"Offline", offlineTests},
		{"Categories", categoryTests},
		{"Rooms", roomTests},
		{"Affiliations", affiliationTests},
		{"History", historyTests},
		{"Outbox", outboxTests},
		{"RoomChanges", roomChangeTests},
		{"OutboxStats", outboxStatsTests},
		{"Follows", followTests},
		{"Files", fileTests},
		{"Retention", retentionTests},
		{"Secrets", secretTests},
		{"Federation", federationTests},
		{"PubSub", pubsubTests},
		{"AccountArchive", accountArchiveTests},
		{"Blocklist", blocklistTests},
		{"FastTokens", fastTokenTests},
		{"Push", pushTests},
		{"Store", storeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, newEnv(t, newDatabase))
				})
			}
		})
	}
}

// test is one subtest: a name for `go test -run` and -v output, and the
// check it makes on a fresh database.
type test struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is one subtest's database and the Store currently open on it.
type env struct {
	t     *testing.T
	ctx   context.Context
	open  func() storage.Store
	store storage.Store
}

func newEnv(t *testing.T, newDatabase Opener) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), open: newDatabase(t)}
	e.store = e.open()
	t.Cleanup(func() {
		if e.store != nil {
			if err := e.store.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return e
}

// reopen closes the Store and opens the same database again, as a restart
// of the server would.
func (e *env) reopen() {
	e.t.Helper()
	s := e.store
	e.store = nil
	if err := s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.store = e.open()
}
