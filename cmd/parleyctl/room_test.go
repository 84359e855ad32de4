package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage/backend"
)

func TestRoomCreateListShow(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "legal", "--allow", "alice,bob,carol,dave", "--deny", "mallory")

	// New rooms are closed, normal, in the default category.
	res := r.must(exitOK, "", "room", "create", "Lobby")
	if res.stdout != "created room lobby@conference.localhost (closed, normal, category general)\n" {
		t.Errorf("room create stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "create", "--category", "legal", "brief",
		"--privacy", "secret", "--type", "auditorium", "--title", "The brief", "--description", "Case notes",
		"--subject", "Filing due Friday", "--addin-url", "https://intranet.example.org/brief",
		"--presence-broadcast", "visitor,moderator",
		"--managers", "alice", "--members", "bob,carol@localhost", "--presenters", "dave", "--presenters", "bob")
	if res.stdout != "created room brief@conference.localhost (secret, auditorium, category legal)\n" {
		t.Errorf("room create stdout = %q", res.stdout)
	}
	r.must(exitOK, "", "room", "create", "square", "--privacy", "open")

	res = r.must(exitOK, "", "room", "list")
	want := "" +
		"NAME    CATEGORY  PRIVACY  TYPE        STATE    TITLE\n" +
		"brief   legal     secret   auditorium  enabled  The brief\n" +
		"lobby   general   closed   normal      enabled  lobby\n" +
		"square  general   open     normal      enabled  square\n"
	if res.stdout != want {
		t.Errorf("room list =\n%s\nwant\n%s", res.stdout, want)
	}
	res = r.must(exitOK, "", "room", "list", "--category", "legal")
	want = "" +
		"NAME   CATEGORY  PRIVACY  TYPE        STATE    TITLE\n" +
		"brief  legal     secret   auditorium  enabled  The brief\n"
	if res.stdout != want {
		t.Errorf("room list --category legal =\n%s\nwant\n%s", res.stdout, want)
	}

	res = r.must(exitOK, "", "room", "show", "BRIEF")
	wantFields(t, res.stdout, map[string]string{
		"name":               "brief",
		"address":            "brief@conference.localhost",
		"title":              "The brief",
		"category":           "legal",
		"privacy":            "secret",
		"type":               "auditorium",
		"state":              "enabled",
		"description":        "Case notes",
		"subject":            "Filing due Friday",
		"add-in URL":         "https://intranet.example.org/brief",
		"presence broadcast": "moderator, visitor",
		"creator":            muc.ActorAdmin,
		"managers":           "alice@localhost",
		"members":            "bob@localhost, carol@localhost, dave@localhost",
		"presenters":         "bob@localhost, dave@localhost",
		"outcasts":           "-",
	})
	res = r.must(exitOK, "", "room", "show", "square")
	wantFields(t, res.stdout, map[string]string{"presence broadcast": "moderator, participant, visitor"})
	r.must(exitOK, "", "room", "set", "square", "--presence-broadcast", "none")
	res = r.must(exitOK, "", "room", "show", "square")
	wantFields(t, res.stdout, map[string]string{"presence broadcast": "none"})
	r.must(exitOK, "", "room", "set", "square", "--presence-broadcast", "all")
	res = r.must(exitOK, "", "room", "show", "square")
	wantFields(t, res.stdout, map[string]string{"presence broadcast": "moderator, participant, visitor"})
}

