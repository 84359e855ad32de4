package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var categoryTests = []test{
	{"PutAndRead", func(t *testing.T, e *env) {
		before := time.Now()
		want := storage.Category{
			Name:           "engineering",
			Description:    "Builds things 🛠",
			AllowedMembers: []string{"alice@example.org", "зоя@пример.рф", "bob@example.org"},
			DeniedMembers:  []string{"mallory@example.org", "evil.example"},
			Creators:       []string{"alice@example.org"},
			FileUpload:     true,
			ChatHistory:    true,
			LocalOnly:      true,
		}
		if err := e.store.PutCategory(e.ctx, want, event("category.put", "")); err != nil {
			t.Fatalf("PutCategory: %v", err)
		}
		after := time.Now()
		got, err := e.store.Category(e.ctx, "engineering")
		if err != nil {
			t.Fatalf("Category: %v", err)
		}
		if !sameCategory(got, want) {
			t.Errorf("Category:\n got %+v\nwant %+v", got, want)
		}
		wantTime(t, "Created", got.Created, before, after)
		wantTime(t, "Updated", got.Updated, before, after)

		// Empty lists come back nil; names list in byte order.
		for _, name := range []string{"zeta", "Alpha", "émigrés", "alpha"} {
			if err := e.store.PutCategory(e.ctx, storage.Category{Name: name}, event("category.put", "")); err != nil {
				t.Fatalf("PutCategory(%s): %v", name, err)
			}
		}
		all, err := e.store.Categories(e.ctx)
		if err != nil {
			t.Fatalf("Categories: %v", err)
		}
		var names []string
		for _, c := range all {
			names = append(names, c.Name)
		}
		wantStrings(t, "Categories", names, []string{"Alpha", "alpha", "engineering", "zeta", "émigrés"})
		if c := all[0]; c.AllowedMembers != nil || c.DeniedMembers != nil || c.Creators != nil || c.FileUpload || c.ChatHistory || c.LocalOnly {
			t.Errorf("category with nothing set came back as %+v", c)
		}
	}},

	{"PutReplacesAndKeepsCreated", func(t *testing.T, e *env) {
		created := time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", 3600))
		c := storage.Category{Name: "ops", AllowedMembers: []string{"*"}, LocalOnly: true, Created: created, Updated: created}
		if err := e.store.PutCategory(e.ctx, c, event("category.put", "")); err != nil {
			t.Fatalf("PutCategory: %v", err)
		}
		changed := storage.Category{Name: "ops", Description: "on call", Creators: []string{"carol@example.org"},
			Invitations: true, Created: time.Now(), Updated: created.Add(time.Hour)}
		if err := e.store.PutCategory(e.ctx, changed, event("category.put", "")); err != nil {
			t.Fatalf("PutCategory again: %v", err)
		}
		got, err := e.store.Category(e.ctx, "ops")
		if err != nil {
			t.Fatalf("Category: %v", err)
		}
		if !sameCategory(got, changed) {
			t.Errorf("Category after replace:\n got %+v\nwant %+v", got, changed)
		}
		if want := created.Truncate(time.Microsecond); !got.Created.Equal(want) || got.Created.Location() != time.UTC {
			t.Errorf("Created = %v, want the first one, %v, in UTC", got.Created, want.UTC())
		}
		if want := created.Add(time.Hour).Truncate(time.Microsecond); !got.Updated.Equal(want) {
			t.Errorf("Updated = %v, want %v", got.Updated, want)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "category.put"})
	}},

	{"UnknownGivesErrNotFound", func(t *testing.T, e *env) {
		e.putCategory("general")
		for _, name := range []string{"nothing", "General", "", "bad\xffutf8", longString('c', storage.MaxCategoryNameLength+1)} {
			_, err := e.store.Category(e.ctx, name)
			wantErrorIs(t, fmt.Sprintf("Category(%.20q)", name), err, storage.ErrNotFound)
		}
		err := e.store.DeleteCategory(e.ctx, "nothing", event("category.delete", ""))
		wantErrorIs(t, "DeleteCategory(nothing)", err, storage.ErrNotFound)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put"})
	}},

	{"DeleteWithRoomsGivesErrNotEmpty", func(t *testing.T, e *env) {
		e.putCategory("general")
		e.createRoom("lobby", "general")
		err := e.store.DeleteCategory(e.ctx, "general", event("category.delete", ""))
		wantErrorIs(t, "DeleteCategory with a room in it", err, storage.ErrNotEmpty)
		if _, err := e.store.Category(e.ctx, "general"); err != nil {
			t.Fatalf("Category after refused delete: %v", err)
		}
		if err := e.store.DeleteRoom(e.ctx, "lobby", event("room.delete", "lobby")); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		if err := e.store.DeleteCategory(e.ctx, "general", event("category.delete", "")); err != nil {
			t.Fatalf("DeleteCategory of an empty category: %v", err)
		}
		_, err = e.store.Category(e.ctx, "general")
		wantErrorIs(t, "Category after delete", err, storage.ErrNotFound)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create", "room.delete", "category.delete"})
	}},

	{"RejectsInvalidInput", func(t *testing.T, e *env) {
		for _, c := range []storage.Category{
			{Name: ""},
			{Name: longString('c', storage.MaxCategoryNameLength+1)},
			{Name: "bad\xffutf8"},
			{Name: "ok", Description: "bad\xffutf8"},
			{Name: "ok", AllowedMembers: []string{""}},
			{Name: "ok", Creators: []string{longString('j', storage.MaxJIDLength+1)}},
		} {
			wantInvalid(t, fmt.Sprintf("PutCategory(%.30q)", c.Name), e.store.PutCategory(e.ctx, c, event("category.put", "")))
		}
		bad := event("category.put", "")
		bad.Payload = []byte("{not json")
		wantInvalid(t, "PutCategory with a payload that is not JSON", e.store.PutCategory(e.ctx, storage.Category{Name: "ok"}, bad))
		wantInvalid(t, "PutCategory with no event id", e.store.PutCategory(e.ctx, storage.Category{Name: "ok"}, storage.OutboxEvent{Type: "category.put"}))
		if cs, err := e.store.Categories(e.ctx); err != nil || len(cs) != 0 {
			t.Errorf("Categories after invalid puts = %+v, %v; want none", cs, err)
		}
		if evs := e.outbox(); len(evs) != 0 {
			t.Errorf("outbox after invalid puts = %+v, want empty", evs)
		}
	}},
}

