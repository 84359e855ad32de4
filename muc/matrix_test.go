package muc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// The authorization matrix (issue 18, item 4): every kind of room ×
// every standing a user can have in it × every action, each cell's
// expected answer written down below, run on both back ends. The actions
// are the engine calls the front doors make for them (protocol/xmpp and
// protocol/sip turn the answers into stanza errors and SIP statuses
// through interop's one error table, TestEveryMucCode):
//
//	join      XMPP join presence (Join)
//	info      disco#info on the room (Room)
//	items     the room listed in disco#items (ListRooms)
//	history   history on join (the seed post in Joined.History)
//	mam       XEP-0313 query (History)
//	search    XEP-0431 full-text query (History with FullText)
//	upload    XEP-0363 slot, after the join (MayUpload)
//	post      groupchat message from the session (Post)
//	pm        private message to an occupant (SendPrivate)
//	invite    mediated invitation (Invite)
//	config    owner configuration (Configure)
//	sipmsg    SIP MESSAGE to the room, pager mode (Post with AsUser)
//	sipsub    SIP SUBSCRIBE to the room's roster (MayRead, then Room)
//
// Answers: ok, or the refusal's code: nf not found (a secret room's
// outsiders get exactly a missing room's answer), fb forbidden, rr
// registration required, na not acceptable (not an occupant), nl not
// allowed.
var matrixActions = []string{"join", "info", "items", "history", "mam", "search", "upload", "post", "pm", "invite", "config", "sipmsg", "sipsub"}

// matrixRoles are the users: the room's owner (a manager), a member, a
// presenter, a user with no affiliation, one the category's ethical wall
// denies, one banned from the room (outcast), and a user of another
// server (federation) with no affiliation.
var matrixRoles = []string{"owner", "member", "presenter", "none", "walled", "outcast", "remote"}

var matrixRooms = []string{"open", "closed", "secret", "auditorium"}

// matrixExpected is the matrix: per room, per role, the answers to
// matrixActions in order.
var matrixExpected = map[string]map[string]string{
	//                join info items history mam search upload post pm invite config sipmsg sipsub
	"open": {
		"owner":     "ok ok ok ok ok ok ok ok ok ok ok ok ok",
		"member":    "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"presenter": "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"none":      "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"walled":    "fb ok ok fb fb fb fb na na na fb fb fb",
		"outcast":   "fb ok ok fb fb fb fb na na na fb fb fb",
		"remote":    "ok ok ok ok ok ok ok ok ok nl fb ok ok",
	},
	"closed": {
		"owner":     "ok ok ok ok ok ok ok ok ok ok ok ok ok",
		"member":    "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"presenter": "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"none":      "rr ok ok rr fb fb fb na na na fb fb fb",
		"walled":    "fb ok ok fb fb fb fb na na na fb fb fb",
		"outcast":   "fb ok ok fb fb fb fb na na na fb fb fb",
		"remote":    "rr ok ok rr fb fb fb na na na fb fb fb",
	},
	"secret": {
		"owner":     "ok ok ok ok ok ok ok ok ok ok ok ok ok",
		"member":    "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"presenter": "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"none":      "nf nf nf nf nf nf fb nf na na nf nf nf",
		"walled":    "nf nf nf nf nf nf fb nf na na nf nf nf",
		"outcast":   "nf nf nf nf nf nf fb nf na na nf nf nf",
		"remote":    "nf nf nf nf nf nf fb nf na na nf nf nf",
	},
	"auditorium": {
		"owner":     "ok ok ok ok ok ok ok ok ok ok ok ok ok",
		"member":    "ok ok ok ok ok ok ok fb ok nl fb fb ok",
		"presenter": "ok ok ok ok ok ok ok ok ok nl fb ok ok",
		"none":      "ok ok ok ok ok ok ok fb ok nl fb fb ok",
		"walled":    "fb ok ok fb fb fb fb na na na fb fb fb",
		"outcast":   "fb ok ok fb fb fb fb na na na fb fb fb",
		"remote":    "ok ok ok ok ok ok ok fb ok nl fb fb ok",
	},
}

func matrixUser(role string) string {
	if role == "remote" {
		return "remote@other.example"
	}
	return role + "@example.org"
}

// answer is a cell's answer in the matrix's words.
func answer(err error) string {
	if err == nil {
		return "ok"
	}
	switch CodeOf(err) {
	case CodeNotFound:
		return "nf"
	case CodeForbidden:
		return "fb"
	case CodeRegistrationRequired:
		return "rr"
	case CodeNotAcceptable:
		return "na"
	case CodeNotAllowed:
		return "nl"
	}
	return "error: " + err.Error()
}

// joinedSink is a session sink that keeps the join's state and drops
// the other events.
type joinedSink struct{ joined chan Joined }

