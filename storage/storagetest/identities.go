package storagetest

import (
	"slices"
	"testing"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// IdentityNormalisation checks the migration that normalises stored JIDs
// (sqlstore.IdentityVersion, issue 18): affiliations and category lists
// written, as older versions could, with other spellings of a JID are
// rewritten to the RFC 7622 form; two spellings of one JID in one room
// become one row, an outcast staying an outcast; "*", a domain and a
// directory group keep their meaning. It takes the same opener as
// StanzaRepair.
func IdentityNormalisation(t *testing.T, newDatabase StanzaRepairOpener) {
	open, migrateDownTo, _ := newDatabase(t)
	e := newEnv(t, func(*testing.T) func() storage.Store { return open })
	e.lobby("lobby")
	for _, a := range []storage.Affiliation{
		{Room: "lobby", JID: "Alice@Example.ORG", Affiliation: storage.AffiliationAdmin},
		{Room: "lobby", JID: "mallory@example.org", Affiliation: storage.AffiliationMember, Presenter: true},
		{Room: "lobby", JID: "MALLORY@example.org", Affiliation: storage.AffiliationOutcast, Reason: "spam"},
		{Room: "lobby", JID: "carol@example.org", Affiliation: storage.AffiliationMember},
		{Room: "lobby", JID: "group:Legal", Affiliation: storage.AffiliationMember},
	} {
		if err := e.store.SetAffiliation(e.ctx, a, event("affiliation", "lobby")); err != nil {
			t.Fatalf("SetAffiliation(%s): %v", a.JID, err)
		}
	}
	walled := storage.Category{Name: "legal", AllowedMembers: []string{"*"},
		DeniedMembers: []string{"Bob@Example.org", "bob@example.org", "Ｄave@example.org", "Example.NET", "group:Sales"},
		Creators:      []string{"Owner@Example.org"}}
	if err := e.store.PutCategory(e.ctx, walled, event("category.put", "")); err != nil {
		t.Fatal(err)
	}
	e.rerunFrom(migrateDownTo, sqlstore.IdentityVersion)

	affs, err := e.store.Affiliations(e.ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]storage.Affiliation{}
	for _, a := range affs {
		got[a.JID] = a
	}
	want := map[string]storage.Affiliation{
		"alice@example.org":   {Room: "lobby", JID: "alice@example.org", Affiliation: storage.AffiliationAdmin},
		"mallory@example.org": {Room: "lobby", JID: "mallory@example.org", Affiliation: storage.AffiliationOutcast, Presenter: true, Reason: "spam"},
		"carol@example.org":   {Room: "lobby", JID: "carol@example.org", Affiliation: storage.AffiliationMember},
		"group:Legal":         {Room: "lobby", JID: "group:Legal", Affiliation: storage.AffiliationMember},
	}
	if len(got) != len(want) {
		t.Errorf("affiliations after the migration: %+v, want %+v", affs, want)
	}
	for j, w := range want {
		if got[j] != w {
			t.Errorf("affiliation of %s after the migration: %+v, want %+v", j, got[j], w)
		}
	}
	c, err := e.store.Category(e.ctx, "legal")
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"bob@example.org", "dave@example.org", "example.net", "group:Sales"}; !slices.Equal(c.DeniedMembers, w) {
		t.Errorf("denied members after the migration: %q, want %q", c.DeniedMembers, w)
	}
	if !slices.Equal(c.AllowedMembers, []string{"*"}) || !slices.Equal(c.Creators, []string{"owner@example.org"}) {
		t.Errorf("allowed %q, creators %q after the migration", c.AllowedMembers, c.Creators)
	}
}
