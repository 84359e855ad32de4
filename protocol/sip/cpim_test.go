package sip

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
)

func TestCPIMDelivery(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	carol := make(recorder, 100)
	carolAddr := "carol@" + testDomain + "/xmpp"
	for _, room := range []string{"plaza", "lobby"} {
		if err := engine.Join(ctx, muc.JoinRequest{Room: room, Nick: "carol", User: "carol@" + testDomain,
			Session: muc.Session{Address: carolAddr, FrontDoor: "xmpp", Sink: carol}}); err != nil {
			t.Fatal(err)
		}
	}
	phoneA, phoneB := newUAS(t), newUAS(t)
	ca, cb := newClient(t, ts.udp), newClient(t, ts.udp)
	// alice's phone accepts message/cpim, bob's does not say.
	if res := ca.registered("alice", "wonderland", "MD5", []string{phoneA.contact("alice")}, "Expires: 600",
		"Accept: text/plain, message/cpim"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	if res := cb.registered("bob", "builder", "MD5", []string{phoneB.contact("bob")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	alice := &messenger{c: ca, user: "alice", pw: "wonderland"}
	bob := &messenger{c: cb, user: "bob", pw: "builder"}
	for _, room := range []string{"plaza", "lobby"} {
		for _, m := range []*messenger{alice, bob} {
			if res := m.send(room, "/join"); res.StatusCode != 200 {
				t.Fatalf("/join %s: %s", room, res.StartLine())
			}
		}
	}
	// Command answers stay text/plain.
	phoneA.next("plaza")
	phoneB.next("plaza")
	phoneA.next("plaza") // * bob joined
	phoneA.next("lobby")
	phoneB.next("lobby")
	phoneA.next("lobby")

	// The plaza shows real addresses: CPIM From has carol's.
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "plaza", Address: carolAddr, FrontDoor: "xmpp", Body: "hi\nthere"}); err != nil {
		t.Fatal(err)
	}
	req := phoneA.nextRequest("plaza")
	if ct := req.ContentType(); ct == nil || ct.Value() != "message/cpim" {
		t.Fatalf("Content-Type %v, want message/cpim", ct)
	}
	want := regexp.MustCompile(`^From: "carol" <sip:carol@example\.test>\r\nTo: <sip:plaza@conference\.example\.test>\r\n` +
		`DateTime: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nhi\nthere$`)
	if !want.Match(req.Body()) {
		t.Errorf("CPIM body %q", req.Body())
	}
	// text/plain marks the second line as carol's (rooms.go, continued).
	if got := phoneB.next("plaza"); got != "carol: hi\n  | there" {
		t.Errorf("bob got %q", got)
	}
	// The lobby does not: From is the room with carol's occupant id.
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: carolAddr, FrontDoor: "xmpp", Body: "psst"}); err != nil {
		t.Fatal(err)
	}
	body := string(phoneA.nextRequest("lobby").Body())
	if wantFrom := `From: "carol" <sip:lobby@conference.example.test;occupant=` + engine.OccupantID("lobby", "carol@"+testDomain) + ">\r\n"; !strings.HasPrefix(body, wantFrom) {
		t.Errorf("lobby CPIM %q, want it to start with %q", body, wantFrom)
	}
	phoneB.next("lobby")

	// A MESSAGE in message/cpim is unwrapped; the wrapper's From is not
	// who posted, the authenticated user is.
	bob.contentType = "message/cpim"
	res := bob.send("plaza", "From: <sip:mallory@example.test>\r\nTo: <sip:plaza@conference.example.test>\r\n\r\n"+
		"Content-Type: text/plain\r\n\r\nwrapped hello")
	if res.StatusCode != 200 {
		t.Fatalf("CPIM post: %s", res.StartLine())
	}
	ev := carol.next(t, muc.EventMessage)
	for ev.Message.FrontDoor != "sip" { // carol's own posts first
		ev = carol.next(t, muc.EventMessage)
	}
	if ev.Message.Body != "wrapped hello" || ev.Message.RealJID != "bob@"+testDomain {
		t.Errorf("carol got %+v", ev.Message)
	}
	for _, bad := range []string{
		"From: <sip:bob@example.test>\r\n\r\nContent-Type: text/html\r\n\r\n<b>hi</b>",
		"no headers at all",
		"From: x\r\n\r\nContent-Type: text/plain\r\n",
	} {
		if res := bob.send("plaza", bad); res.StatusCode != 400 {
			t.Errorf("CPIM %q: %s, want 400", bad, res.StartLine())
		}
	}
}

func TestUnwrapCPIM(t *testing.T) {
	for in, want := range map[string]string{
		"From: a\r\n\r\nContent-Type: text/plain;charset=utf-8\r\n\r\nhello": "hello",
		"From: a\n\nContent-Type: text/plain\n\nunix lines":                  "unix lines",
		"\r\n\r\nbare": "bare",
	} {
		if got, err := unwrapCPIM([]byte(in)); err != nil || got != want {
			t.Errorf("unwrapCPIM(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "From: a", "From: a\r\n\r\nContent-Type: text/plain;charset=latin1\r\n\r\nx",
		"From: a\r\nnocolon\r\n\r\n\r\nx", "From: a\r\n\r\n\r\n\xff"} {
		if got, err := unwrapCPIM([]byte(in)); err == nil {
			t.Errorf("unwrapCPIM(%q) = %q, want an error", in, got)
		}
	}
}
