package muc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

// The engine is tested with no sockets, on a real SQLite store.

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Deliver(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// bodies lists the bodies of the message events received.
func (r *recorder) bodies() []string {
	var out []string
	for _, ev := range r.take() {
		if ev.Kind == EventMessage {
			out = append(out, ev.Message.Body)
		}
	}
	return out
}

type fixture struct {
	t     *testing.T
	store storage.Store
	path  string
	e     *Engine
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	f := &fixture{t: t, path: path}
	f.open()
	return f
}

// open (re)opens the store and a fresh engine, as a restart does.
func (f *fixture) open() {
	f.t.Helper()
	if f.store != nil {
		f.store.Close()
	}
	f.store, f.e = f.openEngine()
}

// openEngine opens another store and engine on the fixture's database (a
// restart, or another process such as parleyctl).
func (f *fixture) openEngine() (storage.Store, *Engine) {
	f.t.Helper()
	s, err := sqlite.Open(context.Background(), f.path, contentrules.Rules{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	e, err := New(context.Background(), Config{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secret: []byte("test")})
	if err != nil {
		f.t.Fatal(err)
	}
	return s, e
}

func (f *fixture) createRoom(name string, privacy Privacy, typ RoomType, managers, members, presenters []string) {
	f.t.Helper()
	r := storage.Room{Name: name, Subject: "about " + name}
	r.Moderated = typ == Auditorium
	if _, err := f.e.CreateRoom(context.Background(), CreateRoomRequest{Room: r, Creator: ActorAdmin, Privacy: privacy,
		Managers: managers, Members: members, Presenters: presenters}); err != nil {
		f.t.Fatalf("create room %s: %v", name, err)
	}
}

// join joins user to room as nick from a session called address.
func (f *fixture) join(room, user, nick string) (*recorder, error) {
	rec := &recorder{}
	err := f.e.Join(context.Background(), JoinRequest{Room: room, Nick: nick, User: user,
		Session: Session{Address: user + "/" + nick, FrontDoor: "test", Sink: rec}, History: HistoryRequest{MaxStanzas: -1}})
	return rec, err
}

func (f *fixture) mustJoin(room, user, nick string) *recorder {
	f.t.Helper()
	rec, err := f.join(room, user, nick)
	if err != nil {
		f.t.Fatalf("%s joins %s: %v", user, room, err)
	}
	return rec
}

func (f *fixture) post(room, user, nick, body string) error {
	_, err := f.e.Post(context.Background(), PostRequest{Room: room, Address: user + "/" + nick, FrontDoor: "test", Body: body, Stanza: []byte(body)})
	return err
}

func wantCode(t *testing.T, err error, want Code) {
	t.Helper()
	if got := CodeOf(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func TestJoinRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.createRoom("team", Closed, Normal, []string{"boss@localhost"}, []string{"alice@localhost"}, nil)
	f.createRoom("plans", Secret, Normal, nil, []string{"alice@localhost"}, nil)

	f.mustJoin("lobby", "anyone@localhost", "anyone")
	f.mustJoin("team", "alice@localhost", "alice")
	_, err := f.join("team", "mallory@localhost", "mallory")
	wantCode(t, err, CodeRegistrationRequired)

	// Secret rooms are invisible to outsiders, listed for members.
	names := func(user string) []string {
		rooms, err := f.e.ListRooms(ctx, user, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rooms {
			out = append(out, r.Name)
		}
		return out
	}
	if got := names("mallory@localhost"); !slices.Equal(got, []string{"lobby", "team"}) {
		t.Errorf("mallory sees %v", got)
	}
	if got := names("alice@localhost"); !slices.Equal(got, []string{"lobby", "plans", "team"}) {
		t.Errorf("alice sees %v", got)
	}
	_, err = f.e.Room(ctx, "plans", "mallory@localhost")
	wantCode(t, err, CodeNotFound)

	// A banned user cannot come back; a disabled room takes nobody.
	if err := f.e.SetAffiliation(ctx, "lobby", ActorAdmin, "anyone@localhost", AffOutcast, "spam"); err != nil {
		t.Fatal(err)
	}
	_, err = f.join("lobby", "anyone@localhost", "again")
	wantCode(t, err, CodeForbidden)
	if _, err := f.e.Configure(ctx, ActorAdmin, "team", func(r *storage.Room) error { r.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = f.join("team", "alice@localhost", "alice2")
	wantCode(t, err, CodeForbidden)
	if err := f.e.MayRead(ctx, "team", "alice@localhost"); CodeOf(err) != CodeForbidden {
		t.Errorf("a disabled room's archive is readable: %v", err)
	}
}

func TestEthicalWall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "legal", AllowedMembers: []string{"*"},
		DeniedMembers: []string{"trader@localhost"}, Creators: []string{"counsel@localhost"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	_, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "case", Category: "legal"}, Creator: "trader@localhost"})
	wantCode(t, err, CodeForbidden)
	_, err = f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "case", Category: "legal"}, Creator: "counsel@localhost",
		Members: []string{"trader@localhost"}})
	wantCode(t, err, CodeForbidden)
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "case", Category: "legal"}, Creator: "counsel@localhost"}); err != nil {
		t.Fatal(err)
	}
	err = f.e.SetAffiliation(ctx, "case", "counsel@localhost", "trader@localhost", AffMember, "")
	wantCode(t, err, CodeForbidden)
	err = f.e.SetPresenter(ctx, "case", "counsel@localhost", "trader@localhost", true)
	wantCode(t, err, CodeForbidden)
	_, err = f.join("case", "trader@localhost", "t")
	wantCode(t, err, CodeForbidden)

	// Walling out someone already inside is refused until they are
	// removed; the default category stays.
	if err := f.e.SetAffiliation(ctx, "case", "counsel@localhost", "clerk@localhost", AffMember, ""); err != nil {
		t.Fatal(err)
	}
	cat, _ := f.e.Category(ctx, "legal")
	cat.DeniedMembers = append(cat.DeniedMembers, "clerk@localhost")
	wantCode(t, f.e.PutCategory(ctx, ActorAdmin, cat), CodeConflict)
	if err := f.e.SetAffiliation(ctx, "case", "counsel@localhost", "clerk@localhost", AffNone, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.e.PutCategory(ctx, ActorAdmin, cat); err != nil {
		t.Fatalf("wall after removal: %v", err)
	}
	if ok, _ := f.e.Allowed(ctx, "legal", "clerk@localhost"); ok {
		t.Error("clerk still allowed")
	}
	wantCode(t, f.e.DeleteCategory(ctx, ActorAdmin, DefaultCategory), CodeNotAllowed)
}

