package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// sameFollow compares everything but Created, which callers check.
func sameFollow(a, b storage.Follow) bool {
	return a.User == b.User && a.Room == b.Room && sameList(a.Keywords, b.Keywords)
}

func wantFollows(t *testing.T, what string, got, want []storage.Follow) {
	t.Helper()
	if !slices.EqualFunc(got, want, sameFollow) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	for _, f := range got {
		if f.Created.IsZero() || f.Created.Location() != time.UTC {
			t.Errorf("%s: Created %v of %s/%s is not a time in UTC", what, f.Created, f.User, f.Room)
		}
	}
}

// followsOf and followersOf fail the test on an error.
func (e *env) followsOf(user string) []storage.Follow {
	e.t.Helper()
	fs, err := e.store.FollowsOf(e.ctx, user)
	if err != nil {
		e.t.Fatalf("FollowsOf(%s): %v", user, err)
	}
	return fs
}

func (e *env) followersOf(room string) []storage.Follow {
	e.t.Helper()
	fs, err := e.store.FollowersOf(e.ctx, room)
	if err != nil {
		e.t.Fatalf("FollowersOf(%s): %v", room, err)
	}
	return fs
}

func (e *env) putFollow(f storage.Follow) {
	e.t.Helper()
	if err := e.store.PutFollow(e.ctx, f, event("follow", f.Room)); err != nil {
		e.t.Fatalf("PutFollow(%+v): %v", f, err)
	}
}

