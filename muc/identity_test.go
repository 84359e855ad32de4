package muc

import (
	"context"
	"slices"
	"testing"

	"github.com/parleychat/parley/storage"
)

// TestIdentitiesStoredNormalised: whoever calls the engine (a front door,
// parleyctl, the admin API, another node), a room name and the JIDs of
// affiliations and category lists are stored in their one RFC 7622 form,
// so that another spelling of a banned or walled-out user is banned or
// walled out too (issue 18, item 6).
func TestIdentitiesStoredNormalised(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "legal", AllowedMembers: []string{"*"},
		DeniedMembers: []string{"Trader@LOCALHOST", "ｔrader@localhost"}, Creators: []string{"Counsel@Localhost"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	cat, err := f.e.Category(ctx, "legal")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cat.DeniedMembers, []string{"trader@localhost"}) || !slices.Equal(cat.Creators, []string{"counsel@localhost"}) {
		t.Errorf("category stored with denied %q, creators %q", cat.DeniedMembers, cat.Creators)
	}
	r, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: " Ｃase ", Category: "legal"}, Creator: "counsel@localhost",
		Members: []string{"Clerk@Localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "case" {
		t.Errorf("room created as %q, want case", r.Name)
	}
	if err := f.e.SetAffiliation(ctx, "case", "counsel@localhost", "MALLORY@localhost", AffOutcast, "spam"); err != nil {
		t.Fatal(err)
	}
	affs, err := f.store.Affiliations(ctx, "case")
	if err != nil {
		t.Fatal(err)
	}
	var jids []string
	for _, a := range affs {
		jids = append(jids, a.JID)
	}
	slices.Sort(jids)
	if want := []string{"clerk@localhost", "counsel@localhost", "mallory@localhost"}; !slices.Equal(jids, want) {
		t.Errorf("affiliations stored for %q, want %q", jids, want)
	}
	_, err = f.join("case", "mallory@localhost", "m")
	wantCode(t, err, CodeForbidden)
	wantCode(t, f.e.SetAffiliation(ctx, "case", "counsel@localhost", "Trader@Localhost", AffMember, ""), CodeForbidden)
	wantCode(t, f.e.SetAffiliation(ctx, "case", "counsel@localhost", "a@b@c", AffMember, ""), CodeBadRequest)
}