// fullRoom has every field set.
func fullRoom() storage.Room {
	return storage.Room{
		Name:          "design-review",
		Category:      "general",
		Title:         "Design review 🎨",
		Description:   "Weekly ✏️ critique",
		Subject:       "Q3 — new logo",
		SubjectNick:   "Zoë",
		SubjectTime:   time.Date(2025, 6, 7, 8, 9, 10, 111222333, time.FixedZone("Y", -5*3600)),
		Public:        true,
		MembersOnly:   true,
		Moderated:     true,
		Password:      "s3cret pass",
		WhoIs:         "anyone",
		MaxUsers:      250,
		ChangeSubject: "participants",
		AllowPM:       "moderators",
		AllowInvites:  true,
		Disabled:      true,
		AddInURL:      "https://example.org/addin?room=design",
		// Presence broadcast to moderators and visitors only.
		PresenceBroadcast: "moderator,visitor",
		Creator:           "alice@example.org",
		Created:           time.Date(2025, 1, 1, 0, 0, 0, 999, time.UTC),
		Updated:           time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
	}
}

var roomTests = []test{
	{"CreateAndRead", func(t *testing.T, e *env) {
		e.putCategory("general")
		want := fullRoom()
		if err := e.store.CreateRoom(e.ctx, want, nil, event("room.create", want.Name)); err != nil {
			t.Fatalf("CreateRoom: %v", err)
		}
		got, err := e.store.Room(e.ctx, want.Name)
		if err != nil {
			t.Fatalf("Room: %v", err)
		}
		wantRoom(t, "Room", got, want)

		for _, name := range []string{"zulu", "Alpha", "café", "alpha"} {
			e.createRoom(name, "general")
		}
		rooms, err := e.store.Rooms(e.ctx)
		if err != nil {
			t.Fatalf("Rooms: %v", err)
		}
		var names []string
		for _, r := range rooms {
			names = append(names, r.Name)
		}
		wantStrings(t, "Rooms", names, []string{"Alpha", "alpha", "café", "design-review", "zulu"})
		wantRoom(t, "Rooms()[3]", rooms[3], want)
	}},

	{"CreateSetsTimes", func(t *testing.T, e *env) {
		e.putCategory("general")
		before := time.Now()
		r := storage.Room{Name: "lobby", Category: "general"}
		if err := e.store.CreateRoom(e.ctx, r, nil, event("room.create", "lobby")); err != nil {
			t.Fatalf("CreateRoom: %v", err)
		}
		after := time.Now()
		got, err := e.store.Room(e.ctx, "lobby")
		if err != nil {
			t.Fatalf("Room: %v", err)
		}
		wantTime(t, "Created", got.Created, before, after)
		if !got.Updated.Equal(got.Created) {
			t.Errorf("Updated = %v, want Created %v", got.Updated, got.Created)
		}
		if !got.SubjectTime.IsZero() {
			t.Errorf("SubjectTime = %v, want zero: no subject was set", got.SubjectTime)
		}
	}},

	{"CreateExistingGivesErrExists", func(t *testing.T, e *env) {
		e.lobby()
		first := e.createRoom("lobby", "general", storage.Affiliation{JID: "alice@example.org", Affiliation: "owner"})
		again := first
		again.Title = "Hijacked"
		err := e.store.CreateRoom(e.ctx, again, []storage.Affiliation{{JID: "mallory@example.org", Affiliation: "owner"}}, event("room.create", "lobby"))
		wantErrorIs(t, "CreateRoom(lobby) again", err, storage.ErrExists)
		got, err := e.store.Room(e.ctx, "lobby")
		if err != nil || got.Title != "lobby" {
			t.Errorf("Room after failed create = %+v, %v; want the first one", got, err)
		}
		affs, err := e.store.Affiliations(e.ctx, "lobby")
		if err != nil || len(affs) != 1 || affs[0].JID != "alice@example.org" {
			t.Errorf("Affiliations after failed create = %+v, %v; want alice's only", affs, err)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
	}},

	{"CreateInUnknownCategoryGivesErrNotFound", func(t *testing.T, e *env) {
		e.lobby()
		r := storage.Room{Name: "lobby", Category: "nothing"}
		err := e.store.CreateRoom(e.ctx, r, []storage.Affiliation{{JID: "alice@example.org", Affiliation: "owner"}}, event("room.create", "lobby"))
		wantErrorIs(t, "CreateRoom in an unknown category", err, storage.ErrNotFound)
		_, err = e.store.Room(e.ctx, "lobby")
		wantErrorIs(t, "Room after failed create", err, storage.ErrNotFound)
		// Nothing captured that did not happen (DESIGN §6).
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put"})
	}},

	{"CreateRejectsInvalidInput", func(t *testing.T, e *env) {
		e.lobby()
		for _, c := range []struct {
			name string
			r    storage.Room
			affs []storage.Affiliation
		}{
			{"no name", storage.Room{Category: "general"}, nil},
			{"long name", storage.Room{Name: longString('r', storage.MaxRoomNameLength+1), Category: "general"}, nil},
			{"no category", storage.Room{Name: "r"}, nil},
			{"negative max users", storage.Room{Name: "r", Category: "general", MaxUsers: -1}, nil},
			{"bad UTF-8 subject", storage.Room{Name: "r", Category: "general", Subject: "bad\xff"}, nil},
			{"unknown broadcast role", storage.Room{Name: "r", Category: "general", PresenceBroadcast: "moderator,owner"}, nil},
			{"broadcast role twice", storage.Room{Name: "r", Category: "general", PresenceBroadcast: "moderator,moderator"}, nil},
			{"broadcast roles out of order", storage.Room{Name: "r", Category: "general", PresenceBroadcast: "visitor,moderator"}, nil},
			{"broadcast roles with spaces", storage.Room{Name: "r", Category: "general", PresenceBroadcast: "moderator, visitor"}, nil},
			{"affiliation none", storage.Room{Name: "r", Category: "general"}, []storage.Affiliation{{JID: "a@example.org", Affiliation: "none"}}},
			{"unknown affiliation", storage.Room{Name: "r", Category: "general"}, []storage.Affiliation{{JID: "a@example.org", Affiliation: "moderator"}}},
			{"JID twice", storage.Room{Name: "r", Category: "general"}, []storage.Affiliation{
				{JID: "a@example.org", Affiliation: "owner"}, {JID: "a@example.org", Affiliation: "member"}}},
			{"affiliation of another room", storage.Room{Name: "r", Category: "general"}, []storage.Affiliation{{Room: "other", JID: "a@example.org", Affiliation: "owner"}}},
			{"empty JID", storage.Room{Name: "r", Category: "general"}, []storage.Affiliation{{JID: "", Affiliation: "owner"}}},
		} {
			wantInvalid(t, "CreateRoom with "+c.name, e.store.CreateRoom(e.ctx, c.r, c.affs, event("room.create", "r")))
		}
		if rooms, err := e.store.Rooms(e.ctx); err != nil || len(rooms) != 0 {
			t.Errorf("Rooms after invalid creates = %+v, %v", rooms, err)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put"})
	}},

	{"UpdateReplacesSettings", func(t *testing.T, e *env) {
		e.lobby()
		e.putCategory("archive")
		orig := fullRoom()
		if err := e.store.CreateRoom(e.ctx, orig, nil, event("room.create", orig.Name)); err != nil {
			t.Fatalf("CreateRoom: %v", err)
		}
		upd := storage.Room{
			Name: orig.Name, Category: "archive", Title: "Renamed", Subject: "new subject 🆕", SubjectNick: "bob",
			SubjectTime: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), WhoIs: "moderators", ChangeSubject: "moderators",
			AllowPM: "none", MaxUsers: 0, PresenceBroadcast: "none",
			Creator: "mallory@example.org", Created: time.Now(), // ignored
			Updated: time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC),
		}
		// Twice, the same: a no-op update still succeeds.
		for range 2 {
			if err := e.store.UpdateRoom(e.ctx, upd, event("room.config", orig.Name)); err != nil {
				t.Fatalf("UpdateRoom: %v", err)
			}
		}
		got, err := e.store.Room(e.ctx, orig.Name)
		if err != nil {
			t.Fatalf("Room: %v", err)
		}
		want := upd
		want.Creator, want.Created = orig.Creator, orig.Created
		wantRoom(t, "Room after update", got, want)

		// A cleared subject time is cleared; a zero Updated becomes now.
		upd.SubjectTime, upd.Updated = time.Time{}, time.Time{}
		before := time.Now()
		if err := e.store.UpdateRoom(e.ctx, upd, event("room.config", orig.Name)); err != nil {
			t.Fatalf("UpdateRoom: %v", err)
		}
		got, _ = e.store.Room(e.ctx, orig.Name)
		if !got.SubjectTime.IsZero() {
			t.Errorf("SubjectTime = %v, want zero", got.SubjectTime)
		}
		wantTime(t, "Updated", got.Updated, before, time.Now())

		err = e.store.UpdateRoom(e.ctx, storage.Room{Name: "nothing", Category: "general"}, event("room.config", "nothing"))
		wantErrorIs(t, "UpdateRoom(nothing)", err, storage.ErrNotFound)
		bad := upd
		bad.Category = "nothing"
		err = e.store.UpdateRoom(e.ctx, bad, event("room.config", orig.Name))
		wantErrorIs(t, "UpdateRoom into an unknown category", err, storage.ErrNotFound)
		if got, _ := e.store.Room(e.ctx, orig.Name); got.Category != "archive" {
			t.Errorf("category after failed update = %q, want archive", got.Category)
		}
		bad = upd
		bad.PresenceBroadcast = "participant,moderator"
		wantInvalid(t, "UpdateRoom with presence broadcast out of order", e.store.UpdateRoom(e.ctx, bad, event("room.config", orig.Name)))
		if got, _ := e.store.Room(e.ctx, orig.Name); got.PresenceBroadcast != "none" {
			t.Errorf("presence broadcast after failed update = %q, want none", got.PresenceBroadcast)
		}
		wantStrings(t, "outbox", e.outboxTypes(),
			[]string{"category.put", "category.put", "room.create", "room.config", "room.config", "room.config"})
	}},

	{"UnknownGivesErrNotFound", func(t *testing.T, e *env) {
		e.lobby("lobby")
		for _, name := range []string{"nothing", "Lobby", "", "bad\xffutf8", longString('r', storage.MaxRoomNameLength+1)} {
			_, err := e.store.Room(e.ctx, name)
			wantErrorIs(t, fmt.Sprintf("Room(%.20q)", name), err, storage.ErrNotFound)
			_, err = e.store.HistoryByStanzaID(e.ctx, name, "x")
			wantErrorIs(t, fmt.Sprintf("HistoryByStanzaID(%.20q)", name), err, storage.ErrNotFound)
		}
		err := e.store.DeleteRoom(e.ctx, "nothing", event("room.delete", "nothing"))
		wantErrorIs(t, "DeleteRoom(nothing)", err, storage.ErrNotFound)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
	}},

	{"DeleteCascades", func(t *testing.T, e *env) {
		e.lobby()
		for _, name := range []string{"doomed", "kept"} {
			e.createRoom(name, "general", storage.Affiliation{JID: "alice@example.org", Affiliation: "owner"},
				storage.Affiliation{JID: "bob@example.org", Affiliation: "member", Presenter: true})
			e.post(name, "alice", "zanzibar meeting in "+name)
			e.post(name, "bob", "ok 🦊")
		}
		if err := e.store.DeleteRoom(e.ctx, "doomed", event("room.delete", "doomed")); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		_, err := e.store.Room(e.ctx, "doomed")
		wantErrorIs(t, "Room after delete", err, storage.ErrNotFound)
		if affs, err := e.store.Affiliations(e.ctx, "doomed"); err != nil || len(affs) != 0 {
			t.Errorf("Affiliations after delete = %+v, %v", affs, err)
		}
		if msgs, complete := e.query(storage.HistoryQuery{Room: "doomed", Limit: 10}); len(msgs) != 0 || !complete {
			t.Errorf("history after delete = %v, complete %v", bodies(msgs), complete)
		}
		wantStrings(t, "search in the deleted room", e.search("doomed", "zanzibar"), []string{})

		// The other room is untouched.
		if affs, _ := e.store.Affiliations(e.ctx, "kept"); len(affs) != 2 {
			t.Errorf("kept has %d affiliations, want 2", len(affs))
		}
		wantStrings(t, "search in kept", e.search("kept", "zanzibar"), []string{"zanzibar meeting in kept"})

		// Created again, the room starts from nothing.
		e.createRoom("doomed", "general")
		if affs, _ := e.store.Affiliations(e.ctx, "doomed"); len(affs) != 0 {
			t.Errorf("re-created room has affiliations %+v", affs)
		}
		wantStrings(t, "search in the re-created room", e.search("doomed", "zanzibar"), []string{})
		if m := e.post("doomed", "carol", "first again"); m.Seq != 1 {
			t.Errorf("first post to the re-created room has seq %d, want 1", m.Seq)
		}
	}},

	{"LongestNames", func(t *testing.T, e *env) {
		cat := longString('📁', storage.MaxCategoryNameLength)
		room := longString('🏠', storage.MaxRoomNameLength)
		jid := longString('🐻', storage.MaxJIDLength)
		e.putCategory(cat)
		e.createRoom(room, cat, storage.Affiliation{JID: jid, Affiliation: "owner"})
		m := msg(room, longString('😀', storage.MaxNickLength), "long names")
		m.RealJID = jid
		m.StanzaID = longString('🆔', storage.MaxIDLength)
		m.Target = longString('🎯', storage.MaxIDLength)
		e.append(m)
		got, err := e.store.HistoryByStanzaID(e.ctx, room, m.StanzaID)
		if err != nil {
			t.Fatalf("HistoryByStanzaID: %v", err)
		}
		m.Seq = 1
		got.Time = m.Time
		wantMessage(t, "message", got, *m)
		if msgs, _ := e.query(storage.HistoryQuery{Room: room, With: m.Nick, Limit: 5}); len(msgs) != 1 {
			t.Errorf("With the longest nick: %d messages, want 1", len(msgs))
		}
		if msgs, _ := e.query(storage.HistoryQuery{Room: room, With: jid, Limit: 5}); len(msgs) != 1 {
			t.Errorf("With the longest JID: %d messages, want 1", len(msgs))
		}
	}},
}

