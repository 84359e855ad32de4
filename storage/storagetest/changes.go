package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// roomChangeTests check the room change log (storage.RoomChange): the
// changes that may affect who may be in a room are logged with them, in
// their transaction, in order; nothing else is; pruning.
var roomChangeTests = []test{
	{"LoggedWithTheirChanges", func(t *testing.T, e *env) {
		if last, err := e.store.LastRoomChange(e.ctx); err != nil || last != 0 {
			t.Fatalf("LastRoomChange of an empty log: %d, %v", last, err)
		}
		before := time.Now()
		e.putCategory("legal")
		r := e.createRoom("brief", "legal") // a new room has nobody in it: not logged
		if err := e.store.SetAffiliation(e.ctx, storage.Affiliation{Room: "brief", JID: "bob@example.org",
			Affiliation: storage.AffiliationMember}, event("affiliation", "brief")); err != nil {
			t.Fatal(err)
		}
		r.MembersOnly = true
		if err := e.store.UpdateRoom(e.ctx, r, event("room.config", "brief")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.DeleteRoom(e.ctx, "brief", event("room.delete", "brief")); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		got := e.roomChanges(0, 100)
		wantStrings(t, "RoomChanges", changeNames(got), []string{"category legal", "room brief", "room brief", "room brief"})
		for i, c := range got {
			wantTime(t, fmt.Sprintf("RoomChanges[%d].Time", i), c.Time, before, after)
			if i > 0 && c.ID <= got[i-1].ID {
				t.Errorf("RoomChanges not in ID order: %d after %d", c.ID, got[i-1].ID)
			}
		}
		if last, err := e.store.LastRoomChange(e.ctx); err != nil || last != got[3].ID {
			t.Errorf("LastRoomChange: %d, %v; want %d", last, err, got[3].ID)
		}
		wantStrings(t, "RoomChanges after the second", changeNames(e.roomChanges(got[1].ID, 100)), []string{"room brief", "room brief"})
		wantStrings(t, "RoomChanges limited to 1", changeNames(e.roomChanges(got[1].ID, 1)), []string{"room brief"})
		if _, err := e.store.RoomChanges(e.ctx, 0, 0); err == nil {
			t.Error("RoomChanges with limit 0: no error")
		}
		e.reopen()
		if n := len(e.roomChanges(0, 100)); n != 4 {
			t.Errorf("after a restart the log has %d changes, want 4", n)
		}
	}},

	{"NotLoggedWithoutTheChange", func(t *testing.T, e *env) {
		e.putCategory("general")
		r := e.createRoom("lobby", "general")
		start := e.roomChanges(0, 100)
		// Failed changes log nothing: an unknown room, an event id
		// already used (the change and its log entry roll back).
		err := e.store.SetAffiliation(e.ctx, storage.Affiliation{Room: "nowhere", JID: "bob@example.org",
			Affiliation: storage.AffiliationMember}, event("affiliation", "nowhere"))
		wantErrorIs(t, "SetAffiliation on an unknown room", err, storage.ErrNotFound)
		used := event("room.config", "lobby")
		if err := e.store.UpdateRoom(e.ctx, r, used); err != nil {
			t.Fatal(err)
		}
		r.Title = "renamed"
		if err := e.store.UpdateRoom(e.ctx, r, used); err == nil {
			t.Fatal("UpdateRoom with an event id already used: no error")
		}
		// Changes that affect nobody's access are not logged.
		e.post("lobby", "bob", "hello")
		if err := e.store.AppendOutbox(e.ctx, event("join", "lobby")); err != nil {
			t.Fatal(err)
		}
		got := e.roomChanges(0, 100)
		if len(got) != len(start)+1 {
			t.Errorf("log grew from %d to %d entries, want one (the update that committed): %v", len(start), len(got), changeNames(got))
		}
		if room, _ := e.store.Room(e.ctx, "lobby"); room.Title == "renamed" {
			t.Error("the failed update was stored")
		}
	}},

	{"Prune", func(t *testing.T, e *env) {
		e.putCategory("a")
		cut := time.Now()
		time.Sleep(2 * time.Millisecond)
		e.putCategory("b")
		n, err := e.store.PruneRoomChanges(e.ctx, cut)
		if err != nil || n != 1 {
			t.Fatalf("PruneRoomChanges: %d, %v; want 1", n, err)
		}
		left := e.roomChanges(0, 100)
		wantStrings(t, "after pruning", changeNames(left), []string{"category b"})
		if n, err := e.store.PruneRoomChanges(e.ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("PruneRoomChanges of everything: %d, %v; want 1", n, err)
		}
		if last, err := e.store.LastRoomChange(e.ctx); err != nil || last != 0 {
			t.Errorf("LastRoomChange of an empty log: %d, %v", last, err)
		}
		// IDs are never reused: a reader that saw b's ID sees the next.
		e.reopen()
		e.putCategory("c")
		if got := e.roomChanges(left[0].ID, 100); len(got) != 1 || got[0].Category != "c" {
			t.Errorf("after pruning everything, the next change is %v (after ID %d)", got, left[0].ID)
		}
	}},
}

func (e *env) roomChanges(after int64, limit int) []storage.RoomChange {
	e.t.Helper()
	got, err := e.store.RoomChanges(e.ctx, after, limit)
	if err != nil {
		e.t.Fatalf("RoomChanges(%d, %d): %v", after, limit, err)
	}
	return got
}

func changeNames(cs []storage.RoomChange) []string {
	var out []string
	for _, c := range cs {
		if c.Room != "" {
			out = append(out, "room "+c.Room)
		} else {
			out = append(out, "category "+c.Category)
		}
	}
	return out
}
