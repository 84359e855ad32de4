package muc

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// gatedStore is the fixture's real store with its AppendHistory held at a
// gate on its first call, so that a test can queue requests behind a
// transaction under way, and with the number of writes of each call
// recorded.
type gatedStore struct {
	storage.Store
	gate    chan struct{}
	once    sync.Once
	entered chan struct{}
	mu      sync.Mutex
	batches []int
}

func (s *gatedStore) AppendHistory(ctx context.Context, posts []storage.PostWrite) ([]storage.PostWrite, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.gate
	})
	s.mu.Lock()
	s.batches = append(s.batches, len(posts))
	s.mu.Unlock()
	return s.Store.AppendHistory(ctx, posts)
}

// waiting is how many requests wait for the next batch.
func (c *committer) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// The events of joins, leaves and the like share a transaction with
// whatever else waits (posts of other rooms, other rooms' joins): while
// one transaction is written, the requests that arrive go in the next
// one together, and each returns only once its own events are in the
// outbox.
func TestGroupCommitRecordsEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "alice")
	gs := &gatedStore{Store: f.store, gate: make(chan struct{}), entered: make(chan struct{})}
	var c committer

	first := f.e.event("join", "lobby", "first@localhost", map[string]string{"nick": "first"})
	firstDone := make(chan error, 1)
	go func() { firstDone <- c.record(gs, first) }()
	<-gs.entered // the first request leads and holds its transaction open

	const joins = 6
	var wg sync.WaitGroup
	evs := make([][]storage.OutboxEvent, joins)
	for i := range joins {
		// A join with its history read: two events, one request.
		evs[i] = []storage.OutboxEvent{
			f.e.event("join", fmt.Sprintf("room%d", i), "u@localhost", map[string]string{"nick": "u"}),
			f.e.event("history.read", fmt.Sprintf("room%d", i), "u@localhost", map[string]int{"count": 1}),
		}
		wg.Go(func() {
			if err := c.record(gs, evs[i]...); err != nil {
				t.Errorf("join %d: %v", i, err)
				return
			}
			// Acknowledged only once committed: the events are there.
			if missing := notInOutbox(t, f.store, evs[i]...); len(missing) > 0 {
				t.Errorf("join %d returned before %v was in the outbox", i, missing)
			}
		})
	}
	var post storage.PostWrite
	wg.Go(func() {
		var err error
		post, err = c.commit(gs, storage.PostWrite{
			History: &storage.HistoryMessage{Room: "lobby", StanzaID: "s1", Nick: "alice", RealJID: "alice@localhost", FrontDoor: "xmpp", Kind: storage.KindPost, Body: "hi", Stanza: []byte("<message/>")},
			Event:   f.e.event("post", "lobby", "alice@localhost", map[string]string{"body": "hi"}),
		})
		if err != nil {
			t.Errorf("post: %v", err)
		}
	})
	for c.waiting() < joins+1 {
		runtime.Gosched()
	}
	close(gs.gate)
	if err := <-firstDone; err != nil {
		t.Fatalf("first: %v", err)
	}
	wg.Wait()

	// The leader's transaction, then one for the seven requests waiting
	// behind it: six joins of two events and the post.
	if want := []int{1, 2*joins + 1}; !slices.Equal(gs.batches, want) {
		t.Errorf("transactions of %v writes, want %v", gs.batches, want)
	}
	if post.History == nil || post.History.Seq != 1 || post.Event.ID == 0 {
		t.Errorf("post as written: %+v", post)
	}
	// Each request's events are in the outbox in the order given.
	stored, err := f.store.ReadOutbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int64{}
	for _, ev := range stored {
		at[ev.EventID] = ev.ID
	}
	for i, pair := range evs {
		if at[pair[0].EventID] == 0 || at[pair[1].EventID] <= at[pair[0].EventID] {
			t.Errorf("join %d: events at %d, %d; want both, in order", i, at[pair[0].EventID], at[pair[1].EventID])
		}
	}
}

// A request that fails does not fail the others of its batch: the batch
// is retried request by request, and only the bad one gets the error.
func TestGroupCommitRecordFailsAlone(t *testing.T) {
	f := newFixture(t)
	gs := &gatedStore{Store: f.store, gate: make(chan struct{}), entered: make(chan struct{})}
	var c committer

	first := f.e.event("join", "lobby", "first@localhost", nil)
	firstDone := make(chan error, 1)
	go func() { firstDone <- c.record(gs, first) }()
	<-gs.entered

	good := []storage.OutboxEvent{
		f.e.event("leave", "room1", "a@localhost", nil),
		f.e.event("nick", "room2", "b@localhost", nil),
	}
	// The same event id as the leader's: the store refuses it (ErrExists).
	bad := first
	bad.Type = "kick"
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = c.record(gs, good[0]) })
	wg.Go(func() { errs[1] = c.record(gs, bad) })
	wg.Go(func() { errs[2] = c.record(gs, good[1]) })
	for c.waiting() < 3 {
		runtime.Gosched()
	}
	close(gs.gate)
	if err := <-firstDone; err != nil {
		t.Fatalf("first: %v", err)
	}
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("good requests: %v, %v; want committed", errs[0], errs[2])
	}
	if errs[1] == nil {
		t.Error("a request reusing an event id: committed, want an error")
	}
	if missing := notInOutbox(t, f.store, good...); len(missing) > 0 {
		t.Errorf("not in the outbox: %v", missing)
	}
	// The batch of three, then each alone.
	if want := []int{1, 3, 1, 1, 1}; !slices.Equal(gs.batches, want) {
		t.Errorf("transactions of %v writes, want %v", gs.batches, want)
	}
}

// notInOutbox returns the ids of those of evs the outbox does not hold.
func notInOutbox(t *testing.T, s storage.Store, evs ...storage.OutboxEvent) []string {
	t.Helper()
	stored, err := s.ReadOutbox(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, ev := range evs {
		if !slices.ContainsFunc(stored, func(s storage.OutboxEvent) bool { return s.EventID == ev.EventID }) {
			missing = append(missing, ev.EventID)
		}
	}
	return missing
}

// While the node is busy (the last transaction carried more than one
// write), a leader lets its batch gather for the committer's wait before
// writing it, so that a request arriving meanwhile shares its
// transaction; while it is not, a lone request commits at once.
func TestGroupCommitWaitsWhileBusy(t *testing.T) {
	f := newFixture(t)
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	event := func(nick string) storage.OutboxEvent {
		return f.e.event("join", "lobby", nick+"@localhost", map[string]string{"nick": nick})
	}
	gs := &gatedStore{Store: f.store, gate: make(chan struct{}), entered: make(chan struct{})}
	close(gs.gate)

	// Not busy: with a wait of an hour, a lone request still commits at
	// once (or the test times out).
	idle := committer{wait: time.Hour}
	if err := idle.record(gs, event("lone")); err != nil {
		t.Fatal(err)
	}
	if idle.busy {
		t.Error("busy after a transaction of one write")
	}

	// Busy: the leader waits, and the request that arrives meanwhile
	// rides in its transaction.
	gs.batches = nil
	busy := committer{wait: 2 * time.Second, busy: true}
	first := make(chan error, 1)
	go func() { first <- busy.record(gs, event("first")) }()
	for busy.waiting() < 1 {
		runtime.Gosched()
	}
	if err := busy.record(gs, event("second")); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if want := []int{2}; !slices.Equal(gs.batches, want) {
		t.Errorf("transactions of %v writes, want %v", gs.batches, want)
	}
	if !busy.busy {
		t.Error("not busy after a transaction of two writes")
	}
}
