package mysql_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

func poolEvent(typ, room string) storage.OutboxEvent {
	return storage.OutboxEvent{EventID: typ + "-" + room + "-" + time.Now().Format("150405.000000000"), Type: typ, Room: room, Actor: "test", Time: time.Now().UTC()}
}

// TestPoolFencing checks the pool's room host records: a claim bumps the
// epoch, a held room is refused unless the claimant may take it, and a
// post carrying a stale fence fails with ErrFenced and writes nothing.
func TestPoolFencing(t *testing.T) {
	ctx := t.Context()
	s := open(t, newTestServer(t).newDatabase(t))
	defer s.Close()
	if err := s.PutCategory(ctx, storage.Category{Name: "general", AllowedMembers: []string{"*"}, ChatHistory: true}, poolEvent("category.put", "")); err != nil {
		t.Fatal(err)
	}
	room := storage.Room{Name: "lobby", Category: "general", WhoIs: "moderators", ChangeSubject: "moderators", AllowPM: "anyone", Creator: "a@example.org"}
	if err := s.CreateRoom(ctx, room, nil, poolEvent("room.create", "lobby")); err != nil {
		t.Fatal(err)
	}

	if _, err := s.RoomHost(ctx, "lobby"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("RoomHost before any claim: %v, want ErrNotFound", err)
	}
	a, err := s.ClaimRoom(ctx, "lobby", "node-a", nil)
	if err != nil || a != (storage.HostFence{Node: "node-a", Epoch: 1}) {
		t.Fatalf("first claim = %+v, %v", a, err)
	}
	held, err := s.ClaimRoom(ctx, "lobby", "node-b", func(string) bool { return false })
	if !errors.Is(err, storage.ErrHeld) || held != a {
		t.Fatalf("claim of a held room = %+v, %v; want %+v, ErrHeld", held, err, a)
	}
	post := func(f storage.HostFence, body string) error {
		_, err := s.AppendHistory(ctx, []storage.PostWrite{{
			History: &storage.HistoryMessage{Room: "lobby", StanzaID: body, Nick: "n", RealJID: "n@example.org", FrontDoor: "xmpp", Kind: storage.KindPost, Body: body, Stanza: []byte("<message/>")},
			Event:   poolEvent("post", "lobby"),
			Fence:   &f,
		}})
		return err
	}
	if err := post(a, "first"); err != nil {
		t.Fatalf("post under the current fence: %v", err)
	}
	b, err := s.ClaimRoom(ctx, "lobby", "node-b", func(holder string) bool { return holder == "node-a" })
	if err != nil || b != (storage.HostFence{Node: "node-b", Epoch: 2}) {
		t.Fatalf("takeover = %+v, %v", b, err)
	}
	if err := post(a, "stale"); !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("post under the old fence: %v, want ErrFenced", err)
	}
	if err := post(b, "second"); err != nil {
		t.Fatalf("post under the new fence: %v", err)
	}
	msgs, _, err := s.QueryHistory(ctx, storage.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, m.Body)
	}
	if len(bodies) != 2 || bodies[0] != "first" || bodies[1] != "second" {
		t.Fatalf("history = %q, want [first second]: the fenced post must not land", bodies)
	}
	// Nor its compliance event: it did not happen.
	evs, err := s.ReadOutbox(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	posts := 0
	for _, ev := range evs {
		if ev.Type == "post" {
			posts++
		}
	}
	if posts != 2 {
		t.Fatalf("the outbox has %d post events, want 2: the fenced post must not be captured", posts)
	}
	if err := s.ReleaseRoom(ctx, "lobby", a); err != nil {
		t.Fatal(err)
	}
	if f, err := s.RoomHost(ctx, "lobby"); err != nil || f != b {
		t.Fatalf("a stale release removed the record: %+v, %v", f, err)
	}
	counts, err := s.HostedRooms(ctx)
	if err != nil || counts["node-b"] != 1 || len(counts) != 1 {
		t.Fatalf("HostedRooms = %v, %v", counts, err)
	}
}

func TestPoolNodeStatusAndSecret(t *testing.T) {
	ctx := t.Context()
	s := open(t, newTestServer(t).newDatabase(t))
	defer s.Close()
	st := storage.NodeStatus{Node: "n1", Role: "active", Active: true, ClientAddr: "127.0.0.1:5222", Sessions: 7, StartedAt: time.Now().UTC().Truncate(time.Second)}
	if err := s.PutNodeStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.Sessions = 8
	if err := s.PutNodeStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	all, err := s.NodeStatuses(ctx)
	if err != nil || len(all) != 1 || all[0].Sessions != 8 || all[0].Age > time.Minute || all[0].Age < 0 {
		t.Fatalf("NodeStatuses = %+v, %v", all, err)
	}
	one, err := s.SharedSecret(ctx, "k", func() []byte { return []byte("first") })
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.SharedSecret(ctx, "k", func() []byte { return []byte("second") })
	if err != nil || string(one) != "first" || string(two) != "first" {
		t.Fatalf("SharedSecret = %q, %q, %v; want the first value both times", one, two, err)
	}
	if err := s.DeleteNodeStatus(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.NodeStatuses(ctx); len(all) != 0 {
		t.Fatalf("after delete: %+v", all)
	}
}