var affiliationTests = []test{
	{"SetListAndRemove", func(t *testing.T, e *env) {
		e.lobby("lobby")
		set := func(a storage.Affiliation) {
			t.Helper()
			if err := e.store.SetAffiliation(e.ctx, a, event("affiliation", a.Room)); err != nil {
				t.Fatalf("SetAffiliation(%+v): %v", a, err)
			}
		}
		want := []storage.Affiliation{
			{Room: "lobby", JID: "alice@example.org", Affiliation: "owner"},
			{Room: "lobby", JID: "bob@example.org", Affiliation: "member", Presenter: true},
			{Room: "lobby", JID: "carol@example.org", Affiliation: "admin"},
			{Room: "lobby", JID: "mallory@example.org", Affiliation: "outcast", Reason: "spam 🥫"},
		}
		for _, i := range []int{3, 1, 0, 2} {
			set(want[i])
		}
		affs, err := e.store.Affiliations(e.ctx, "lobby")
		if err != nil {
			t.Fatalf("Affiliations: %v", err)
		}
		if !slices.Equal(affs, want) {
			t.Fatalf("Affiliations:\n got %+v\nwant %+v", affs, want)
		}

		// Changed in place; none removes (Presenter goes with the row);
		// removing what is not there is fine.
		set(storage.Affiliation{Room: "lobby", JID: "mallory@example.org", Affiliation: "member", Reason: "forgiven"})
		set(storage.Affiliation{Room: "lobby", JID: "bob@example.org", Affiliation: "none", Presenter: true})
		set(storage.Affiliation{Room: "lobby", JID: "nobody@example.org", Affiliation: "none"})
		affs, _ = e.store.Affiliations(e.ctx, "lobby")
		want = []storage.Affiliation{want[0], want[2], {Room: "lobby", JID: "mallory@example.org", Affiliation: "member", Reason: "forgiven"}}
		if !slices.Equal(affs, want) {
			t.Fatalf("Affiliations after changes:\n got %+v\nwant %+v", affs, want)
		}
		if n := len(e.outbox()); n != 2+7 {
			t.Errorf("outbox has %d events, want 9 (category, room, 7 affiliation changes)", n)
		}
	}},

	{"UnknownRoom", func(t *testing.T, e *env) {
		e.lobby()
		for _, aff := range []string{"member", "none"} {
			err := e.store.SetAffiliation(e.ctx, storage.Affiliation{Room: "nothing", JID: "alice@example.org", Affiliation: aff}, event("affiliation", "nothing"))
			wantErrorIs(t, "SetAffiliation("+aff+") in an unknown room", err, storage.ErrNotFound)
		}
		if affs, err := e.store.Affiliations(e.ctx, "nothing"); err != nil || len(affs) != 0 {
			t.Errorf("Affiliations(nothing) = %+v, %v; want none", affs, err)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put"})
	}},

	{"RejectsInvalidInput", func(t *testing.T, e *env) {
		e.lobby("lobby")
		for _, a := range []storage.Affiliation{
			{Room: "lobby", JID: "alice@example.org", Affiliation: "moderator"},
			{Room: "lobby", JID: "alice@example.org", Affiliation: ""},
			{Room: "lobby", JID: "", Affiliation: "member"},
			{Room: "lobby", JID: longString('j', storage.MaxJIDLength+1), Affiliation: "member"},
			{Room: "", JID: "alice@example.org", Affiliation: "member"},
		} {
			wantInvalid(t, fmt.Sprintf("SetAffiliation(%.40q, %q)", a.JID, a.Affiliation),
				e.store.SetAffiliation(e.ctx, a, event("affiliation", "lobby")))
		}
		if affs, _ := e.store.Affiliations(e.ctx, "lobby"); len(affs) != 0 {
			t.Errorf("Affiliations after invalid sets = %+v", affs)
		}
	}},
}
