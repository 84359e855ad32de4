package muc

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parleychat/parley/storage"
)

// seen describes the events a recorder got, one word each: "join" for
// EventJoined with the others it was shown, "<role> <nick>" for a
// presence (with its status codes), "message <body>" for a post.
func seen(r *recorder) []string {
	var out []string
	for _, ev := range r.take() {
		switch ev.Kind {
		case EventJoined:
			var others []string
			for _, o := range ev.Joined.Others {
				others = append(others, o.Nick)
			}
			slices.Sort(others)
			out = append(out, "joined ["+strings.Join(others, " ")+"]")
		case EventPresence:
			s := string(ev.Occupant.Role) + " " + ev.Occupant.Nick
			for _, c := range ev.Status {
				s += " " + strconv.Itoa(c)
			}
			out = append(out, s)
		case EventMessage:
			out = append(out, "message "+ev.Message.Body)
		case EventConfig:
			out = append(out, "config")
		default:
			out = append(out, "other")
		}
	}
	return out
}

func wantSeen(t *testing.T, who string, r *recorder, want ...string) {
	t.Helper()
	if got := seen(r); !slices.Equal(got, want) {
		t.Errorf("%s got %q, want %q", who, got, want)
	}
}

func (f *fixture) broadcastRoles(room string, roles ...Role) {
	f.t.Helper()
	if _, err := f.e.Configure(context.Background(), ActorAdmin, room, func(r *storage.Room) error {
		return SetBroadcastRoles(r, roles)
	}); err != nil {
		f.t.Fatal(err)
	}
}

func TestBroadcastRolesSetting(t *testing.T) {
	for _, c := range []struct {
		roles []Role
		want  string
	}{
		{[]Role{RoleModerator, RoleParticipant, RoleVisitor}, ""},
		{[]Role{RoleVisitor, RoleModerator, RoleVisitor}, "moderator,visitor"},
		{[]Role{RoleParticipant}, "participant"},
		{nil, "none"},
	} {
		var r storage.Room
		if err := SetBroadcastRoles(&r, c.roles); err != nil || r.PresenceBroadcast != c.want {
			t.Errorf("SetBroadcastRoles(%v) = %q, %v; want %q", c.roles, r.PresenceBroadcast, err, c.want)
		}
		back := BroadcastRoles(r)
		var again storage.Room
		if err := SetBroadcastRoles(&again, back); err != nil || again.PresenceBroadcast != c.want {
			t.Errorf("BroadcastRoles(%q) = %v, which sets %q", c.want, back, again.PresenceBroadcast)
		}
	}
	if got := BroadcastRoles(storage.Room{}); !slices.Equal(got, []Role{RoleModerator, RoleParticipant, RoleVisitor}) {
		t.Errorf("default broadcast roles %v, want all three", got)
	}
	var r storage.Room
	wantCode(t, SetBroadcastRoles(&r, []Role{RoleModerator, "owner"}), CodeBadRequest)
	wantCode(t, SetBroadcastRoles(&r, []Role{RoleNone}), CodeBadRequest)
}

// In a room that broadcasts moderators only, a participant's join, presence,
// nick change and leave reach its own session only; it is shown the
// moderators; posts still reach everyone; the count stays the full count.
func TestPresenceBroadcastModeratorsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("big", Open, Normal, []string{"boss@localhost"}, nil, nil)
	f.broadcastRoles("big", RoleModerator)

	boss := f.mustJoin("big", "boss@localhost", "boss")
	wantSeen(t, "boss", boss, "joined []")
	w := &recorder{}
	var first []string
	stop := f.e.Watch("big", "watcher@localhost", w, func(occ []Occupant) {
		for _, o := range occ {
			first = append(first, o.Nick)
		}
	})
	defer stop()
	alice := f.mustJoin("big", "alice@localhost", "alice")
	bob := f.mustJoin("big", "bob@localhost", "bob")
	wantSeen(t, "alice", alice, "joined [boss]")
	wantSeen(t, "bob", bob, "joined [boss]")
	wantSeen(t, "boss", boss)
	wantSeen(t, "watcher", w)

	if err := f.e.SetPresence(ctx, "big", "alice@localhost/alice", []byte("away")); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Join(ctx, JoinRequest{Room: "big", Nick: "bob2", User: "bob@localhost",
		Session: Session{Address: "bob@localhost/bob", Sink: bob}}); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "alice", alice, "participant alice")
	wantSeen(t, "bob", bob, "participant bob2 303")
	wantSeen(t, "boss", boss)

	// The moderator's presence is broadcast.
	if err := f.e.SetPresence(ctx, "big", "boss@localhost/boss", []byte("dnd")); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "alice", alice, "moderator boss")
	wantSeen(t, "bob", bob, "moderator boss")
	wantSeen(t, "watcher", w, "moderator boss")
	boss.take()

	if err := f.post("big", "alice@localhost", "alice", "hi"); err != nil {
		t.Fatalf("a participant whose presence is not broadcast posts: %v", err)
	}
	wantSeen(t, "boss", boss, "message hi")
	wantSeen(t, "bob", bob, "message hi")
	alice.take()
	w.take()

	if n := len(f.e.Occupants("big")); n != 3 {
		t.Errorf("Occupants: %d, want all 3", n)
	}
	var snap []string
	f.e.Snapshot("big", func(occ []Occupant) {
		for _, o := range occ {
			snap = append(snap, o.Nick)
		}
	})
	if !slices.Equal(snap, []string{"boss"}) || !slices.Equal(first, []string{"boss"}) {
		t.Errorf("watchers were shown %v then %v, want boss both times", first, snap)
	}

	if err := f.e.Leave(ctx, "big", "bob@localhost/bob", nil); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "bob", bob, "none bob2")
	wantSeen(t, "boss", boss)
	wantSeen(t, "alice", alice)
	wantSeen(t, "watcher", w)
}

