package muc

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
	"github.com/parleychat/parley/storage"
)

// Directory groups in policy, against a real slapd (the engine only sees
// the Groups interface; the directory is package ldapauth's): a category
// that lets in group research and denies group traders. Adding a member
// of research to traders in the directory refuses their next post and
// join (a rejoin from the same session too) and removes them from the
// room they are in (FollowGroups), with the ethical wall's status 321.
// Room affiliations naming a group make its members members.
func TestGroupWall(t *testing.T) {
	srv := slapdtest.StartTree(t, slapdtest.Tree{
		Users: []slapdtest.User{{UID: "alice", Password: "a"}, {UID: "bob", Password: "b"}, {UID: "carol", Password: "c"}, {UID: "dave", Password: "d"}},
		Groups: []slapdtest.Group{
			{CN: "research", Members: []string{"alice", "bob"}},
			{CN: "traders", Members: []string{"carol"}},
			// Nested: desk holds traders.
			{CN: "desk", Members: []string{"dave"}, Subgroups: []string{"traders"}},
		},
	})
	dir, err := ldapauth.New(ldapauth.Config{URLs: []string{srv.URL}, CAFile: srv.CAFile,
		BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
		UserBase: slapdtest.Users, UserFilter: "(uid=%u)", GroupBase: slapdtest.Groups, Domain: "localhost",
		Timeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	f := newFixture(t)
	f.e.cfg.Groups = dir
	ctx := context.Background()
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "research", AllowedMembers: []string{"group:research"},
		DeniedMembers: []string{"group:cn=desk,ou=groups,dc=example,dc=org"}, Creators: []string{"group:research"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "lab", Category: "research"}, Creator: "alice@localhost", Privacy: Open}); err != nil {
		t.Fatalf("alice (research, a creator by group) creates a room: %v", err)
	}
	_, err = f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "lab2", Category: "research"}, Creator: "dave@localhost"})
	wantCode(t, err, CodeForbidden)

	alice := f.mustJoin("lab", "alice@localhost", "alice")
	bob := f.mustJoin("lab", "bob@localhost", "bob")
	_, err = f.join("lab", "carol@localhost", "carol") // traders, in desk: denied
	wantCode(t, err, CodeForbidden)
	_, err = f.join("lab", "dave@localhost", "dave") // not in research
	wantCode(t, err, CodeForbidden)
	_, err = f.join("lab", "mallory@other.example", "m") // not a directory user
	wantCode(t, err, CodeForbidden)
	if err := f.post("lab", "bob@localhost", "bob", "hello"); err != nil {
		t.Fatal(err)
	}

	// Bob joins traders in the directory (ldapmodify): nothing is cached
	// here (no TTL), so his next post is refused and he is removed.
	srv.AddMember(t, slapdtest.Group{CN: "traders"}.DN(), "bob")
	wantCode(t, f.post("lab", "bob@localhost", "bob", "still here?"), CodeForbidden)
	wantRemoved(t, "bob", StatusAffiliation, alice, bob)
	_, err = f.join("lab", "bob@localhost", "bob")
	wantCode(t, err, CodeForbidden)

	// The same for one who does not post: FollowGroups removes him.
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.e.FollowGroups(ctx, 50*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	srv.AddMember(t, slapdtest.Group{CN: "desk"}.DN(), "alice")
	for deadline := time.Now().Add(15 * time.Second); len(f.e.Occupants("lab")) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("alice, added to desk in the directory, is still in the room")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// She keeps her stored affiliation (owner): the wall, not a change of
	// it, put her out.
	if ev, ok := removedAs(alice.take(), "alice"); !ok || len(ev.Status) != 1 || ev.Status[0] != StatusAffiliation {
		t.Errorf("alice's removal: %+v (found %v), want status %d", ev, ok, StatusAffiliation)
	}
	// A rejoin from the same session is refused too.
	err = f.e.Join(context.Background(), JoinRequest{Room: "lab", Nick: "alice", User: "alice@localhost",
		Session: Session{Address: "alice@localhost/alice", FrontDoor: "test", Sink: alice}})
	wantCode(t, err, CodeForbidden)
	if got := f.e.AccessStats().GroupChecks; got == 0 {
		t.Error("FollowGroups rechecked no room")
	}

	// Room affiliations by group: the members of research are members of
	// a closed room.
	if err := f.e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "open", AllowedMembers: []string{"*"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: "closed", Category: "open"}, Creator: ActorAdmin,
		Privacy: Closed, Members: []string{"group:research"}, Managers: []string{"group:cn=traders,ou=groups,dc=example,dc=org"}}); err != nil {
		t.Fatal(err)
	}
	f.mustJoin("closed", "alice@localhost", "alice")
	_, err = f.join("closed", "dave@localhost", "dave")
	wantCode(t, err, CodeRegistrationRequired)
	f.mustJoin("closed", "carol@localhost", "carol")
	for _, o := range f.e.Occupants("closed") {
		if want := map[string]Affiliation{"alice": AffMember, "carol": AffOwner}[o.Nick]; o.Affiliation != want {
			t.Errorf("%s's affiliation in closed: %s, want %s", o.Nick, o.Affiliation, want)
		}
	}
}

// Without a directory (no Config.Groups: the --ldap-* settings went
// missing) a group cannot be resolved and the wall fails closed: a denied
// group denies everyone, an allowed group lets no one in.
func TestGroupWallWithoutDirectory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []storage.Category{
		{Name: "denies", AllowedMembers: []string{"*"}, DeniedMembers: []string{"group:traders"}},
		{Name: "allows", AllowedMembers: []string{"group:research"}},
	} {
		if err := f.e.PutCategory(ctx, ActorAdmin, c); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.CreateRoom(ctx, CreateRoomRequest{Room: storage.Room{Name: c.Name, Category: c.Name}, Creator: ActorAdmin, Privacy: Open}); err != nil {
			t.Fatal(err)
		}
		_, err := f.join(c.Name, "alice@localhost", "alice")
		wantCode(t, err, CodeForbidden)
	}
}