var followTests = []test{
	{"PutAndList", func(t *testing.T, e *env) {
		e.lobby("design", "ops", "café")
		before := time.Now()
		alice := []storage.Follow{
			{User: "alice@example.org", Room: "ops"},
			{User: "alice@example.org", Room: "design", Keywords: []string{"logo", "Release train", "🦊"}},
			{User: "alice@example.org", Room: "café", Keywords: []string{}},
		}
		for _, f := range alice {
			e.putFollow(f)
		}
		e.putFollow(storage.Follow{User: "зоя@пример.рф", Room: "design", Keywords: []string{"шрифт"}})
		e.putFollow(storage.Follow{User: "bob@example.org", Room: "design"})
		after := time.Now()

		// By user, ordered by room (bytes); empty keyword lists come
		// back nil.
		got := e.followsOf("alice@example.org")
		wantFollows(t, "FollowsOf(alice)", got, []storage.Follow{alice[2], alice[1], alice[0]})
		for _, f := range got {
			wantTime(t, "Created of "+f.Room, f.Created, before, after)
		}
		if len(got) == 3 && (got[0].Keywords != nil || got[1].Keywords == nil || got[2].Keywords != nil) {
			t.Errorf("keywords came back as %q, %q, %q; want nil, the list, nil", got[0].Keywords, got[1].Keywords, got[2].Keywords)
		}
		// By room, ordered by user.
		wantFollows(t, "FollowersOf(design)", e.followersOf("design"), []storage.Follow{
			{User: "alice@example.org", Room: "design", Keywords: []string{"logo", "Release train", "🦊"}},
			{User: "bob@example.org", Room: "design"},
			{User: "зоя@пример.рф", Room: "design", Keywords: []string{"шрифт"}},
		})
		wantFollows(t, "FollowersOf(ops)", e.followersOf("ops"), alice[:1])
		// Unknown users and rooms have none; keys are compared byte
		// for byte.
		for _, u := range []string{"nobody@example.org", "Alice@example.org"} {
			if fs := e.followsOf(u); len(fs) != 0 {
				t.Errorf("FollowsOf(%s) = %+v, want none", u, fs)
			}
		}
		if fs := e.followersOf("nowhere"); len(fs) != 0 {
			t.Errorf("FollowersOf(nowhere) = %+v, want none", fs)
		}

		// Follows survive a restart.
		e.reopen()
		wantFollows(t, "FollowsOf(alice) after reopen", e.followsOf("alice@example.org"), []storage.Follow{alice[2], alice[1], alice[0]})
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create", "room.create", "room.create",
			"follow", "follow", "follow", "follow", "follow"})
	}},

	{"PutReplacesKeywordsAndKeepsCreated", func(t *testing.T, e *env) {
		e.lobby("design")
		created := time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", 3600))
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "design", Keywords: []string{"logo"}, Created: created})
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "design", Keywords: []string{"font", "colour"}, Created: time.Now()})
		got := e.followsOf("alice@example.org")
		wantFollows(t, "FollowsOf after replace", got, []storage.Follow{{User: "alice@example.org", Room: "design", Keywords: []string{"font", "colour"}}})
		if want := created.Truncate(time.Microsecond); len(got) == 1 && !got[0].Created.Equal(want) {
			t.Errorf("Created = %v, want the first one, %v", got[0].Created, want.UTC())
		}
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "design"})
		wantFollows(t, "FollowsOf after clearing keywords", e.followsOf("alice@example.org"), []storage.Follow{{User: "alice@example.org", Room: "design"}})
	}},

	{"UnknownRoomGivesErrNotFound", func(t *testing.T, e *env) {
		e.lobby("design")
		err := e.store.PutFollow(e.ctx, storage.Follow{User: "alice@example.org", Room: "nowhere"}, event("follow", "nowhere"))
		wantErrorIs(t, "PutFollow(nowhere)", err, storage.ErrNotFound)
		err = e.store.DeleteFollow(e.ctx, "alice@example.org", "design", event("unfollow", "design"))
		wantErrorIs(t, "DeleteFollow of no follow", err, storage.ErrNotFound)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
	}},

	{"Delete", func(t *testing.T, e *env) {
		e.lobby("design", "ops")
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "design"})
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "ops"})
		e.putFollow(storage.Follow{User: "bob@example.org", Room: "design"})
		if err := e.store.DeleteFollow(e.ctx, "alice@example.org", "design", event("unfollow", "design")); err != nil {
			t.Fatalf("DeleteFollow: %v", err)
		}
		wantFollows(t, "FollowsOf(alice)", e.followsOf("alice@example.org"), []storage.Follow{{User: "alice@example.org", Room: "ops"}})
		wantFollows(t, "FollowersOf(design)", e.followersOf("design"), []storage.Follow{{User: "bob@example.org", Room: "design"}})
		err := e.store.DeleteFollow(e.ctx, "alice@example.org", "design", event("unfollow", "design"))
		wantErrorIs(t, "DeleteFollow again", err, storage.ErrNotFound)
		types := e.outboxTypes()
		wantStrings(t, "outbox", types[len(types)-4:], []string{"follow", "follow", "follow", "unfollow"})
	}},

	{"DeletedWithTheirRoom", func(t *testing.T, e *env) {
		e.lobby("design", "ops")
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "design", Keywords: []string{"logo"}})
		e.putFollow(storage.Follow{User: "alice@example.org", Room: "ops"})
		if err := e.store.DeleteRoom(e.ctx, "design", event("room.delete", "design")); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		wantFollows(t, "FollowsOf after the room was deleted", e.followsOf("alice@example.org"), []storage.Follow{{User: "alice@example.org", Room: "ops"}})
		// A room created again under the name has no followers.
		e.createRoom("design", "general")
		if fs := e.followersOf("design"); len(fs) != 0 {
			t.Errorf("FollowersOf(design) after re-creation = %+v, want none", fs)
		}
	}},

	{"RejectsInvalidInput", func(t *testing.T, e *env) {
		e.lobby("design")
		tooMany := make([]string, storage.MaxKeywords+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprint("k", i)
		}
		for _, f := range []storage.Follow{
			{User: "", Room: "design"},
			{User: longString('j', storage.MaxJIDLength+1), Room: "design"},
			{User: "bad\xffutf8@example.org", Room: "design"},
			{User: "alice@example.org", Room: ""},
			{User: "alice@example.org", Room: longString('r', storage.MaxRoomNameLength+1)},
			{User: "alice@example.org", Room: "design", Keywords: []string{""}},
			{User: "alice@example.org", Room: "design", Keywords: []string{"bad\xffutf8"}},
			{User: "alice@example.org", Room: "design", Keywords: []string{longString('k', storage.MaxKeywordLength+1)}},
			{User: "alice@example.org", Room: "design", Keywords: tooMany},
		} {
			wantInvalid(t, fmt.Sprintf("PutFollow(%.20q, %.20q, %d keywords)", f.User, f.Room, len(f.Keywords)),
				e.store.PutFollow(e.ctx, f, event("follow", "design")))
		}
		bad := event("follow", "design")
		bad.Payload = []byte("{not json")
		wantInvalid(t, "PutFollow with a payload that is not JSON",
			e.store.PutFollow(e.ctx, storage.Follow{User: "alice@example.org", Room: "design"}, bad))
		wantInvalid(t, "DeleteFollow with no event id",
			e.store.DeleteFollow(e.ctx, "alice@example.org", "design", storage.OutboxEvent{Type: "unfollow"}))
		if fs := e.followersOf("design"); len(fs) != 0 {
			t.Errorf("FollowersOf after invalid puts = %+v, want none", fs)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
	}},

	{"CanceledContext", func(t *testing.T, e *env) {
		e.lobby("design")
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		err := e.store.PutFollow(ctx, storage.Follow{User: "alice@example.org", Room: "design"}, event("follow", "design"))
		wantErrorIs(t, "PutFollow with a canceled context", err, context.Canceled)
		_, err = e.store.FollowersOf(ctx, "design")
		wantErrorIs(t, "FollowersOf with a canceled context", err, context.Canceled)
		if fs := e.followersOf("design"); len(fs) != 0 {
			t.Errorf("FollowersOf after a canceled put = %+v, want none", fs)
		}
	}},
}
