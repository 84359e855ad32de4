package sip

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

// TestRevokedSIPOccupant: bob, a member of the closed room "board", is in
// it from his phone and watches its roster (RFC 4575). An administrator
// removes him with parleyctl — another engine on the same database, as
// parleyctl runs in its own process — while the server runs. His phone is
// told he was removed, his conference subscription ends at once with a
// NOTIFY "terminated;reason=rejected" (RFC 6665 §4.2.2), not at the next
// housekeeping; room posts no longer reach it, and his own are refused.
func TestRevokedSIPOccupant(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "parley.db")
	open := func() *muc.Engine {
		store, err := sqlite.Open(ctx, path, contentrules.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		e, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secret: []byte("test")})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	engine, ctl := open(), open()
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "board"}, Creator: muc.ActorAdmin,
		Privacy: muc.Closed, Managers: []string{"carol@" + testDomain}, Members: []string{"bob@" + testDomain}}); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, Config{Rooms: engine})
	// The server reads the room change log as parleyd does.
	followed := make(chan error, 1)
	go func() { followed <- engine.FollowChanges(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() {
		stop()
		if err := <-followed; err != nil {
			t.Errorf("FollowChanges: %v", err)
		}
	})

	// carol posts without being in the room (as a SIP user in pager
	// mode may): bob's roster NOTIFYs then name bob alone and fit in a
	// UDP datagram.
	post := func(body string) {
		t.Helper()
		if _, err := engine.Post(ctx, muc.PostRequest{Room: "board", Address: "carol@" + testDomain + "/xmpp",
			AsUser: "carol@" + testDomain, FrontDoor: "xmpp", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	phone := newUAS(t)
	c := newClient(t, ts.udp)
	if res := c.registered("bob", "builder", "MD5", []string{phone.contact("bob")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	bob := &messenger{c: c, user: "bob", pw: "builder"}
	if res := bob.send("board", "/join"); res.StatusCode != 200 {
		t.Fatalf("/join: %s", res.StartLine())
	}
	if got := phone.next("board"); !strings.HasPrefix(got, "You joined board as bob.") {
		t.Errorf("/join answer %q", got)
	}
	roster := newSubscriber(c, phone, "bob", "builder")
	roster.mustSubscribe("board")
	post("agenda")
	if got := phone.next("board"); got != "carol: agenda" {
		t.Errorf("bob got %q", got)
	}

	// parleyctl room members remove board bob
	if err := ctl.SetAffiliation(ctx, "board", muc.ActorAdmin, "bob@"+testDomain, muc.AffNone, ""); err != nil {
		t.Fatal(err)
	}
	if got := phone.next("board"); got != "You were removed from board: you may no longer be in it." {
		t.Errorf("bob's phone was told %q", got)
	}
	for {
		n := roster.next()
		if strings.HasPrefix(n.state, "active") {
			continue // the roster without bob, before the end
		}
		if n.state != "terminated;reason=rejected" {
			t.Errorf("bob's conference subscription ended with %q, want terminated;reason=rejected", n.state)
		}
		break
	}
	// The subscription is forgotten just after its last NOTIFY is queued.
	for deadline := time.Now().Add(5 * time.Second); ts.srv.Subscriptions("bob") != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob has %d subscriptions left", ts.srv.Subscriptions("bob"))
		}
	}
	if occ := engine.Occupants("board"); len(occ) != 0 {
		t.Errorf("board still has %+v", occ)
	}

	post("minutes")
	phone.none()
	if res := bob.send("board", "still here"); res.StatusCode != 403 {
		t.Errorf("bob's post after his removal: %s, want 403", res.StartLine())
	}
}
