package muc

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parleychat/parley/storage"
)

// alertRecorder is an Alerter that keeps what it gets.
type alertRecorder struct {
	mu     sync.Mutex
	alerts []string // "user room body [matched]"
}

func (a *alertRecorder) Alert(user, room string, msg *storage.HistoryMessage, matched []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = append(a.alerts, user+" "+room+" "+msg.Body+" "+strings.Join(matched, ","))
}

func (a *alertRecorder) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.alerts
	a.alerts = nil
	slices.Sort(out)
	return out
}

func (f *fixture) alerts() *alertRecorder {
	a := &alertRecorder{}
	f.e.SetAlerter(a)
	return a
}

func wantAlerts(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}

func TestKeywordMatching(t *testing.T) {
	for _, c := range []struct {
		keywords []string
		body     string
		want     []string
	}{
		{[]string{"deploy"}, "Deploy now!", []string{"deploy"}},
		{[]string{"deploy"}, "the #deploy channel", []string{"deploy"}},
		{[]string{"deploy"}, "we redeployed", nil},
		{[]string{"deploy"}, "deployment is done", nil},
		{[]string{"deploy*"}, "deployment is done", []string{"deploy*"}},
		{[]string{"deploy*"}, "we redeployed", nil},
		{[]string{"Release train"}, "the release train leaves", []string{"Release train"}},
		{[]string{"release train"}, "release trains leave", nil},
		{[]string{"c++"}, "I write C++, mostly", []string{"c++"}},
		{[]string{"#ops"}, "ping #ops please", []string{"#ops"}},
		{[]string{"café"}, "CAFÉ au lait", []string{"café"}},
		{[]string{"go", "rust"}, "going to rust, then go", []string{"go", "rust"}},
		{[]string{"go"}, "going, gone, ago", nil},
		{[]string{"шрифт"}, "Новый ШРИФТ готов", []string{"шрифт"}},
		{[]string{"🦊"}, "look 🦊!", []string{"🦊"}},
	} {
		got := matchKeywords(strings.ToLower(c.body), compileKeywords(c.keywords))
		if !slices.Equal(got, c.want) {
			t.Errorf("keywords %q in %q: matched %q, want %q", c.keywords, c.body, got, c.want)
		}
	}
}

func TestFollowAlerts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.alerts()
	f.createRoom("ops", Open, Normal, nil, nil, nil)
	f.mustJoin("ops", "poster@localhost", "poster")

	if _, err := f.e.Follow(ctx, "all@localhost", "ops", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Follow(ctx, "kw@localhost", "ops", []string{" deploy ", "Outage", "outage", ""}); err != nil {
		t.Fatal(err)
	}
	// The author, following their own room, is not alerted.
	if _, err := f.e.Follow(ctx, "poster@localhost", "ops", nil); err != nil {
		t.Fatal(err)
	}
	follows, err := f.e.Follows(ctx, "kw@localhost")
	if err != nil || len(follows) != 1 || !slices.Equal(follows[0].Keywords, []string{"deploy", "Outage"}) {
		t.Fatalf("Follows(kw) = %+v, %v; want ops with [deploy Outage]", follows, err)
	}

	if err := f.post("ops", "poster@localhost", "poster", "lunch?"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "all@localhost ops lunch? ")
	if err := f.post("ops", "poster@localhost", "poster", "OUTAGE: deploy rolled back"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "all@localhost ops OUTAGE: deploy rolled back ", "kw@localhost ops OUTAGE: deploy rolled back deploy,Outage")

	// Occupants see the post anyway: no alert while kw is in the room.
	f.mustJoin("ops", "kw@localhost", "kw")
	if err := f.post("ops", "poster@localhost", "poster", "deploy again"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "all@localhost ops deploy again ")

	// Corrections do not alert.
	if _, err := f.e.Post(ctx, PostRequest{Room: "ops", Address: "poster@localhost/poster", Kind: storage.KindCorrection,
		Target: "nope", Body: "deploy"}); CodeOf(err) != CodeNotFound {
		t.Fatalf("correction of an unknown message: %v", err)
	}
	wantAlerts(t, a.take())

	// Unfollow stops alerts; unfollowing twice is not found.
	if err := f.e.Unfollow(ctx, "all@localhost", "ops"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.e.Unfollow(ctx, "all@localhost", "ops"), CodeNotFound)
	if err := f.post("ops", "poster@localhost", "poster", "quiet now"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take())

	// Follow and unfollow are captured for compliance.
	evs, err := f.store.ReadOutbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if ev.Type == "follow" || ev.Type == "unfollow" {
			types = append(types, ev.Type+":"+ev.Actor)
		}
	}
	wantStrings(t, types, "follow:all@localhost", "follow:kw@localhost", "follow:poster@localhost", "unfollow:all@localhost")

	// Follows persist across a restart.
	f.open()
	a = f.alerts()
	if err := f.post("ops", "poster@localhost", "poster", "deploy after restart"); err == nil {
		t.Fatal("posting without being joined after a restart worked")
	}
	f.mustJoin("ops", "poster@localhost", "poster")
	if err := f.post("ops", "poster@localhost", "poster", "deploy after restart"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "kw@localhost ops deploy after restart deploy")
}

func wantStrings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFollowPermissions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.alerts()
	f.createRoom("team", Closed, Normal, []string{"boss@localhost"}, []string{"alice@localhost"}, nil)
	f.createRoom("plans", Secret, Normal, nil, []string{"alice@localhost"}, nil)

	// Only rooms one may read can be followed; secret rooms do not exist
	// for outsiders.
	_, err := f.e.Follow(ctx, "mallory@localhost", "team", nil)
	wantCode(t, err, CodeForbidden)
	_, err = f.e.Follow(ctx, "mallory@localhost", "plans", nil)
	wantCode(t, err, CodeNotFound)
	_, err = f.e.Follow(ctx, "alice@localhost", "nowhere", nil)
	wantCode(t, err, CodeNotFound)
	_, err = f.e.Follow(ctx, "alice@localhost", "team", []string{strings.Repeat("k", storage.MaxKeywordLength+1)})
	wantCode(t, err, CodeBadRequest)
	if _, err := f.e.Follow(ctx, "alice@localhost", "team", nil); err != nil {
		t.Fatal(err)
	}

	f.mustJoin("team", "boss@localhost", "boss")
	if err := f.post("team", "boss@localhost", "boss", "first"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "alice@localhost team first ")

	// A follower who may no longer read the room gets nothing (the
	// follow stays; it works again if they are let back in).
	if err := f.e.SetAffiliation(ctx, "team", "boss@localhost", "alice@localhost", AffNone, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.post("team", "boss@localhost", "boss", "members only"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take())
	if err := f.e.SetAffiliation(ctx, "team", "boss@localhost", "alice@localhost", AffMember, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.post("team", "boss@localhost", "boss", "welcome back"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take(), "alice@localhost team welcome back ")

	// No alerter: posts go through, nothing is alerted.
	f.e.SetAlerter(nil)
	if err := f.post("team", "boss@localhost", "boss", "silent"); err != nil {
		t.Fatal(err)
	}
	wantAlerts(t, a.take())
}