func TestRoomCreateFailures(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "legal", "--deny", "mallory")
	r.must(exitOK, "", "room", "create", "brief", "--category", "legal")

	r.wantFailure(`parleyctl: room create brief: room "brief" exists`, "room", "create", "brief")
	r.wantFailure(`parleyctl: room create Brief: room "brief" exists`, "room", "create", "Brief")
	r.wantFailure(`parleyctl: room create memo: no category "nope"`, "room", "create", "memo", "--category", "nope")
	r.wantFailure(`parleyctl: room create memo: mallory@localhost is not allowed in category "legal"`,
		"room", "create", "memo", "--category", "legal", "--members", "alice,mallory")
	r.wantFailure(`parleyctl: room create memo: --members: invalid user "a@b/c"`, "room", "create", "memo", "--members", "a@b/c")
	r.wantFailure(`parleyctl: room create memo: --members: "*" (everyone) cannot be given here`, "room", "create", "memo", "--members", "*")
	r.wantFailure(`parleyctl: room members add brief *: "*" (everyone) cannot be given here`, "room", "members", "add", "brief", "*")
	r.wantFailure(`parleyctl: room create a b: invalid room name "a b"`, "room", "create", "a b")
	r.wantFailure(`parleyctl: room create a@b: invalid room name "a@b"`, "room", "create", "a@b")
	r.wantFailure(`parleyctl: room list: no category "nope"`, "room", "list", "--category", "nope")
	// The failed creations left nothing behind.
	if res := r.must(exitOK, "", "room", "list"); strings.Count(res.stdout, "\n") != 2 {
		t.Errorf("room list =\n%s\nwant the header and brief", res.stdout)
	}

	for _, args := range [][]string{
		{"room"},
		{"room", "create"},
		{"room", "create", "x", "--privacy", "public"},
		{"room", "create", "x", "--type", "lecture"},
		{"room", "create", "x", "--addin-url", "intranet/x"},
		{"room", "create", "x", "--presence-broadcast", "owner"},
		{"room", "create", "x", "--presence-broadcast", "moderator,moderator,guest"},
		{"room", "list", "extra"},
		{"room", "set", "brief"}, // nothing to change
		{"room", "set", "brief", "--members", "alice"},
		{"room", "delete"},
		{"room", "members", "add", "brief"},
		{"room", "members", "list"},
		{"room", "members", "list", "brief", "alice"},
		{"room", "members", "kick", "brief", "alice"},
		{"room", "owners", "list", "brief"},
	} {
		r.wantUsage(args...)
	}
	if res := r.run("", "--help"); res.code != exitOK || !strings.Contains(res.stderr, "room presenters add ROOM USER...") {
		t.Errorf("--help: exit %d, stderr %q", res.code, res.stderr)
	}
	if res := r.run("", "room", "create", "--help"); res.code != exitOK || !strings.Contains(res.stderr, "--privacy PRIVACY") {
		t.Errorf("room create --help: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestRoomSetDisableEnableDelete(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "legal", "--allow", "alice")
	r.must(exitOK, "", "room", "create", "brief", "--members", "alice,bob", "--subject", "old")

	res := r.must(exitOK, "", "room", "set", "brief", "--privacy", "open", "--type=auditorium", "--title", "Brief", "--subject", "new")
	if res.stdout != "changed room brief\n" {
		t.Errorf("room set stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "show", "brief")
	wantFields(t, res.stdout, map[string]string{"privacy": "open", "type": "auditorium", "title": "Brief", "subject": "new", "category": "general", "description": "-"})

	// The ethical wall holds when a room moves: bob is not allowed in legal.
	r.wantFailure(`parleyctl: room set brief: bob@localhost is not allowed in category "legal"`, "room", "set", "brief", "--category", "legal")
	r.wantFailure(`parleyctl: room set brief: no category "nope"`, "room", "set", "brief", "--category", "nope")
	r.must(exitOK, "", "room", "members", "remove", "brief", "bob")
	r.must(exitOK, "", "room", "set", "brief", "--category", "legal", "--privacy", "closed", "--type", "normal")
	res = r.must(exitOK, "", "room", "show", "brief")
	wantFields(t, res.stdout, map[string]string{"category": "legal", "privacy": "closed", "type": "normal", "title": "Brief"})

	if res := r.must(exitOK, "", "room", "disable", "brief"); res.stdout != "disabled room brief\n" {
		t.Errorf("room disable stdout = %q", res.stdout)
	}
	if res := r.must(exitOK, "", "room", "show", "brief"); fields(t, res.stdout)["state"] != "disabled" {
		t.Errorf("state after disable = %q", fields(t, res.stdout)["state"])
	}
	if res := r.must(exitOK, "", "room", "list"); !strings.Contains(res.stdout, "brief  legal     closed   normal  disabled  Brief\n") {
		t.Errorf("room list after disable =\n%s", res.stdout)
	}
	if res := r.must(exitOK, "", "room", "enable", "brief"); res.stdout != "enabled room brief\n" {
		t.Errorf("room enable stdout = %q", res.stdout)
	}
	if res := r.must(exitOK, "", "room", "show", "brief"); fields(t, res.stdout)["state"] != "enabled" {
		t.Errorf("state after enable = %q", fields(t, res.stdout)["state"])
	}

	if res := r.must(exitOK, "", "room", "delete", "brief", "--reason", "case closed"); res.stdout != "deleted room brief\n" {
		t.Errorf("room delete stdout = %q", res.stdout)
	}
	r.wantFailure(`parleyctl: room set brief: no room "brief"`, "room", "set", "brief", "--title", "x")
	for _, args := range [][]string{
		{"room", "show", "brief"},
		{"room", "disable", "brief"},
		{"room", "enable", "brief"},
		{"room", "delete", "brief"},
		{"room", "members", "add", "brief", "alice"},
		{"room", "managers", "remove", "brief", "alice"},
		{"room", "presenters", "list", "brief"},
	} {
		r.wantFailure(`parleyctl: `+strings.Join(args, " ")+`: no room "brief"`, args...)
	}
}

func TestRoomPlaces(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "legal", "--deny", "mallory")
	r.must(exitOK, "", "room", "create", "brief", "--category", "legal")

	res := r.must(exitOK, "", "room", "members", "add", "brief", "alice", "Bob@LocalHost")
	if res.stdout != "added alice@localhost to the members of brief\nadded bob@localhost to the members of brief\n" {
		t.Errorf("members add stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "managers", "add", "brief", "carol")
	if res.stdout != "added carol@localhost to the managers of brief\n" {
		t.Errorf("managers add stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "presenters", "add", "brief", "dave", "alice")
	if res.stdout != "added dave@localhost to the presenters of brief\nadded alice@localhost to the presenters of brief\n" {
		t.Errorf("presenters add stdout = %q", res.stdout)
	}
	// Adding again, or a manager as a member, changes nothing.
	res = r.must(exitOK, "", "room", "members", "add", "brief", "alice", "carol")
	if res.stdout != "alice@localhost is already a member of brief\ncarol@localhost is already a manager of brief\n" {
		t.Errorf("members add again stdout = %q", res.stdout)
	}

	if res := r.must(exitOK, "", "room", "members", "list", "brief"); res.stdout != "alice@localhost\nbob@localhost\ndave@localhost\n" {
		t.Errorf("members list = %q", res.stdout)
	}
	if res := r.must(exitOK, "", "room", "managers", "list", "brief"); res.stdout != "USER             AFFILIATION\ncarol@localhost  owner\n" {
		t.Errorf("managers list = %q", res.stdout)
	}
	if res := r.must(exitOK, "", "room", "presenters", "list", "brief"); res.stdout != "alice@localhost\ndave@localhost\n" {
		t.Errorf("presenters list = %q", res.stdout)
	}

	// The ethical wall: a denied user can be made nothing.
	for _, list := range []string{"members", "managers", "presenters"} {
		r.wantFailure(`parleyctl: room `+list+` add brief mallory: mallory@localhost is not allowed in category "legal"`,
			"room", list, "add", "brief", "mallory")
	}
	// Users before the denied one were added; the denied one was not.
	res = r.run("", "room", "members", "add", "brief", "erin", "mallory@localhost", "frank")
	if res.code != exitFailure || res.stdout != "added erin@localhost to the members of brief\n" || !strings.Contains(res.stderr, "ethical wall") {
		t.Errorf("members add erin mallory frank: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// Removing someone not on the list changes nothing at all.
	r.wantFailure(`parleyctl: room members remove brief erin carol: carol@localhost is not a member of brief`,
		"room", "members", "remove", "brief", "erin", "carol")
	r.wantFailure(`parleyctl: room managers remove brief alice: alice@localhost is not a manager of brief`,
		"room", "managers", "remove", "brief", "alice")
	r.wantFailure(`parleyctl: room presenters remove brief bob: bob@localhost is not a presenter of brief`,
		"room", "presenters", "remove", "brief", "bob")
	r.wantFailure(`parleyctl: room members add brief a/b: invalid user "a/b"`, "room", "members", "add", "brief", "a/b")

	// Managers removed stay members; presenters removed stay members;
	// members removed are gone, with their presenter right.
	res = r.must(exitOK, "", "room", "managers", "remove", "brief", "carol@localhost")
	if res.stdout != "removed carol@localhost from the managers of brief (now a member)\n" {
		t.Errorf("managers remove stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "presenters", "remove", "brief", "dave")
	if res.stdout != "removed dave@localhost from the presenters of brief\n" {
		t.Errorf("presenters remove stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "members", "remove", "brief", "alice", "erin")
	if res.stdout != "removed alice@localhost from the members of brief\nremoved erin@localhost from the members of brief\n" {
		t.Errorf("members remove stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "room", "show", "brief")
	wantFields(t, res.stdout, map[string]string{
		"managers":   "-",
		"members":    "bob@localhost, carol@localhost, dave@localhost",
		"presenters": "-",
	})
	if res := r.must(exitOK, "", "room", "managers", "list", "brief"); res.stdout != "USER  AFFILIATION\n" {
		t.Errorf("managers list = %q, want the header alone", res.stdout)
	}

	// Every change was captured for compliance, as parleyctl's.
	ctx := context.Background()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(r.data, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.ReadOutbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if ev.Actor == muc.ActorAdmin {
			types = append(types, ev.Type)
		}
	}
	for _, want := range []string{"category.put", "room.create", "affiliation", "presenter"} {
		if !slices.Contains(types, want) {
			t.Errorf("no %q event by %s in the outbox: %q", want, muc.ActorAdmin, types)
		}
	}
}

// TestUsersAtDomain checks that a bare username names a user at --domain.
func TestUsersAtDomain(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "--domain", "example.org", "room", "create", "brief", "--members", "alice,bob@example.net")
	res := r.must(exitOK, "", "--domain", "example.org", "room", "members", "list", "brief")
	if res.stdout != "alice@example.org\nbob@example.net\n" {
		t.Errorf("members list = %q", res.stdout)
	}
	res = r.must(exitOK, "", "--domain", "example.org", "room", "show", "brief")
	if got := fields(t, res.stdout)["address"]; got != "brief@conference.example.org" {
		t.Errorf("address = %q", got)
	}
}
