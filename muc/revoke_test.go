package muc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// Revocation (revoke.go): a change of who may be in a room holds at once
// for the people inside it, wherever it was made. "Elsewhere" here is a
// second engine on its own connection to the same SQLite file, as
// parleyctl is (another process) — or another node of a pool.

// ctl opens a second store and engine on the fixture's database.
func (f *fixture) ctl() *Engine {
	f.t.Helper()
	_, e := f.openEngine()
	return e
}

// cursor starts reading the room change log from now, as FollowChanges
// does when it starts.
func (f *fixture) cursor() *changeCursor {
	f.t.Helper()
	last, err := f.store.LastRoomChange(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return &changeCursor{floor: last}
}

// apply applies the changes made since the cursor (one read of the log).
func (f *fixture) apply(cur *changeCursor) {
	f.t.Helper()
	if err := f.e.applyChanges(context.Background(), cur); err != nil {
		f.t.Fatalf("applying the room change log: %v", err)
	}
}

// removal returns the unavailable presence of nick in rec's events, if any.
func removedAs(evs []Event, nick string) (Event, bool) {
	for _, ev := range evs {
		if ev.Kind == EventPresence && ev.Occupant.Nick == nick && ev.Occupant.Role == RoleNone {
			return ev, true
		}
	}
	return Event{}, false
}

// wantRemoved checks that every recorder saw nick leave with status, and
// with the affiliation the status implies (XEP-0045 §9.1: outcast for a
// ban, else none).
func wantRemoved(t *testing.T, nick string, status int, recs ...*recorder) {
	t.Helper()
	aff := AffNone
	if status == StatusBanned {
		aff = AffOutcast
	}
	for i, rec := range recs {
		ev, ok := removedAs(rec.take(), nick)
		if !ok {
			t.Errorf("recorder %d: %s was not removed", i, nick)
			continue
		}
		if !slices.Equal(ev.Status, []int{status}) || ev.Occupant.Affiliation != aff {
			t.Errorf("recorder %d: %s removed with status %v as %s, want %d as %s", i, nick, ev.Status, ev.Occupant.Affiliation, status, aff)
		}
	}
}

// evictions lists the outbox's "evict" events as "user status cause".
func (f *fixture) evictions() []string {
	f.t.Helper()
	evs, err := f.store.ReadOutbox(context.Background(), 0, 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type != "evict" {
			continue
		}
		var p struct {
			User   string `json:"user"`
			Status int    `json:"status"`
			Cause  string `json:"cause"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", p.User, p.Status, p.Cause))
	}
	return out
}

// TestRevocationFromAnotherProcess: what parleyctl does from its own
// process reaches the occupants of a running engine through the room
// change log: a member removed (321), a ban (301), a category's wall
// (321), a room made members-only (322), disabled or deleted. Each removed
// occupant can no longer post or read the room, everyone in the room is
// told, watches of users who lost access end, and each removal is
// captured.
func TestRevocationFromAnotherProcess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ctl := f.ctl()
	a := f.alerts()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "legal", AllowedMembers: []string{"*"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "brief", Category: "legal"}, Creator: ActorAdmin,
		Privacy: Closed, Managers: []string{"boss@localhost"}, Members: []string{"bob@localhost", "eve@localhost"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "plaza", Category: "legal"}, Creator: ActorAdmin,
		Privacy: Open, Managers: []string{"boss@localhost"}}); err != nil {
		t.Fatal(err)
	}
	boss := f.mustJoin("brief", "boss@localhost", "boss")
	bob := f.mustJoin("brief", "bob@localhost", "bob")
	eve := f.mustJoin("brief", "eve@localhost", "eve")
	bossP := f.mustJoin("plaza", "boss@localhost", "boss")
	mallory := f.mustJoin("plaza", "mallory@localhost", "mallory")
	carol := f.mustJoin("plaza", "carol@localhost", "carol")
	if _, err := f.e.Follow(ctx, "bob@localhost", "brief", nil); err != nil {
		t.Fatal(err)
	}
	malloryWatch, carolWatch := &recorder{}, &recorder{}
	f.e.Watch("plaza", "mallory@localhost", malloryWatch, nil)
	f.e.Watch("plaza", "carol@localhost", carolWatch, nil)
	for _, r := range []*recorder{boss, bob, eve, bossP, mallory, carol} {
		r.take()
	}
	cur := f.cursor()

	// parleyctl room members remove brief bob
	if err := ctl.SetAffiliation(ctx, "brief", ActorAdmin, "bob@localhost", AffNone, ""); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	wantRemoved(t, "bob", StatusAffiliation, bob, boss, eve)
	wantCode(t, f.post("brief", "bob@localhost", "bob", "still here?"), CodeNotAcceptable)
	if err := f.post("brief", "boss@localhost", "boss", "bob is gone"); err != nil {
		t.Fatal(err)
	}
	if got := bob.bodies(); len(got) != 0 {
		t.Errorf("bob, removed, still gets posts: %q", got)
	}
	if got := eve.bodies(); !slices.Equal(got, []string{"bob is gone"}) {
		t.Errorf("eve got %q", got)
	}
	wantAlerts(t, a.take()) // bob follows brief: no alert either

	// A ban made elsewhere: 301.
	if err := ctl.SetAffiliation(ctx, "brief", ActorAdmin, "eve@localhost", AffOutcast, "leaks"); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	wantRemoved(t, "eve", StatusBanned, eve, boss)

	// parleyctl category set legal --deny mallory: the wall holds in the
	// open room, and mallory's watch of it ends; carol's goes on.
	cat, err := ctl.Category(ctx, "legal")
	if err != nil {
		t.Fatal(err)
	}
	cat.DeniedMembers = []string{"mallory@localhost"}
	if err := ctl.PutCategory(ctx, ActorAdmin, cat); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	wantRemoved(t, "mallory", StatusAffiliation, mallory, bossP, carol)
	if evs := malloryWatch.take(); len(evs) < 2 || evs[len(evs)-1].Kind != EventRevoked {
		t.Errorf("mallory's watch got %+v, want her removal and then EventRevoked", evs)
	}
	if err := f.post("plaza", "boss@localhost", "boss", "after the wall"); err != nil {
		t.Fatal(err)
	}
	if got := mallory.bodies(); len(got) != 0 {
		t.Errorf("mallory, walled off, still gets posts: %q", got)
	}
	if evs := malloryWatch.take(); len(evs) != 0 {
		t.Errorf("mallory's ended watch still gets events: %+v", evs)
	}
	if evs := carolWatch.take(); len(evs) == 0 || slices.ContainsFunc(evs, func(ev Event) bool { return ev.Kind == EventRevoked }) {
		t.Errorf("carol's watch got %+v, want the room's events and no EventRevoked", evs)
	}

	// parleyctl room set plaza --privacy closed: carol, no member, 322.
	if _, err := ctl.Configure(ctx, ActorAdmin, "plaza", func(r *storage.Room) error {
		SetPrivacy(r, Closed)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	wantRemoved(t, "carol", StatusMembersOnly, carol, bossP)
	if evs := carolWatch.take(); len(evs) == 0 || evs[len(evs)-1].Kind != EventRevoked {
		t.Errorf("carol's watch got %+v, want EventRevoked", evs)
	}
	if occ := f.e.Occupants("plaza"); len(occ) != 1 || occ[0].Nick != "boss" {
		t.Errorf("plaza occupants %+v, want boss alone", occ)
	}

	// Disabled, then deleted elsewhere: everyone is out.
	if _, err := ctl.Configure(ctx, ActorAdmin, "plaza", func(r *storage.Room) error {
		r.Disabled = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	if evs := bossP.take(); len(evs) == 0 || evs[len(evs)-1].Kind != EventDestroyed {
		t.Errorf("after plaza was disabled boss got %+v, want EventDestroyed", evs)
	}
	if err := ctl.Destroy(ctx, ActorAdmin, "brief", "case closed", ""); err != nil {
		t.Fatal(err)
	}
	f.apply(cur)
	if evs := boss.take(); len(evs) == 0 || evs[len(evs)-1].Kind != EventDestroyed {
		t.Errorf("after brief was deleted boss got %+v, want EventDestroyed", evs)
	}
	if rooms := f.e.HostedRooms(); len(rooms) != 0 {
		t.Errorf("live rooms left: %v", rooms)
	}

	wantStrings(t, f.evictions(), "bob@localhost 321 no longer a member", "eve@localhost 301 banned",
		"mallory@localhost 321 ethical wall", "carol@localhost 322 members only")
	if st := f.e.AccessStats(); st.Removals != 4 || st.Revoked != 2 || st.Changes < 6 {
		t.Errorf("AccessStats %+v, want 4 removals, 2 watches revoked, 6 changes or more", st)
	}
}

// TestWallHoldsBeforeTheLogIsRead: a wall or a room made members-only
// elsewhere holds at the room's next post or join even before the change
// log is read: whoever it shuts out is removed first and neither posts
// nor gets the post.
func TestWallHoldsBeforeTheLogIsRead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ctl := f.ctl()
	f.createRoom("plaza", Open, Normal, []string{"boss@localhost"}, []string{"amy@localhost"}, nil)
	boss := f.mustJoin("plaza", "boss@localhost", "boss")
	mallory := f.mustJoin("plaza", "mallory@localhost", "mallory")
	carol := f.mustJoin("plaza", "carol@localhost", "carol")
	amy := f.mustJoin("plaza", "amy@localhost", "amy")
	for _, r := range []*recorder{boss, mallory, carol, amy} {
		r.take()
	}

	cat, err := ctl.Category(ctx, DefaultCategory)
	if err != nil {
		t.Fatal(err)
	}
	cat.DeniedMembers = []string{"mallory@localhost"}
	if err := ctl.PutCategory(ctx, ActorAdmin, cat); err != nil {
		t.Fatal(err)
	}
	// mallory posts first: she is removed, her post refused.
	wantCode(t, f.post("plaza", "mallory@localhost", "mallory", "one last thing"), CodeNotAcceptable)
	wantRemoved(t, "mallory", StatusAffiliation, mallory, boss)
	if got := boss.bodies(); len(got) != 0 {
		t.Errorf("boss got %q", got)
	}

	if _, err := ctl.Configure(ctx, ActorAdmin, "plaza", func(r *storage.Room) error {
		SetPrivacy(r, Closed)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// boss posts: carol (no member) is removed with 322 before the post
	// is delivered; amy, a member, gets it.
	if err := f.post("plaza", "boss@localhost", "boss", "members only now"); err != nil {
		t.Fatal(err)
	}
	wantRemoved(t, "carol", StatusMembersOnly, carol)
	if got := carol.bodies(); len(got) != 0 {
		t.Errorf("carol got %q after the room closed", got)
	}
	if got := amy.bodies(); !slices.Equal(got, []string{"members only now"}) {
		t.Errorf("amy got %q", got)
	}
	_, err = f.join("plaza", "carol@localhost", "carol")
	wantCode(t, err, CodeRegistrationRequired)
}

// TestRevocationHere: changes made through the engine itself apply at
// once — a wall put on a category, a membership removed — and are
// captured.
func TestRevocationHere(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("brief", Closed, Normal, []string{"boss@localhost"}, []string{"bob@localhost"}, nil)
	f.createRoom("plaza", Open, Normal, []string{"boss@localhost"}, nil, nil)
	boss := f.mustJoin("plaza", "boss@localhost", "boss")
	mallory := f.mustJoin("plaza", "mallory@localhost", "mallory")
	bob := f.mustJoin("brief", "bob@localhost", "bob")
	cat, err := f.e.Category(ctx, DefaultCategory)
	if err != nil {
		t.Fatal(err)
	}
	cat.DeniedMembers = []string{"mallory@localhost"}
	if err := f.e.PutCategory(ctx, ActorAdmin, cat); err != nil {
		t.Fatal(err)
	}
	wantRemoved(t, "mallory", StatusAffiliation, mallory, boss)
	if err := f.e.SetAffiliation(ctx, "brief", "boss@localhost", "bob@localhost", AffNone, "reorg"); err != nil {
		t.Fatal(err)
	}
	evs := bob.take()
	ev, ok := removedAs(evs, "bob")
	if !ok || !slices.Equal(ev.Status, []int{StatusAffiliation}) || ev.Actor != "boss@localhost" || ev.Reason != "reorg" {
		t.Errorf("bob got %+v, want his removal with 321 by boss, reason reorg", evs)
	}
	wantStrings(t, f.evictions(), "mallory@localhost 321 ethical wall", "bob@localhost 321 no longer a member")
}

// TestResyncRefusesRevokedUsers: when a room moves to another host, its
// occupants' nodes declare them again (Resync); one whose user lost
// access meanwhile is not put back but told of its removal.
func TestResyncRefusesRevokedUsers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("brief", Closed, Normal, []string{"boss@localhost"}, []string{"bob@localhost"}, nil)
	boss := f.mustJoin("brief", "boss@localhost", "boss")
	boss.take()
	if err := f.ctl().SetAffiliation(ctx, "brief", ActorAdmin, "bob@localhost", AffNone, ""); err != nil {
		t.Fatal(err)
	}
	bob := &recorder{}
	if err := f.e.Resync(ctx, JoinRequest{Room: "brief", Nick: "bob", User: "bob@localhost",
		Session: Session{Address: "bob@localhost/bob", FrontDoor: "test", Sink: bob}}); err != nil {
		t.Fatal(err)
	}
	wantRemoved(t, "bob", StatusAffiliation, bob, boss)
	if _, in := f.e.Occupant("brief", "bob@localhost/bob"); in {
		t.Error("bob was put back into the room")
	}
	wantStrings(t, f.evictions(), "bob@localhost 321 no longer a member")
}

// TestFollowChanges: the loop the server runs applies changes made
// elsewhere and stops with its context.
func TestFollowChanges(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.createRoom("brief", Closed, Normal, []string{"boss@localhost"}, []string{"bob@localhost"}, nil)
	bob := f.mustJoin("brief", "bob@localhost", "bob")
	done := make(chan error, 1)
	go func() { done <- f.e.FollowChanges(ctx, 10*time.Millisecond) }()
	// Wait until it has started reading (it starts after the newest
	// entry so far).
	for deadline := time.Now().Add(10 * time.Second); f.e.AccessStats().Changes == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("FollowChanges applied nothing in 10 s")
		}
		if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "probe"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ctl().SetAffiliation(ctx, "brief", ActorAdmin, "bob@localhost", AffNone, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, in := f.e.Occupant("brief", "bob@localhost/bob"); !in {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob is still in the room 10 s after his membership was removed")
		}
	}
	wantRemoved(t, "bob", StatusAffiliation, bob)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowChanges: %v", err)
	}
}

// TestChangeCursor: entries are applied once each, in the order read;
// an ID missing below the newest read is waited for (a MySQL transaction
// committing late), then given up.
func TestChangeCursor(t *testing.T) {
	rows := func(ids ...int64) []storage.RoomChange {
		var out []storage.RoomChange
		for _, id := range ids {
			out = append(out, storage.RoomChange{ID: id, Room: fmt.Sprint(id)})
		}
		return out
	}
	ids := func(cs []storage.RoomChange) string {
		var s []string
		for _, c := range cs {
			s = append(s, fmt.Sprint(c.ID))
		}
		return strings.Join(s, " ")
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &changeCursor{floor: 10}
	if got := ids(c.take(rows(11, 12, 14), now)); got != "11 12 14" || c.floor != 12 {
		t.Errorf("first read: %q, floor %d; want 11 12 14, floor 12 (13 missing)", got, c.floor)
	}
	if got := ids(c.take(rows(13, 14, 15), now.Add(time.Second))); got != "13 15" || c.floor != 15 {
		t.Errorf("13 committed late: %q, floor %d; want 13 15, floor 15", got, c.floor)
	}
	if got := ids(c.take(rows(17), now)); got != "17" || c.floor != 15 {
		t.Errorf("16 missing: %q, floor %d", got, c.floor)
	}
	if got := ids(c.take(rows(17), now.Add(changeGapWait))); got != "" || c.floor != 17 {
		t.Errorf("16 given up: %q, floor %d; want nothing new, floor 17", got, c.floor)
	}
	if got := ids(c.take(rows(17+2*changeBatch), now)); got != fmt.Sprint(17+2*changeBatch) || c.floor != 17+2*changeBatch {
		t.Errorf("after pruning: %q, floor %d", got, c.floor)
	}
}