// A role change across the line is a join for the others (now broadcast)
// or an unavailable presence (no longer broadcast); a kicked or banned
// occupant whose role is not broadcast still gets its own removal.
func TestPresenceBroadcastRoleChangesAndRemovals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("big", Open, Normal, []string{"boss@localhost"}, nil, nil)
	f.broadcastRoles("big", RoleModerator)
	boss := f.mustJoin("big", "boss@localhost", "boss")
	alice := f.mustJoin("big", "alice@localhost", "alice")
	bob := f.mustJoin("big", "bob@localhost", "bob")
	for _, r := range []*recorder{boss, alice, bob} {
		r.take()
	}

	if err := f.e.SetRole(ctx, "big", "boss@localhost/boss", "alice", RoleModerator, ""); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "alice", alice, "moderator alice")
	wantSeen(t, "boss", boss, "moderator alice")
	wantSeen(t, "bob", bob, "moderator alice")
	carol := f.mustJoin("big", "carol@localhost", "carol")
	wantSeen(t, "carol", carol, "joined [alice boss]")

	if err := f.e.SetRole(ctx, "big", "boss@localhost/boss", "alice", RoleParticipant, ""); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "alice", alice, "participant alice")
	wantSeen(t, "boss", boss, "none alice")
	wantSeen(t, "bob", bob, "none alice")
	wantSeen(t, "carol", carol, "none alice")

	// Participant to visitor: neither is broadcast.
	if err := f.e.SetRole(ctx, "big", "boss@localhost/boss", "carol", RoleVisitor, ""); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "carol", carol, "visitor carol")
	wantSeen(t, "boss", boss)
	wantSeen(t, "alice", alice)

	if err := f.e.SetRole(ctx, "big", "boss@localhost/boss", "bob", RoleNone, "bye"); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "bob", bob, "none bob 307")
	wantSeen(t, "boss", boss)
	wantSeen(t, "alice", alice)

	if err := f.e.SetAffiliation(ctx, "big", ActorAdmin, "carol@localhost", AffOutcast, ""); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "carol", carol, "none carol 301")
	wantSeen(t, "boss", boss)

	// Made an admin: a moderator now, broadcast.
	if err := f.e.SetAffiliation(ctx, "big", ActorAdmin, "alice@localhost", AffAdmin, ""); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "alice", alice, "moderator alice")
	wantSeen(t, "boss", boss, "moderator alice")
	if n := len(f.e.Occupants("big")); n != 2 {
		t.Errorf("Occupants after a kick and a ban: %d, want 2", n)
	}
}

// The default broadcasts everyone; changing the setting on a live room
// tells the others of the occupants whose visibility changed.
func TestPresenceBroadcastDefaultAndLiveChange(t *testing.T) {
	f := newFixture(t)
	f.createRoom("lobby", Open, Normal, []string{"boss@localhost"}, nil, nil)
	boss := f.mustJoin("lobby", "boss@localhost", "boss")
	alice := f.mustJoin("lobby", "alice@localhost", "alice")
	bob := f.mustJoin("lobby", "bob@localhost", "bob")
	wantSeen(t, "boss", boss, "joined []", "participant alice", "participant bob")
	wantSeen(t, "alice", alice, "joined [boss]", "participant bob")
	wantSeen(t, "bob", bob, "joined [alice boss]")

	f.broadcastRoles("lobby", RoleModerator)
	wantSeen(t, "boss", boss, "config", "none alice", "none bob")
	wantSeen(t, "alice", alice, "config", "none bob")
	wantSeen(t, "bob", bob, "config", "none alice")
	carol := f.mustJoin("lobby", "carol@localhost", "carol")
	wantSeen(t, "carol", carol, "joined [boss]")
	wantSeen(t, "boss", boss)

	f.broadcastRoles("lobby", RoleModerator, RoleParticipant, RoleVisitor)
	got := seen(boss)
	slices.Sort(got)
	if !slices.Equal(got, []string{"config", "participant alice", "participant bob", "participant carol"}) {
		t.Errorf("boss got %q when participants were broadcast again", got)
	}
	got = seen(carol)
	slices.Sort(got)
	if !slices.Equal(got, []string{"config", "participant alice", "participant bob"}) {
		t.Errorf("carol got %q when participants were broadcast again", got)
	}
}
