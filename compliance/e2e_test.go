package compliance

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// discard is a muc.Sink that drops what it gets.
type discard struct{}

func (discard) Deliver(muc.Event) {}

// TestEndToEnd: what the room engine does is in the compliance database,
// once each, in order, after the worker ran.
func TestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		ctx := t.Context()
		e, err := muc.New(ctx, muc.Config{Store: content, Logger: quietLogger(), Secret: []byte("test")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "lobby"}, Creator: muc.ActorAdmin, Privacy: muc.Open}); err != nil {
			t.Fatal(err)
		}
		const alice, address = "alice@localhost", "alice@localhost/phone"
		if err := e.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "alice", User: alice,
			Session: muc.Session{Address: address, FrontDoor: "xmpp", Sink: discard{}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Post(ctx, muc.PostRequest{Room: "lobby", Address: address, FrontDoor: "xmpp",
			Body: "hello, auditors", Stanza: []byte("<message>hello, auditors</message>")}); err != nil {
			t.Fatal(err)
		}
		if err := e.Leave(ctx, "lobby", address, nil); err != nil {
			t.Fatal(err)
		}
		written, err := content.ReadOutbox(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}

		store := openCompliance()
		w := newTestWorker(t, content, store, "node-a", nil)
		runWorker(t, w)
		eventually(t, 10*time.Second, "outbox not drained", func() bool { return outboxLen(t, content) == 0 })

		var got []storage.ComplianceEvent
		after := int64(0)
		for {
			page, err := store.ComplianceEvents(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Seq
		}
		// Everything the outbox held, in its order, once.
		var wantIDs, gotIDs []string
		for _, ev := range written {
			wantIDs = append(wantIDs, ev.EventID)
		}
		for _, ev := range got {
			gotIDs = append(gotIDs, ev.EventID)
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("captured %v, want the outbox's %v", gotIDs, wantIDs)
		}
		// Among them alice's join, post and leave, in that order.
		var alices []storage.ComplianceEvent
		for _, ev := range got {
			if ev.Actor == alice {
				alices = append(alices, ev)
			}
		}
		var types []string
		for _, ev := range alices {
			types = append(types, ev.Type)
			if ev.Room != "lobby" {
				t.Errorf("%s event in room %q", ev.Type, ev.Room)
			}
		}
		if !slices.Equal(types, []string{"join", "post", "leave"}) {
			t.Fatalf("alice's events %v, want [join post leave]", types)
		}
		var post struct {
			Body      string `json:"body"`
			FrontDoor string `json:"front_door"`
		}
		if err := json.Unmarshal(alices[1].Payload, &post); err != nil || post.Body != "hello, auditors" || post.FrontDoor != "xmpp" {
			t.Errorf("post payload %s (%v)", alices[1].Payload, err)
		}
		if n, err := store.CountComplianceEvents(ctx); err != nil || n != int64(len(written)) {
			t.Errorf("CountComplianceEvents = %d, %v; want %d", n, err, len(written))
		}
	})
}

func TestRecordSetting(t *testing.T) {
	content, _ := backends()[0].open(t)
	ctx := t.Context()
	state := filepath.Join(t.TempDir(), StateFile)
	steps := []struct {
		on       bool
		recorded bool
		previous string
	}{
		{true, true, "unknown"}, // first start
		{true, false, ""},       // restart, unchanged
		{false, true, "on"},     // turned off
		{false, false, ""},
		{true, true, "off"}, // on again
	}
	for i, s := range steps {
		recorded, err := RecordSetting(ctx, content, state, "node-a", s.on)
		if err != nil || recorded != s.recorded {
			t.Fatalf("step %d (on=%v): RecordSetting = %v, %v; want %v", i, s.on, recorded, err, s.recorded)
		}
		evs, err := content.ReadOutbox(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !s.recorded {
			continue
		}
		last := evs[len(evs)-1]
		wantType := EventDisable
		if s.on {
			wantType = EventEnable
		}
		var payload struct{ Node, Previous string }
		if err := json.Unmarshal(last.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if last.Type != wantType || last.Actor != SettingActor || payload.Node != "node-a" || payload.Previous != s.previous {
			t.Errorf("step %d: event %+v payload %+v; want %s, previous %s", i, last, payload, wantType, s.previous)
		}
	}
	evs, _ := content.ReadOutbox(ctx, 0, 100)
	if len(evs) != 3 {
		t.Errorf("%d setting events, want 3", len(evs))
	}
}
