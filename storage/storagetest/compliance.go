package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// ComplianceOpener prepares an empty compliance database for one subtest
// and returns open, which opens a ComplianceStore on it; like Opener, every
// call must reach the same database, and the suite closes what it opens.
type ComplianceOpener func(t *testing.T) (open func() storage.ComplianceStore)

// RunCompliance runs the conformance suite of storage.ComplianceStore
// against the implementation that newDatabase opens: capture in order and
// exactly once, reading back, and the lease.
func RunCompliance(t *testing.T, newDatabase ComplianceOpener) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func() storage.ComplianceStore)
	}{
		{"CaptureInOrder", testCaptureInOrder},
		{"CaptureOnce", testCaptureOnce},
		{"CaptureChecks", testCaptureChecks},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"QueryEvents", testQueryComplianceEvents},
		{"AdapterPosition", testAdapterPosition},
		{"Retention", testComplianceRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newDatabase(t))
		})
	}
}

// openCompliance opens a store and closes it when the test ends.
func openCompliance(t *testing.T, open func() storage.ComplianceStore) storage.ComplianceStore {
	t.Helper()
	s := open()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// outboxEvents makes n events as the outbox hands them out, with IDs from
// firstID.
func outboxEvents(prefix string, firstID int64, n int) []storage.OutboxEvent {
	base := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	evs := make([]storage.OutboxEvent, n)
	for i := range evs {
		evs[i] = storage.OutboxEvent{
			ID:      firstID + int64(i),
			EventID: fmt.Sprintf("%s-%04d", prefix, i),
			Type:    "post",
			Room:    "room" + fmt.Sprint(i%3),
			Actor:   "alice@example.org",
			Time:    base.Add(time.Duration(i) * time.Second),
			Payload: []byte(fmt.Sprintf(`{"body":"message %d"}`, i)),
		}
	}
	return evs
}

// readAll returns every captured event, in Seq order, paging by pageSize.
func readAll(t *testing.T, s storage.ComplianceStore, pageSize int) []storage.ComplianceEvent {
	t.Helper()
	var out []storage.ComplianceEvent
	after := int64(0)
	for {
		page, err := s.ComplianceEvents(t.Context(), after, pageSize)
		if err != nil {
			t.Fatalf("ComplianceEvents(%d, %d): %v", after, pageSize, err)
		}
		out = append(out, page...)
		if len(page) < pageSize {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

func eventIDs[E storage.ComplianceEvent | storage.OutboxEvent](evs []E) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		switch ev := any(ev).(type) {
		case storage.ComplianceEvent:
			out[i] = ev.EventID
		case storage.OutboxEvent:
			out[i] = ev.EventID
		}
	}
	return out
}

func testCaptureInOrder(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	evs := outboxEvents("a", 10, 25)
	evs[3].Payload = nil // an event without detail
	// Copied in two batches, as the worker does; the second in an order
	// that is not the IDs' (a late commit on MySQL).
	if n, err := s.CaptureEvents(ctx, evs[:10]); err != nil || n != 10 {
		t.Fatalf("CaptureEvents(first 10) = %d, %v; want 10", n, err)
	}
	second := slices.Clone(evs[10:])
	second[0], second[1] = second[1], second[0]
	if n, err := s.CaptureEvents(ctx, second); err != nil || n != 15 {
		t.Fatalf("CaptureEvents(next 15) = %d, %v; want 15", n, err)
	}
	want := append(slices.Clone(evs[:10]), second...)

	got := readAll(t, s, 7)
	if !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Fatalf("captured %v, want %v (in capture order)", eventIDs(got), eventIDs(want))
	}
	for i, g := range got {
		w := want[i]
		if i > 0 && g.Seq <= got[i-1].Seq {
			t.Errorf("event %d: seq %d not after %d", i, g.Seq, got[i-1].Seq)
		}
		if g.OutboxID != w.ID || g.Type != w.Type || g.Room != w.Room || g.Actor != w.Actor ||
			!g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || string(g.Payload) != string(w.Payload) {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
		if g.CapturedAt.Before(before) || g.CapturedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d captured at %v, want about now", i, g.CapturedAt)
		}
	}
	if n, err := s.CountComplianceEvents(ctx); err != nil || n != 25 {
		t.Errorf("CountComplianceEvents = %d, %v; want 25", n, err)
	}
	if page, err := s.ComplianceEvents(ctx, got[len(got)-1].Seq, 10); err != nil || len(page) != 0 {
		t.Errorf("ComplianceEvents after the last = %d events, %v; want none", len(page), err)
	}
	if _, err := s.ComplianceEvents(ctx, 0, 0); err == nil {
		t.Error("ComplianceEvents with limit 0: no error")
	}

	// Everything survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openCompliance(t, open)
	if again := readAll(t, s, 100); !slices.Equal(eventIDs(again), eventIDs(want)) {
		t.Errorf("after reopen: %v, want %v", eventIDs(again), eventIDs(want))
	}
}

func testCaptureOnce(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	evs := outboxEvents("b", 1, 2500) // more than one statement's rows
	if n, err := s.CaptureEvents(ctx, evs[:1200]); err != nil || n != 1200 {
		t.Fatalf("CaptureEvents(1200) = %d, %v", n, err)
	}
	// A worker that died before deleting from the outbox copies the same
	// events again, now with the rest: only the rest is new.
	if n, err := s.CaptureEvents(ctx, evs); err != nil || n != 1300 {
		t.Fatalf("CaptureEvents(all 2500 again) = %d, %v; want 1300 new", n, err)
	}
	if n, err := s.CaptureEvents(ctx, evs); err != nil || n != 0 {
		t.Fatalf("CaptureEvents(all again) = %d, %v; want 0 new", n, err)
	}
	got := readAll(t, s, 1000)
	if !slices.Equal(eventIDs(got), eventIDs(evs)) {
		t.Fatalf("captured %d events, want the %d once each in order", len(got), len(evs))
	}
	if n, err := s.CaptureEvents(ctx, nil); err != nil || n != 0 {
		t.Errorf("CaptureEvents(nil) = %d, %v", n, err)
	}
}

func testCaptureChecks(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	bad := []func(*storage.OutboxEvent){
		func(ev *storage.OutboxEvent) { ev.Time = time.Time{} },
		func(ev *storage.OutboxEvent) { ev.EventID = "" },
		func(ev *storage.OutboxEvent) { ev.Type = "" },
		func(ev *storage.OutboxEvent) { ev.Payload = []byte("{not json") },
		func(ev *storage.OutboxEvent) { ev.Room = string([]byte{0xff}) },
		func(ev *storage.OutboxEvent) { ev.Target = strings.Repeat("t", storage.MaxJIDLength+1) },
	}
	for i, spoil := range bad {
		evs := outboxEvents(fmt.Sprintf("c%d", i), 1, 3)
		spoil(&evs[2])
		if _, err := s.CaptureEvents(ctx, evs); err == nil {
			t.Errorf("bad event %d: no error", i)
		}
	}
	if n, err := s.CountComplianceEvents(ctx); err != nil || n != 0 {
		t.Errorf("after refused batches: %d events, %v; want none at all", n, err)
	}
}

func testLeaseExclusive(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	const name = "compliance-worker"
	if l, now, err := s.Lease(ctx, name); err != nil || l.Holder != "" || !l.Expires.IsZero() || now.IsZero() {
		t.Fatalf("Lease before any = %+v, %v, %v; want free", l, now, err)
	}
	l1, held, err := s.AcquireLease(ctx, name, "node-a", time.Minute)
	if err != nil || !held || l1.Holder != "node-a" || time.Until(l1.Expires) < 50*time.Second {
		t.Fatalf("node-a AcquireLease = %+v, %v, %v; want held for a minute", l1, held, err)
	}
	l2, held, err := s.AcquireLease(ctx, name, "node-b", time.Minute)
	if err != nil || held || l2.Holder != "node-a" || !l2.Expires.Equal(l1.Expires) {
		t.Fatalf("node-b AcquireLease = %+v, %v, %v; want node-a's lease, not held", l2, held, err)
	}
	time.Sleep(5 * time.Millisecond)
	l3, held, err := s.AcquireLease(ctx, name, "node-a", time.Minute)
	if err != nil || !held || !l3.Expires.After(l1.Expires) {
		t.Fatalf("node-a renews = %+v, %v, %v; want held, expiring later than %v", l3, held, err, l1.Expires)
	}
	if l, now, err := s.Lease(ctx, name); err != nil || l.Holder != "node-a" || !l.Expires.Equal(l3.Expires) || !l.Held("node-a", now) {
		t.Errorf("Lease = %+v at %v, %v; want node-a's until %v", l, now, err, l3.Expires)
	}
	// Releasing someone else's lease does nothing; one's own frees it.
	if err := s.ReleaseLease(ctx, name, "node-b"); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := s.Lease(ctx, name); l.Holder != "node-a" {
		t.Errorf("node-b released node-a's lease: %+v", l)
	}
	if err := s.ReleaseLease(ctx, name, "node-a"); err != nil {
		t.Fatal(err)
	}
	if l, _, err := s.Lease(ctx, name); err != nil || l.Holder != "" {
		t.Errorf("Lease after release = %+v, %v; want free", l, err)
	}
	if l, held, err := s.AcquireLease(ctx, name, "node-b", time.Minute); err != nil || !held || l.Holder != "node-b" {
		t.Errorf("node-b after release = %+v, %v, %v; want held", l, held, err)
	}
	// Leases are independent by name.
	if _, held, err := s.AcquireLease(ctx, "other", "node-a", time.Minute); err != nil || !held {
		t.Errorf("node-a takes another lease: %v, %v", held, err)
	}
	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "x", time.Second}, {name, "", time.Second}, {name, "x", 0}} {
		if _, _, err := s.AcquireLease(ctx, bad.name, bad.holder, bad.ttl); err == nil {
			t.Errorf("AcquireLease(%q, %q, %v): no error", bad.name, bad.holder, bad.ttl)
		}
	}
}

