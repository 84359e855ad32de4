package muc

import (
	"context"
	"testing"

	"github.com/parleychat/parley/storage"
)

// Users of other servers (federation, issue 11): a category that is not
// federated keeps them out of its rooms and archives; a wall names them by
// bare JID or by their whole domain.

func TestLocalOnlyCategoryRefusesRemoteUsers(t *testing.T) {
	f := newFixture(t)
	f.e.cfg.Domain = "localhost"
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "internal", LocalOnly: true, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"inside", "outside"} {
		cat := "internal"
		if name == "outside" {
			cat = DefaultCategory
		}
		if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: name, Category: cat}, Privacy: Open, Creator: ActorAdmin}); err != nil {
			t.Fatal(err)
		}
	}
	f.mustJoin("inside", "alice@localhost", "alice")
	if err := f.post("inside", "alice@localhost", "alice", "local only"); err != nil {
		t.Fatal(err)
	}

	_, err := f.join("inside", "juliet@remote.test", "juliet")
	wantCode(t, err, CodeForbidden)
	wantCode(t, f.e.MayRead(ctx, "inside", "juliet@remote.test"), CodeForbidden)
	_, _, err = f.e.History(ctx, "juliet@remote.test", "mam", storage.HistoryQuery{Room: "inside"})
	wantCode(t, err, CodeForbidden)

	// A federated category's open room takes the same user.
	f.mustJoin("outside", "juliet@remote.test", "juliet")
	if err := f.post("outside", "juliet@remote.test", "juliet", "hello from afar"); err != nil {
		t.Fatalf("remote occupant posts: %v", err)
	}
	if err := f.e.MayRead(ctx, "outside", "juliet@remote.test"); err != nil {
		t.Errorf("remote user may not read an open federated room: %v", err)
	}
}

func TestWallByDomain(t *testing.T) {
	f := newFixture(t)
	f.e.cfg.Domain = "localhost"
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "deals",
		DeniedMembers: []string{"rival.example", "spy@remote.test"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "m-and-a", Category: "deals"}, Privacy: Open, Creator: ActorAdmin}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"ceo@rival.example", "intern@rival.example", "spy@remote.test"} {
		_, err := f.join("m-and-a", user, "x")
		wantCode(t, err, CodeForbidden)
		if ok, _ := f.e.Allowed(ctx, "deals", user); ok {
			t.Errorf("%s allowed past the wall", user)
		}
	}
	// Neither a sub-domain nor another user of a walled user's domain is
	// walled by those entries.
	f.mustJoin("m-and-a", "juliet@remote.test", "juliet")
	f.mustJoin("m-and-a", "eve@sub.rival.example", "eve")
}
