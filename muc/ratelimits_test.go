package muc

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// Joins, archive queries and searches are limited per user and per
// minute (issue 18, item 3): past the burst a user is refused with
// resource-constraint until tokens come back, other users and the
// administrator are not affected, and refusals are counted by limit.
func TestPerUserRates(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e, err := New(context.Background(), Config{Store: f.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Secret: []byte("test"), Registerer: reg, Now: func() time.Time { return now },
		JoinsPerMinute: 3, ArchiveQueriesPerMinute: 4, SearchesPerMinute: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	ctx := context.Background()
	join := func(user string) error {
		return e.Join(ctx, JoinRequest{Room: "lobby", Nick: user[:5], User: user,
			Session: Session{Address: user + "/r", FrontDoor: "xmpp", Sink: joinedSink{make(chan Joined, 1)}}})
	}
	for i := range 3 {
		if err := join("alice@localhost"); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if err := join("alice@localhost"); CodeOf(err) != CodeResourceConstraint {
		t.Errorf("fourth join in a minute: %v, want resource-constraint", err)
	}
	if err := join("bobby@localhost"); err != nil {
		t.Errorf("another user's join: %v", err)
	}
	query := func(user, text string) error {
		_, _, err := e.History(ctx, user, "mam", storage.HistoryQuery{Room: "lobby", FullText: text, Limit: 5})
		return err
	}
	for i := range 4 {
		if err := query("alice@localhost", ""); err != nil {
			t.Fatalf("archive query %d: %v", i, err)
		}
	}
	if err := query("alice@localhost", ""); CodeOf(err) != CodeResourceConstraint {
		t.Errorf("fifth archive query: %v", err)
	}
	for i := range 2 {
		if err := query("alice@localhost", "word"); err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
	}
	if err := query("alice@localhost", "word"); CodeOf(err) != CodeResourceConstraint {
		t.Errorf("third search: %v", err)
	}
	if err := query(ActorAdmin, "word"); err != nil {
		t.Errorf("the administrator's search: %v", err)
	}
	// A minute later the buckets are full again.
	now = now.Add(time.Minute)
	if err := query("alice@localhost", "word"); err != nil {
		t.Errorf("search a minute later: %v", err)
	}
	got := gathered(t, reg)
	if got["parley_muc_rate_limited_total"] != 3 {
		t.Errorf("refusals counted: %v, want 3", got["parley_muc_rate_limited_total"])
	}
}

// Upload slots and the bytes they are for are limited per user and hour
// (issue 18, item 3): past either a slot is refused with
// resource-constraint; another user is not affected.
func TestUploadHourlyLimits(t *testing.T) {
	f := newFixture(t)
	files, err := NewFiles(f.e, FilesConfig{Store: f.store.(storage.FileStore), SlotsPerHour: 2, BytesPerHour: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "alice")
	f.mustJoin("lobby", "bobby@localhost", "bobby")
	ctx := context.Background()
	slot := func(user string, size int64) error {
		_, err := files.RequestSlot(ctx, SlotRequest{User: user, Name: "f.txt", Size: size, ContentType: "text/plain"})
		return err
	}
	if err := slot("alice@localhost", 100); err != nil {
		t.Fatal(err)
	}
	if err := slot("alice@localhost", 950); CodeOf(err) != CodeResourceConstraint {
		t.Errorf("a slot past the bytes an hour: %v, want resource-constraint", err)
	}
	if err := slot("bobby@localhost", 900); err != nil {
		t.Errorf("another user's slot: %v", err)
	}
	if err := slot("bobby@localhost", 10); err != nil {
		t.Errorf("bobby's second slot: %v", err)
	}
	if err := slot("bobby@localhost", 10); CodeOf(err) != CodeResourceConstraint {
		t.Errorf("a third slot in an hour: %v, want resource-constraint", err)
	}
}