// One order for everyone, equal to history order.
func TestPostsReachEveryoneInHistoryOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	a := f.mustJoin("lobby", "alice@localhost", "alice")
	b := f.mustJoin("lobby", "bob@localhost", "bob")
	a.take()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); _ = f.post("lobby", "alice@localhost", "alice", "a"+string(rune('A'+i))) }()
		go func() { defer wg.Done(); _ = f.post("lobby", "bob@localhost", "bob", "b"+string(rune('A'+i))) }()
	}
	wg.Wait()
	hist, _, err := f.e.History(ctx, "alice@localhost", "test", storage.HistoryQuery{Room: "lobby", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for i, m := range hist {
		order = append(order, m.Body)
		if i > 0 && m.Seq != hist[i-1].Seq+1 {
			t.Errorf("seq gap: %d after %d", m.Seq, hist[i-1].Seq)
		}
	}
	if len(order) != 40 {
		t.Fatalf("history has %d posts, want 40", len(order))
	}
	if got := a.bodies(); !slices.Equal(got, order) {
		t.Errorf("alice saw %v\nhistory is %v", got, order)
	}
	if got := b.bodies(); !slices.Equal(got, order) {
		t.Errorf("bob saw %v\nhistory is %v", got, order)
	}
}

func TestAuditorium(t *testing.T) {
	f := newFixture(t)
	f.createRoom("townhall", Closed, Auditorium, []string{"ceo@localhost"}, []string{"staff@localhost"}, []string{"speaker@localhost"})
	f.mustJoin("townhall", "staff@localhost", "staff")
	f.mustJoin("townhall", "speaker@localhost", "speaker")
	f.mustJoin("townhall", "ceo@localhost", "ceo")
	wantCode(t, f.post("townhall", "staff@localhost", "staff", "question"), CodeForbidden)
	if err := f.post("townhall", "speaker@localhost", "speaker", "welcome"); err != nil {
		t.Fatalf("presenter: %v", err)
	}
	if err := f.post("townhall", "ceo@localhost", "ceo", "thanks"); err != nil {
		t.Fatalf("manager: %v", err)
	}
}

func TestJoinDeliversStateFirst(t *testing.T) {
	f := newFixture(t)
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	a := f.mustJoin("lobby", "alice@localhost", "alice")
	for i := range 3 {
		if err := f.post("lobby", "alice@localhost", "alice", "m"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	b := f.mustJoin("lobby", "bob@localhost", "bob")
	evs := b.take()
	if len(evs) != 1 || evs[0].Kind != EventJoined {
		t.Fatalf("first events %+v, want one EventJoined", evs)
	}
	j := evs[0].Joined
	if len(j.Others) != 1 || j.Others[0].Nick != "alice" || len(j.History) != 3 || j.Room.Subject != "about lobby" {
		t.Errorf("joined state: others %v, history %d, subject %q", j.Others, len(j.History), j.Room.Subject)
	}
	var sawBob bool
	for _, ev := range a.take() {
		sawBob = sawBob || (ev.Kind == EventPresence && ev.Occupant.Nick == "bob")
	}
	if !sawBob {
		t.Error("alice was not told bob joined")
	}
	_, err := f.join("lobby", "carol@localhost", "alice")
	wantCode(t, err, CodeConflict)
}

func TestKickBanAndNickChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, []string{"mod@localhost"}, nil, nil)
	m := f.mustJoin("lobby", "mod@localhost", "mod")
	u := f.mustJoin("lobby", "user@localhost", "user")
	u.take()
	// Nick change: the same session joins under another nick.
	if err := f.e.Join(ctx, JoinRequest{Room: "lobby", Nick: "user2", User: "user@localhost",
		Session: Session{Address: "user@localhost/user", Sink: u}}); err != nil {
		t.Fatal(err)
	}
	evs := m.take()
	last := evs[len(evs)-1]
	if last.OldNick != "user" || last.Occupant.Nick != "user2" || !slices.Contains(last.Status, StatusNickChanged) {
		t.Errorf("nick change event %+v", last)
	}
	if err := f.e.SetRole(ctx, "lobby", "user@localhost/user", "mod", RoleNone, ""); CodeOf(err) != CodeForbidden {
		t.Errorf("a participant kicked a moderator: %v", err)
	}
	if err := f.e.SetRole(ctx, "lobby", "mod@localhost/mod", "user2", RoleNone, "bye"); err != nil {
		t.Fatal(err)
	}
	if occ := f.e.Occupants("lobby"); len(occ) != 1 {
		t.Errorf("after kick: %v", occ)
	}
	var kicked bool
	for _, ev := range u.take() {
		kicked = kicked || slices.Contains(ev.Status, StatusKicked)
	}
	if !kicked {
		t.Error("the kicked user was not told (307)")
	}
}

func TestCorrectionRetractionModeration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, []string{"mod@localhost"}, nil, nil)
	f.mustJoin("lobby", "mod@localhost", "mod")
	f.mustJoin("lobby", "alice@localhost", "alice")
	f.mustJoin("lobby", "bob@localhost", "bob")
	first, err := f.e.Post(ctx, PostRequest{Room: "lobby", Address: "alice@localhost/alice", Body: "helo"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.e.Post(ctx, PostRequest{Room: "lobby", Address: "bob@localhost/bob", Kind: storage.KindCorrection, Target: first.StanzaID, Body: "hello"})
	wantCode(t, err, CodeForbidden)
	if _, err := f.e.Post(ctx, PostRequest{Room: "lobby", Address: "alice@localhost/alice", Kind: storage.KindCorrection, Target: first.StanzaID, Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.e.Post(ctx, PostRequest{Room: "lobby", Address: "bob@localhost/bob", Kind: storage.KindModeration, Target: first.StanzaID})
	wantCode(t, err, CodeForbidden)
	if _, err := f.e.Post(ctx, PostRequest{Room: "lobby", Address: "mod@localhost/mod", Kind: storage.KindModeration, Target: first.StanzaID, Reason: "off topic"}); err != nil {
		t.Fatal(err)
	}
	orig, err := f.e.Message(ctx, "bob@localhost", "lobby", first.StanzaID)
	if err != nil || !orig.Tombstone || orig.Body == "helo" {
		t.Errorf("moderated message: %+v %v", orig, err)
	}
	hist, _, err := f.e.History(ctx, "bob@localhost", "test", storage.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil || len(hist) != 3 {
		t.Fatalf("history %d %v", len(hist), err)
	}
	if hist[1].Kind != storage.KindCorrection || hist[2].Kind != storage.KindModeration {
		t.Errorf("kinds %s %s", hist[1].Kind, hist[2].Kind)
	}
	// The moderation's event records the tombstone too: one event each,
	// the tombstone written with it.
	evs, err := f.store.ReadOutbox(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if ev.Type != "join" && ev.Type != "history.read" {
			types = append(types, ev.Type)
		}
	}
	if want := []string{"post", "correction", "moderation"}; len(types) < 3 || !slices.Equal(types[len(types)-3:], want) || slices.Contains(types, "tombstone") {
		t.Errorf("outbox %v, want it to end in %v", types, want)
	}
}

// Everything the engine does is captured in the outbox, once.
func TestComplianceEventsAreCaptured(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "alice")
	if err := f.post("lobby", "alice@localhost", "alice", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.e.History(ctx, "alice@localhost", "mam", storage.HistoryQuery{Room: "lobby", Limit: 5, FullText: "hello"}); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Leave(ctx, "lobby", "alice@localhost/alice", nil); err != nil {
		t.Fatal(err)
	}
	evs, err := f.store.ReadOutbox(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	want := []string{"category.put", "room.create", "join", "post", "history.read", "search", "leave"}
	if !slices.Equal(types, want) {
		t.Errorf("outbox %v, want %v", types, want)
	}
}

// History off: posts reach occupants and compliance, not the archive.
func TestCategoryWithoutHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "ephemeral", AllowedMembers: []string{"*"}, Creators: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "chatter", Category: "ephemeral"}, Creator: ActorAdmin, Privacy: Open}); err != nil {
		t.Fatal(err)
	}
	a := f.mustJoin("chatter", "alice@localhost", "alice")
	if err := f.post("chatter", "alice@localhost", "alice", "gone with the wind"); err != nil {
		t.Fatal(err)
	}
	if got := a.bodies(); len(got) != 1 {
		t.Errorf("delivered %v", got)
	}
	hist, _, err := f.e.History(ctx, "alice@localhost", "test", storage.HistoryQuery{Room: "chatter", Limit: 10})
	if err != nil || len(hist) != 0 {
		t.Errorf("history kept: %v %v", hist, err)
	}
	evs, _ := f.store.ReadOutbox(ctx, 0, 100)
	var posts int
	for _, ev := range evs {
		if ev.Type == "post" {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d post events, want 1", posts)
	}
}

func TestRoomsSurviveRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createRoom("team", Closed, Normal, []string{"boss@localhost"}, []string{"alice@localhost"}, nil)
	f.mustJoin("team", "boss@localhost", "boss")
	if err := f.e.SetSubject(ctx, "team", "boss@localhost/boss", "Q4 plans", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.post("team", "boss@localhost", "boss", "kick-off at 10"); err != nil {
		t.Fatal(err)
	}
	f.open()
	r, err := f.e.Room(ctx, "team", "alice@localhost")
	if err != nil || r.Subject != "Q4 plans" || PrivacyOf(r) != Closed {
		t.Fatalf("after restart: %+v %v", r, err)
	}
	members, err := f.e.Affiliations(ctx, "team", ActorAdmin, AffMember)
	if err != nil || len(members) != 1 || members[0].JID != "alice@localhost" {
		t.Errorf("members after restart: %v %v", members, err)
	}
	j := f.mustJoin("team", "alice@localhost", "alice")
	evs := j.take()
	if len(evs) == 0 || len(evs[0].Joined.History) != 1 || evs[0].Joined.History[0].Body != "kick-off at 10" {
		t.Errorf("history after restart: %+v", evs)
	}
}

// Posts to many rooms at once share transactions (group commit) and each
// room keeps one order, equal to its history.
func TestGroupCommitAcrossRooms(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const rooms, posts = 12, 15
	recs := make([]*recorder, rooms)
	for i := range rooms {
		name := fmt.Sprintf("room%d", i)
		f.createRoom(name, Open, Normal, nil, nil, nil)
		recs[i] = f.mustJoin(name, "watcher@localhost", "w")
		recs[i].take()
	}
	var wg sync.WaitGroup
	for i := range rooms {
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("poster%d@localhost", w)
				nick := fmt.Sprintf("p%d", w)
				if _, err := f.join(fmt.Sprintf("room%d", i), user, nick); err != nil {
					t.Error(err)
					return
				}
				for n := range posts {
					if err := f.post(fmt.Sprintf("room%d", i), user, nick, fmt.Sprintf("%d-%d", w, n)); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	for i := range rooms {
		hist, _, err := f.e.History(ctx, "watcher@localhost", "test", storage.HistoryQuery{Room: fmt.Sprintf("room%d", i), Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for j, m := range hist {
			order = append(order, m.Body)
			if m.Seq != int64(j+1) {
				t.Fatalf("room%d: seq %d at %d", i, m.Seq, j)
			}
		}
		if len(order) != 3*posts {
			t.Fatalf("room%d: %d posts, want %d", i, len(order), 3*posts)
		}
		if got := recs[i].bodies(); !slices.Equal(got, order) {
			t.Errorf("room%d: watcher saw %v, history %v", i, got, order)
		}
	}
}
