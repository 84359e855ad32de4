package compliance

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// TestRetention purges only old, unheld content, in batches, each batch
// captured; holds on a room and on a user protect; room clear and message
// remove are captured; on SQLite and MySQL.
func TestRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		ctx := t.Context()
		cstore := openCompliance()
		now := time.Now().UTC().Truncate(time.Second)
		e, err := muc.New(ctx, muc.Config{Store: content, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []storage.Category{{Name: "short", RetentionDays: 10, ChatHistory: true}, {Name: "forever", ChatHistory: true}} {
			if err := content.PutCategory(ctx, c, outboxEvent("category.put", "")); err != nil {
				t.Fatal(err)
			}
		}
		for room, cat := range map[string]string{"r1": "short", "r2": "short", "r3": "forever"} {
			if err := content.CreateRoom(ctx, storage.Room{Name: room, Category: cat, WhoIs: "moderators", ChangeSubject: "moderators", AllowPM: "anyone"}, nil, outboxEvent("room.create", room)); err != nil {
				t.Fatal(err)
			}
		}
		var posts []storage.PostWrite
		for _, room := range []string{"r1", "r2", "r3"} {
			for _, nick := range []string{"ann", "bob"} {
				for i, age := range []time.Duration{20 * 24 * time.Hour, 15 * 24 * time.Hour, 11 * 24 * time.Hour, 12 * time.Hour} {
					posts = append(posts, storage.PostWrite{
						History: &storage.HistoryMessage{Room: room, StanzaID: fmt.Sprintf("%s-%s-%d", room, nick, i), Nick: nick,
							RealJID: nick + "@example.org", FrontDoor: "xmpp", Kind: storage.KindPost, Body: "hello " + nick, Time: now.Add(-age)},
						Event: outboxEvent("post", room)})
				}
			}
		}
		if _, err := content.AppendHistory(ctx, posts); err != nil {
			t.Fatal(err)
		}
		if err := e.PutHold(ctx, muc.ActorAdmin, storage.Hold{Kind: storage.HoldRoom, Name: "r2", Reason: "case 1"}); err != nil {
			t.Fatal(err)
		}
		if err := e.PutHold(ctx, muc.ActorAdmin, storage.Hold{Kind: storage.HoldUser, Name: "bob@example.org"}); err != nil {
			t.Fatal(err)
		}
		// Compliance events: old ones by ann in r1 and r3, by bob, and in r2.
		var old []storage.OutboxEvent
		for i, ev := range []struct{ room, actor string }{{"r1", "ann@example.org"}, {"r3", "ann@example.org"}, {"r1", "bob@example.org"}, {"r2", "ann@example.org"}, {"", "ann@example.org"}} {
			old = append(old, storage.OutboxEvent{ID: int64(i + 1), EventID: fmt.Sprintf("old-%d", i), Type: "post", Room: ev.room, Actor: ev.actor, Time: now.Add(-100 * 24 * time.Hour)})
		}
		if _, err := cstore.CaptureEvents(ctx, old); err != nil {
			t.Fatal(err)
		}

		r, err := NewRetentionRunner(RetentionConfig{Content: content.(RetentionContent), Compliance: cstore, Holder: "n1",
			ComplianceRetention: 30 * 24 * time.Hour, Batch: 2, Pause: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// r1: ann's three old posts; r2 held; r3 forever; bob held.
		if res.History != 3 || res.ComplianceEvents != 3 {
			t.Errorf("RunOnce = %+v, want 3 history rows and 3 compliance events", res)
		}
		for room, want := range map[string]int{"r1": 5, "r2": 8, "r3": 8} {
			if n, err := content.CountHistory(ctx, storage.HistoryQuery{Room: room, Limit: 1}); err != nil || n != want {
				t.Errorf("%s keeps %d rows (%v), want %d", room, n, err, want)
			}
		}
		if n, err := cstore.CountComplianceEvents(ctx); err != nil || n != 2 {
			t.Errorf("compliance keeps %d events (%v), want 2 (bob's, r2's)", n, err)
		}
		// Room clear: r3 before now: ann's 4 rows (bob held); r2 held.
		if n, err := e.ClearRoom(ctx, muc.ActorAdmin, "r3", now); err != nil || n != 4 {
			t.Errorf("ClearRoom(r3) = %d, %v; want 4", n, err)
		}
		if n, err := e.ClearRoom(ctx, muc.ActorAdmin, "r2", now); err != nil || n != 0 {
			t.Errorf("ClearRoom(held r2) = %d, %v; want 0", n, err)
		}
		if err := e.RemoveMessage(ctx, muc.ActorAdmin, "r1", "r1-bob-3", "[removed]"); err != nil {
			t.Fatal(err)
		}
		m, err := content.HistoryByStanzaID(ctx, "r1", "r1-bob-3")
		if err != nil || !m.Tombstone || m.Body != "[removed]" {
			t.Errorf("removed message = %+v, %v", m, err)
		}
		if err := e.RemoveMessage(ctx, muc.ActorAdmin, "r1", "nosuch", ""); muc.CodeOf(err) != muc.CodeNotFound {
			t.Errorf("RemoveMessage(nosuch) = %v", err)
		}
		if err := e.DeleteHold(ctx, muc.ActorAdmin, storage.HoldRoom, "r2", ""); err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		evs, err := content.ReadOutbox(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			counts[ev.Type]++
		}
		want := map[string]int{"hold.add": 2, "hold.remove": 1, "retention.purge": 2, "compliance.purge": 2, "room.clear": 1, "message.remove": 1}
		for typ, n := range want {
			if counts[typ] != n {
				t.Errorf("%d %s events, want %d (all: %v)", counts[typ], typ, n, counts)
			}
		}
	})
}

func outboxEvent(typ, room string) storage.OutboxEvent {
	return storage.OutboxEvent{EventID: fmt.Sprintf("%s-%s-%d", typ, room, time.Now().UnixNano()), Type: typ, Room: room, Actor: "admin@example.org"}
}

// TestArchiveRetention purges the accounts' own archives like room
// history: only what is older than ArchiveRetention, keeping a held
// account's archive and a held user's messages in anyone's, each batch
// captured as an archive.purge event; on SQLite and MySQL.
func TestArchiveRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		ctx := t.Context()
		now := time.Now().UTC()
		for _, u := range []string{"ann", "bob", "cid"} {
			if err := content.CreateAccount(ctx, u, nil, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		var msgs []storage.ArchivedMessage
		for i, m := range []struct {
			owner, with string
			age         time.Duration
		}{
			{"ann", "cid@example.org", 40 * 24 * time.Hour}, // purged
			{"ann", "bob@example.org", 40 * 24 * time.Hour}, // bob is held: kept
			{"bob", "cid@example.org", 40 * 24 * time.Hour}, // bob's archive is held: kept
			{"cid", "ann@example.org", 40 * 24 * time.Hour}, // purged
			{"cid", "ann@example.org", 24 * time.Hour},      // young: kept
		} {
			msgs = append(msgs, storage.ArchivedMessage{Owner: m.owner, StanzaID: fmt.Sprintf("s%d", i), With: m.with,
				Body: "hello", Stanza: []byte("<message/>"), Time: now.Add(-m.age)})
		}
		if err := content.ArchiveMessages(ctx, msgs, nil); err != nil {
			t.Fatal(err)
		}
		if err := content.(RetentionContent).PutHold(ctx, storage.Hold{Kind: storage.HoldUser, Name: "bob@example.org", Actor: "admin"}, outboxEvent("hold.add", "")); err != nil {
			t.Fatal(err)
		}
		r, err := NewRetentionRunner(RetentionConfig{Content: content.(RetentionContent), ArchiveRetention: 30 * 24 * time.Hour,
			Domain: "example.org", Batch: 1, Pause: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.RunOnce(ctx)
		if err != nil || res.Archive != 2 {
			t.Fatalf("RunOnce = %+v, %v; want 2 archived messages purged", res, err)
		}
		for owner, want := range map[string]int{"ann": 1, "bob": 1, "cid": 1} {
			if n, err := content.CountArchived(ctx, storage.ArchiveQuery{Owner: owner}); err != nil || n != want {
				t.Errorf("%s's archive keeps %d (%v), want %d", owner, n, err, want)
			}
		}
		evs, err := content.ReadOutbox(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		purges := 0
		for _, ev := range evs {
			if ev.Type == "archive.purge" {
				purges++
			}
		}
		if purges != 2 {
			t.Errorf("%d archive.purge events, want one per batch of 1: 2", purges)
		}
	})
}
