package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// Retention and legal hold (storage.RetentionStore,
// storage.ComplianceRetention).

var retentionTests = []test{
	{"CategoryRetentionDays", testCategoryRetentionDays},
	{"Holds", testHolds},
	{"PurgeHistory", testPurgeHistory},
	{"PurgeHistoryHolds", testPurgeHistoryHolds},
}

func (e *env) retention() storage.RetentionStore {
	e.t.Helper()
	r, ok := e.store.(storage.RetentionStore)
	if !ok {
		e.t.Fatalf("%T does not implement storage.RetentionStore", e.store)
	}
	return r
}

func testCategoryRetentionDays(t *testing.T, e *env) {
	c := storage.Category{Name: "kept", RetentionDays: 30}
	if err := e.store.PutCategory(e.ctx, c, event("category.put", "")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	got, err := e.store.Category(e.ctx, "kept")
	if err != nil || got.RetentionDays != 30 {
		t.Fatalf("Category = %d days, %v; want 30", got.RetentionDays, err)
	}
	c.RetentionDays = -1
	wantInvalid(t, "PutCategory(-1 days)", e.store.PutCategory(e.ctx, c, event("category.put", "")))
}

func testHolds(t *testing.T, e *env) {
	r := e.retention()
	before := len(e.outbox())
	for _, h := range []storage.Hold{
		{Kind: storage.HoldUser, Name: "bob@example.org", Reason: "case 12", Actor: "admin"},
		{Kind: storage.HoldRoom, Name: "design", Reason: "case 7", Actor: "admin"},
		{Kind: storage.HoldRoom, Name: "design", Reason: "case 7, again", Actor: "admin"},
	} {
		if err := r.PutHold(e.ctx, h, event("hold.add", "")); err != nil {
			t.Fatalf("PutHold(%+v): %v", h, err)
		}
	}
	wantInvalid(t, "PutHold(bad kind)", r.PutHold(e.ctx, storage.Hold{Kind: "team", Name: "x"}, event("hold.add", "")))
	e.reopen()
	r = e.retention()
	holds, err := r.Holds(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 2 || holds[0].Kind != storage.HoldRoom || holds[0].Reason != "case 7, again" ||
		holds[1].Name != "bob@example.org" || holds[1].Created.IsZero() {
		t.Fatalf("Holds = %+v", holds)
	}
	if err := r.DeleteHold(e.ctx, storage.HoldRoom, "design", event("hold.remove", "")); err != nil {
		t.Fatal(err)
	}
	wantErrorIs(t, "DeleteHold(again)", r.DeleteHold(e.ctx, storage.HoldRoom, "design", event("hold.remove", "")), storage.ErrNotFound)
	if got := len(e.outbox()) - before; got != 4 {
		t.Errorf("%d events written, want 4 (one per change)", got)
	}
}

// posts appends n posts to room by nick at minutes from, from+1, ….
func (e *env) postsAt(room, nick string, from, n int) {
	e.t.Helper()
	msgs := make([]*storage.HistoryMessage, n)
	for i := range msgs {
		msgs[i] = msg(room, nick, "old")
		msgs[i].Time = at(from + i)
	}
	e.append(msgs...)
}

func (e *env) purge(room string, before time.Time, limit int) (int, []time.Time) {
	e.t.Helper()
	var newest []time.Time
	n, err := e.retention().PurgeHistory(e.ctx, storage.HistoryPurge{Room: room, Before: before, Limit: limit,
		Event: func(n int, t time.Time) storage.OutboxEvent {
			newest = append(newest, t)
			return event("history.purge", room)
		}})
	if err != nil {
		e.t.Fatalf("PurgeHistory(%s): %v", room, err)
	}
	return n, newest
}

func (e *env) historyCount(room string) int {
	e.t.Helper()
	n, err := e.store.CountHistory(e.ctx, storage.HistoryQuery{Room: room, Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func testPurgeHistory(t *testing.T, e *env) {
	e.lobby("a", "b")
	e.postsAt("a", "ann", 0, 25) // minutes 0-24
	e.postsAt("a", "ann", 60, 5) // minutes 60-64
	e.postsAt("b", "ann", 0, 10) // another room
	e.append(msg("a", "ann", "searchable needle"))
	e.append(&storage.HistoryMessage{Room: "a", StanzaID: "old-needle", OccupantID: "o", Nick: "ann", RealJID: "ann@example.org",
		FrontDoor: "xmpp", Kind: storage.KindPost, Body: "ancient needle", Time: at(1)})
	before := len(e.outbox())

	total := 0
	for batch := 0; ; batch++ {
		n, newest := e.purge("a", at(30), 10)
		if n == 0 {
			if len(newest) != 0 {
				t.Fatal("an empty batch wrote an event")
			}
			break
		}
		if n > 10 || len(newest) != 1 {
			t.Fatalf("batch %d: %d rows, %d events", batch, n, len(newest))
		}
		total += n
	}
	if total != 26 {
		t.Errorf("purged %d rows, want 26 (25 + the ancient needle)", total)
	}
	if got := len(e.outbox()) - before; got != 3 {
		t.Errorf("%d events, want 3 (10 + 10 + 6)", got)
	}
	if n := e.historyCount("a"); n != 6 {
		t.Errorf("room a keeps %d rows, want 6", n)
	}
	if n := e.historyCount("b"); n != 10 {
		t.Errorf("room b keeps %d rows, want 10", n)
	}
	wantStrings(t, "search after purge", e.search("a", "needle"), []string{"searchable needle"})
	if n, _ := e.purge("nosuch", at(30), 10); n != 0 {
		t.Errorf("unknown room purged %d", n)
	}
	// The room goes on: the next post has the next seq.
	if m := e.post("a", "ann", "new"); m.Seq != 33 {
		t.Errorf("seq after purge = %d, want 33", m.Seq)
	}
}

func testPurgeHistoryHolds(t *testing.T, e *env) {
	r := e.retention()
	e.lobby("held", "open")
	e.postsAt("held", "ann", 0, 5)
	e.postsAt("open", "ann", 0, 5)
	e.postsAt("open", "bob", 0, 5)
	if err := r.PutHold(e.ctx, storage.Hold{Kind: storage.HoldRoom, Name: "held", Actor: "admin"}, event("hold.add", "")); err != nil {
		t.Fatal(err)
	}
	if err := r.PutHold(e.ctx, storage.Hold{Kind: storage.HoldUser, Name: "bob@example.org", Actor: "admin"}, event("hold.add", "")); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.purge("held", at(100), 100); n != 0 {
		t.Errorf("held room: purged %d", n)
	}
	if n, _ := e.purge("open", at(100), 100); n != 5 {
		t.Errorf("open room: purged %d, want ann's 5", n)
	}
	msgs, _ := e.query(storage.HistoryQuery{Room: "open", Limit: 100})
	if i := slices.IndexFunc(msgs, func(m storage.HistoryMessage) bool { return m.Nick != "bob" }); len(msgs) != 5 || i >= 0 {
		t.Errorf("open room keeps %d rows, want bob's 5", len(msgs))
	}
	if err := r.DeleteHold(e.ctx, storage.HoldRoom, "held", event("hold.remove", "")); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.purge("held", at(100), 100); n != 5 {
		t.Errorf("released room: purged %d, want 5", n)
	}
}

func testComplianceRetention(t *testing.T, open func() storage.ComplianceStore) {
	s := openCompliance(t, open)
	ctx := t.Context()
	cr, ok := s.(storage.ComplianceRetention)
	if !ok {
		t.Fatalf("%T does not implement storage.ComplianceRetention", s)
	}
	evs := outboxEvents("ret", 1, 30) // a second apart
	for i := range evs {
		switch i % 3 {
		case 1:
			evs[i].Room = "held"
		case 2:
			evs[i].Actor = "bob@example.org"
			evs[i].Room = "other"
		default:
			evs[i].Room, evs[i].Actor = "other", "ann@example.org"
		}
	}
	if _, err := s.CaptureEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cut := evs[20].Time // events 0-19 are older
	total := 0
	for {
		n, newest, err := cr.PurgeComplianceEvents(ctx, storage.ComplianceEventPurge{
			Before: cut, KeepRooms: []string{"held"}, KeepActors: []string{"bob@example.org"}, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if n > 3 || !newest.Before(cut) {
			t.Fatalf("batch of %d up to %v", n, newest)
		}
		total += n
	}
	// Of 0-19, those with i%3 == 0: 0, 3, …, 18.
	if total != 7 {
		t.Errorf("purged %d events, want 7", total)
	}
	if n, err := s.CountComplianceEvents(ctx); err != nil || n != 23 {
		t.Errorf("CountComplianceEvents = %d, %v; want 23", n, err)
	}
	if _, _, err := cr.PurgeComplianceEvents(ctx, storage.ComplianceEventPurge{Before: cut}); err == nil {
		t.Error("a purge without a limit was accepted")
	}
}