func (s joinedSink) Deliver(ev Event) {
	if ev.Kind == EventJoined && ev.Joined != nil {
		select {
		case s.joined <- *ev.Joined:
		default:
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	cells := len(matrixRooms) * len(matrixRoles) * len(matrixActions)
	backends := map[string]func(t *testing.T) storage.Store{
		"sqlite": func(t *testing.T) storage.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"mysql": func(t *testing.T) storage.Store {
			s, err := mysql.Open(context.Background(), mysqltest.Database(t, "matrix"), contentrules.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	failed := 0
	for _, name := range []string{"sqlite", "mysql"} {
		t.Run(name, func(t *testing.T) {
			failed += runMatrix(t, backends[name](t))
		})
	}
	t.Logf("authorization matrix: %d rooms × %d roles × %d actions = %d cells on each of 2 back ends (%d asserted), %d wrong",
		len(matrixRooms), len(matrixRoles), len(matrixActions), cells, 2*cells, failed)
}

// runMatrix runs every cell on store and returns how many were wrong.
func runMatrix(t *testing.T, store storage.Store) int {
	ctx := context.Background()
	e, err := New(ctx, Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secret: []byte("test"), Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutCategory(ctx, ActorAdmin, storage.Category{Name: "matrix", ChatHistory: true, FileUpload: true, Invitations: true,
		DeniedMembers: []string{matrixUser("walled")}}); err != nil {
		t.Fatal(err)
	}
	host := "host@example.org"
	for _, room := range matrixRooms {
		req := CreateRoomRequest{Room: storage.Room{Name: room, Category: "matrix", Moderated: room == "auditorium"}, Creator: ActorAdmin,
			Managers: []string{host, matrixUser("owner")}, Members: []string{matrixUser("member")}, Presenters: []string{matrixUser("presenter")}}
		switch room {
		case "open", "auditorium":
			req.Privacy = Open
		case "closed":
			req.Privacy = Closed
		case "secret":
			req.Privacy = Secret
		}
		if _, err := e.CreateRoom(ctx, req); err != nil {
			t.Fatal(err)
		}
		if err := e.SetAffiliation(ctx, room, ActorAdmin, matrixUser("outcast"), AffOutcast, ""); err != nil {
			t.Fatal(err)
		}
		// The host stays in the room: the private messages' addressee,
		// and the seed post every reader should find.
		if err := e.Join(ctx, JoinRequest{Room: room, Nick: "host", User: host,
			Session: Session{Address: host + "/h", FrontDoor: "xmpp", Sink: joinedSink{make(chan Joined, 1)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Post(ctx, PostRequest{Room: room, Address: host + "/h", FrontDoor: "xmpp", Body: "seedword from the host"}); err != nil {
			t.Fatal(err)
		}
	}

	wrong := 0
	for _, room := range matrixRooms {
		for _, role := range matrixRoles {
			user := matrixUser(role)
			address := user + "/matrix"
			got := make([]string, 0, len(matrixActions))
			add := func(err error) { got = append(got, answer(err)) }

			sink := joinedSink{make(chan Joined, 1)}
			joinErr := e.Join(ctx, JoinRequest{Room: room, Nick: role, User: user, History: HistoryRequest{MaxStanzas: 10},
				Session: Session{Address: address, FrontDoor: "xmpp", Sink: sink}})
			add(joinErr)
			_, err := e.Room(ctx, room, user)
			add(err)
			listed, err := e.ListRooms(ctx, user, "")
			if err != nil {
				t.Fatal(err)
			}
			seen := false
			for _, r := range listed {
				seen = seen || r.Name == room
			}
			if seen {
				add(nil)
			} else {
				add(noRoom(room))
			}
			if joinErr != nil {
				add(joinErr)
			} else {
				j := <-sink.joined
				found := false
				for _, m := range j.History {
					found = found || strings.Contains(m.Body, "seedword")
				}
				if !found {
					add(fmt.Errorf("the seed post is not in the history on join (%d messages)", len(j.History)))
				} else {
					add(nil)
				}
			}
			msgs, _, err := e.History(ctx, user, "mam", storage.HistoryQuery{Room: room, Limit: 10})
			if err == nil && len(msgs) == 0 {
				err = fmt.Errorf("an empty archive")
			}
			add(err)
			msgs, _, err = e.History(ctx, user, "mam", storage.HistoryQuery{Room: room, FullText: "seedword", Limit: 10})
			if err == nil && len(msgs) != 1 {
				err = fmt.Errorf("search found %d", len(msgs))
			}
			add(err)
			add(e.MayUpload(ctx, user))
			_, err = e.Post(ctx, PostRequest{Room: room, Address: address, FrontDoor: "xmpp", Body: "from " + role})
			add(err)
			_, err = e.SendPrivate(ctx, room, address, "host", []byte("<message/>"), "psst")
			add(err)
			add(e.Invite(ctx, room, address, "guest@example.org"))
			_, err = e.Configure(ctx, user, room, func(*storage.Room) error { return nil })
			add(err)
			_, err = e.Post(ctx, PostRequest{Room: room, Address: "sip:" + user, AsUser: user, FrontDoor: "sip", Body: "by SIP from " + role})
			add(err)
			err = e.MayRead(ctx, room, user)
			if err == nil {
				_, err = e.Room(ctx, room, user)
			}
			add(err)
			if joinErr == nil {
				if err := e.Leave(ctx, room, address, nil); err != nil {
					t.Fatal(err)
				}
			}

			want := strings.Fields(matrixExpected[room][role])
			for i, action := range matrixActions {
				if i >= len(want) || got[i] != want[i] {
					wrong++
					w := "?"
					if i < len(want) {
						w = want[i]
					}
					t.Errorf("%s room, %s, %s: %s, want %s", room, role, action, got[i], w)
				}
			}
		}
	}
	return wrong
}