func testLeaseExpiry(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	const name, ttl = "compliance-worker", 300 * time.Millisecond
	if _, held, err := s.AcquireLease(ctx, name, "node-a", ttl); err != nil || !held {
		t.Fatalf("node-a: %v, %v", held, err)
	}
	if _, held, _ := s.AcquireLease(ctx, name, "node-b", ttl); held {
		t.Fatal("node-b took a valid lease")
	}
	time.Sleep(ttl + 100*time.Millisecond) // node-a died
	l, held, err := s.AcquireLease(ctx, name, "node-b", time.Minute)
	if err != nil || !held || l.Holder != "node-b" {
		t.Fatalf("node-b after expiry = %+v, %v, %v; want held", l, held, err)
	}
	if _, held, _ := s.AcquireLease(ctx, name, "node-a", ttl); held {
		t.Error("node-a, back, took node-b's lease")
	}
}

func testLeaseConcurrent(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	const takers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		holders []string
	)
	for i := range takers {
		wg.Go(func() {
			holder := fmt.Sprintf("node-%d", i)
			_, held, err := s.AcquireLease(t.Context(), "race", holder, time.Minute)
			if err != nil {
				t.Errorf("%s: %v", holder, err)
				return
			}
			if held {
				mu.Lock()
				holders = append(holders, holder)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(holders) != 1 {
		t.Fatalf("%d takers hold the lease (%v), want exactly one", len(holders), holders)
	}
	if l, _, err := s.Lease(t.Context(), "race"); err != nil || l.Holder != holders[0] {
		t.Errorf("Lease = %+v, %v; want %s's", l, err, holders[0])
	}
}

// outboxStatsTests belong to Run: the content store measures its outbox
// for the compliance worker (storage.ComplianceOutbox).
var outboxStatsTests = []test{
	{"OutboxStats", func(t *testing.T, e *env) {
		ob, ok := e.store.(storage.ComplianceOutbox)
		if !ok {
			t.Fatalf("%T does not implement storage.ComplianceOutbox", e.store)
		}
		if st, err := ob.OutboxStats(e.ctx); err != nil || st.Events != 0 || !st.Oldest.IsZero() {
			t.Fatalf("OutboxStats of an empty outbox = %+v, %v", st, err)
		}
		first := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		evs := outboxEvents("s", 0, 3)
		for i := range evs {
			evs[i].ID = 0
			evs[i].Time = first.Add(time.Duration(i) * time.Minute)
		}
		if err := ob.AppendOutbox(e.ctx, evs...); err != nil {
			t.Fatal(err)
		}
		st, err := ob.OutboxStats(e.ctx)
		if err != nil || st.Events != 3 || !st.Oldest.Equal(first) {
			t.Fatalf("OutboxStats = %+v, %v; want 3 events, oldest %v", st, err, first)
		}
		read, err := ob.ReadOutbox(e.ctx, 0, 1)
		if err != nil || len(read) != 1 {
			t.Fatal(read, err)
		}
		if err := ob.DeleteOutbox(e.ctx, read[0].ID); err != nil {
			t.Fatal(err)
		}
		if st, err := ob.OutboxStats(e.ctx); err != nil || st.Events != 2 || !st.Oldest.Equal(first.Add(time.Minute)) {
			t.Errorf("OutboxStats after deleting the first = %+v, %v", st, err)
		}
	}},
}

func testQueryComplianceEvents(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	// 60 events a second apart over rooms room0..room2, by alice and bob;
	// events 10 and 11 happened at the same instant, and the batch is
	// captured out of time order, so that Seq order is not Time order.
	evs := outboxEvents("q", 1, 60)
	for i := range evs {
		if i%2 == 1 {
			evs[i].Actor = "bob@example.org"
		}
	}
	evs[11].Time = evs[10].Time
	evs[5].Room, evs[6].Room = "", "" // outside rooms
	// alice kicks carol in event 12, bob invites her in 13.
	evs[12].Target, evs[13].Target = "carol@example.org", "carol@example.org"
	evs[20], evs[30] = evs[30], evs[20]
	if _, err := s.CaptureEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	base := outboxEvents("q", 1, 1)[0].Time
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

	// query pages through q with pages of 4 and returns the event ids.
	query := func(q storage.ComplianceQuery) []string {
		t.Helper()
		q.Limit = 4
		var ids []string
		for {
			page, err := s.QueryComplianceEvents(ctx, q)
			if err != nil {
				t.Fatalf("QueryComplianceEvents(%+v): %v", q, err)
			}
			for i, ev := range page {
				if i > 0 && (ev.Time.Before(page[i-1].Time) || ev.Time.Equal(page[i-1].Time) && ev.Seq <= page[i-1].Seq) {
					t.Errorf("page not in (Time, Seq) order at %s", ev.EventID)
				}
				ids = append(ids, ev.EventID)
			}
			if len(page) < q.Limit {
				return ids
			}
			q.AfterTime, q.AfterSeq = page[len(page)-1].Time, page[len(page)-1].Seq
		}
	}
	// want lists the ids of the events, in time order, that keep says.
	want := func(keep func(i int, ev storage.OutboxEvent) bool) []string {
		var ids []string
		for i := range 60 {
			j := i
			if i == 20 || i == 30 {
				j = 50 - i // swapped in the capture, not in time
			}
			if ev := evs[j]; keep(j, ev) {
				ids = append(ids, ev.EventID)
			}
		}
		return ids
	}
	all := func(int, storage.OutboxEvent) bool { return true }
	for _, tc := range []struct {
		name string
		q    storage.ComplianceQuery
		keep func(i int, ev storage.OutboxEvent) bool
	}{
		{"all", storage.ComplianceQuery{}, all},
		{"range", storage.ComplianceQuery{From: at(10), To: at(25)}, func(i int, ev storage.OutboxEvent) bool {
			return !ev.Time.Before(at(10)) && ev.Time.Before(at(25))
		}},
		{"from", storage.ComplianceQuery{From: at(50)}, func(i int, ev storage.OutboxEvent) bool { return !ev.Time.Before(at(50)) }},
		{"room", storage.ComplianceQuery{Room: "room1"}, func(i int, ev storage.OutboxEvent) bool { return ev.Room == "room1" }},
		{"actor", storage.ComplianceQuery{Actor: "bob@example.org", To: at(40)}, func(i int, ev storage.OutboxEvent) bool {
			return ev.Actor == "bob@example.org" && ev.Time.Before(at(40))
		}},
		{"room and actor", storage.ComplianceQuery{Room: "room2", Actor: "alice@example.org"}, func(i int, ev storage.OutboxEvent) bool {
			return ev.Room == "room2" && ev.Actor == "alice@example.org"
		}},
		{"outside rooms", storage.ComplianceQuery{OutsideRooms: true}, func(i int, ev storage.OutboxEvent) bool { return ev.Room == "" }},
		{"nobody", storage.ComplianceQuery{Actor: "carol@example.org"}, func(int, storage.OutboxEvent) bool { return false }},
		{"user as target", storage.ComplianceQuery{User: "carol@example.org"}, func(i int, ev storage.OutboxEvent) bool {
			return ev.Target == "carol@example.org"
		}},
		{"user as actor or target", storage.ComplianceQuery{User: "alice@example.org", To: at(20)}, func(i int, ev storage.OutboxEvent) bool {
			return (ev.Actor == "alice@example.org" || ev.Target == "alice@example.org") && ev.Time.Before(at(20))
		}},
	} {
		got, w := query(tc.q), want(tc.keep)
		if !slices.Equal(got, w) {
			t.Errorf("%s: got %v, want %v", tc.name, got, w)
		}
		tally, err := s.TallyComplianceEvents(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: TallyComplianceEvents: %v", tc.name, err)
		}
		counts := map[[2]string]int64{}
		for _, id := range w {
			for _, ev := range evs {
				if ev.EventID == id {
					counts[[2]string{ev.Room, ev.Actor}]++
				}
			}
		}
		if len(tally) != len(counts) {
			t.Errorf("%s: tally %+v, want %v", tc.name, tally, counts)
		}
		for i, tl := range tally {
			if counts[[2]string{tl.Room, tl.Actor}] != tl.Events {
				t.Errorf("%s: tally %+v, want %d", tc.name, tl, counts[[2]string{tl.Room, tl.Actor}])
			}
			if i > 0 && (tl.Room < tally[i-1].Room || tl.Room == tally[i-1].Room && tl.Actor <= tally[i-1].Actor) {
				t.Errorf("%s: tally not ordered by room and actor: %+v", tc.name, tally)
			}
		}
	}
	for _, ev := range readAll(t, s, 100) {
		want := ""
		if ev.EventID == evs[12].EventID || ev.EventID == evs[13].EventID {
			want = "carol@example.org"
		}
		if ev.Target != want {
			t.Errorf("event %s: Target %q, want %q", ev.EventID, ev.Target, want)
		}
	}
	for _, bad := range []storage.ComplianceQuery{
		{Limit: 0},
		{Limit: 1, User: string([]byte{0xff})},
		{Limit: 1, From: at(5), To: at(4)},
		{Limit: 1, Room: string([]byte{0xff})},
		{Limit: 1, Room: "room1", OutsideRooms: true},
	} {
		if _, err := s.QueryComplianceEvents(ctx, bad); err == nil {
			t.Errorf("QueryComplianceEvents(%+v): no error", bad)
		}
	}
}

func testAdapterPosition(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	if p, err := s.AdapterPosition(ctx, "xml"); err != nil || p != (storage.AdapterPosition{Name: "xml"}) {
		t.Fatalf("AdapterPosition before any = %+v, %v; want zero", p, err)
	}
	before := time.Now().Add(-time.Second)
	if err := s.SetAdapterPosition(ctx, storage.AdapterPosition{Name: "xml", Seq: 0, Pending: 40}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdapterPosition(ctx, storage.AdapterPosition{Name: "xml", Seq: 40, Pending: 40}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdapterPosition(ctx, storage.AdapterPosition{Name: "jsonl", Seq: 7, Pending: 9}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openCompliance(t, open)
	p, err := s.AdapterPosition(ctx, "xml")
	if err != nil || p.Seq != 40 || p.Pending != 40 || p.Updated.Before(before) || p.Updated.After(time.Now().Add(time.Second)) {
		t.Errorf("AdapterPosition(xml) = %+v, %v; want 40/40 updated about now", p, err)
	}
	if p, err := s.AdapterPosition(ctx, "jsonl"); err != nil || p.Seq != 7 || p.Pending != 9 {
		t.Errorf("AdapterPosition(jsonl) = %+v, %v; want 7/9", p, err)
	}
	// The last run is kept with the position; AdapterPositions lists
	// every adapter by name.
	ran := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	run := storage.AdapterRun{At: ran, Events: 40, File: "/var/lib/parley/compliance/parley-compliance-1-40.xml", Error: "disk full ✗"}
	if err := s.SetAdapterPosition(ctx, storage.AdapterPosition{Name: "xml", Seq: 40, Pending: 40, LastRun: run}); err != nil {
		t.Fatal(err)
	}
	all, err := s.AdapterPositions(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "jsonl" || all[1].Name != "xml" {
		t.Fatalf("AdapterPositions = %+v, %v; want jsonl and xml", all, err)
	}
	if got := all[1].LastRun; !got.At.Equal(ran) || got.Events != run.Events || got.File != run.File || got.Error != run.Error {
		t.Errorf("xml's last run = %+v, want %+v", got, run)
	}
	if !all[0].LastRun.At.IsZero() {
		t.Errorf("jsonl never ran, but its last run is %+v", all[0].LastRun)
	}
	if p, err := s.AdapterPosition(ctx, "xml"); err != nil || !p.LastRun.At.Equal(ran) || p.Seq != 40 {
		t.Errorf("AdapterPosition(xml) = %+v, %v", p, err)
	}
	long := storage.AdapterRun{At: ran, Error: strings.Repeat("x", storage.MaxAdapterRunText+1)}
	for _, bad := range []storage.AdapterPosition{{Name: ""}, {Name: "x", Seq: -1}, {Name: "x", LastRun: long},
		{Name: "x", LastRun: storage.AdapterRun{Events: -1}}} {
		if err := s.SetAdapterPosition(ctx, bad); err == nil {
			t.Errorf("SetAdapterPosition(%+v): no error", bad)
		}
	}
}
