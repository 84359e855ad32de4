package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSippPostsToRoomSeenBySlixmpp: a SIP user in pager mode (sipp) and an
// XMPP occupant (slixmpp) in the same room. sipp REGISTERs alice, sends
// MESSAGE "/join" to sip:lobby@conference.DOMAIN and then a post, each
// answering the 407 challenge with MD5 digest; bob, in the room over XMPP,
// must get the post live from alice's nick with the room's stanza-id, and
// find it once in the room's MAM archive under that id.
func TestSippPostsToRoomSeenBySlixmpp(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	const (
		room = "lobby"
		body = "hello from sipp"
	)
	alice := account{"alice", "wonderland"}
	bob := account{"bob", "b0b-s3cret"}
	s := newServer(t, "")
	s.start() // the default digest offer: MD5 first, all sipp 3.6 answers

	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	s.mustCtl("room", "create", room, "--privacy", "open")

	done := s.startRoomScript(bob, room, alice.name, body)
	s.sipRoomPost(sipp, alice, room, body)
	<-done
}

// startRoomScript runs sip_room.py as u (bob): in room, waiting for body
// from nick. It returns once u is in the room; the channel is closed when
// the script ends, which the test waits for before it ends too (the
// script logs through t).
func (s *server) startRoomScript(u account, room, nick, body string) <-chan struct{} {
	t := s.t
	t.Helper()
	ready := filepath.Join(s.dir, "sip_room.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("sip_room.py", []account{u}, "--state", ready,
			"--room", room, "--nick", nick, "--body", body)
	}()
	t.Cleanup(func() { <-done })
	deadline := time.After(30 * time.Second)
	for !fileExists(ready) {
		select {
		case <-done:
			t.Fatalf("sip_room.py ended before %s was in %s", u.name, room)
		case <-deadline:
			t.Fatalf("sip_room.py: %s was not in %s within 30s", u.name, room)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return done
}

// sipRoomRefused has sipp send body (Content-Type ctype) as u to room,
// expecting a refusal (sip_room_refused.xml), and returns the status line
// of the final response.
func (s *server) sipRoomRefused(sipp string, u account, room, body, ctype string) string {
	s.t.Helper()
	const scenario = "sip_room_refused.xml"
	trace := filepath.Join(s.dir, scenario+".errors.msg")
	os.Remove(trace)
	s.runSipp(sipp, scenario, []string{"-au", u.name, "-ap", u.password, "-auth_uri", room + "@conference." + domain},
		"user", u.name, "domain", domain, "room", room, "roomhost", "conference."+domain, "body", body, "ctype", ctype)
	msgs, err := os.ReadFile(trace)
	if err != nil {
		s.t.Fatal(err)
	}
	last := ""
	for line := range strings.Lines(string(msgs)) {
		if strings.HasPrefix(line, "SIP/2.0 ") {
			last = strings.TrimRight(line, "\r\n")
		}
	}
	return last
}

// TestSippRoomRefusalsNeverReachXMPP: sipp sends the bytes the SIP front
// door must refuse (issue 18): posts, a message/cpim post, /topic and
// /join nicks holding characters XML forbids, a Unicode noncharacter,
// bytes that are not UTF-8, a zero-width character, a case variant of an
// XMPP occupant's nick. Each gets 400 (the look-alike too: a conflict is
// 400, RFC 7247 Table 5) with a reason naming the problem; bob, in the room over XMPP (slixmpp, whose
// stream would break on any of those characters), then gets alice's clean
// post live and finds it alone in the archive.
func TestSippRoomRefusalsNeverReachXMPP(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	const (
		room = "lobby"
		body = "clean after the refusals"
	)
	s, alice, bob := imServer(t) // MD5: all sipp 3.6 answers
	// alice manages the room: /topic would be hers to set.
	s.mustCtl("room", "create", room, "--privacy", "open", "--managers", alice.name)

	done := s.startRoomScript(bob, room, alice.name, body)
	auth := []string{"-au", alice.name, "-ap", alice.password}
	s.runSipp(sipp, "sip_register.xml", append(auth, "-auth_uri", domain), "user", alice.name, "domain", domain)
	const text = "text/plain;charset=UTF-8"
	cpim := "From: <sip:alice@" + domain + ">\r\nTo: <sip:" + room + "@conference." + domain + ">\r\n\r\n" +
		"Content-Type: text/plain;charset=UTF-8\r\n\r\nhi\x1b[31m"
	for _, tc := range []struct{ what, body, ctype, status string }{
		{"a bell", "ding\x07", text, "400 Bad Request: character U+0007 at byte 4 is not allowed in XML"},
		{"an escape in message/cpim", cpim, "message/cpim", "400 Bad Request: character U+001B at byte 2 is not allowed in XML"},
		{"invalid UTF-8", "caf\xe9", text, "400 Bad Request: invalid UTF-8 at byte 3"},
		{"a lone surrogate", "x\xed\xa0\x80", text, "400 Bad Request: a UTF-16 surrogate (U+D800–U+DFFF) at byte 1"},
		{"a noncharacter", "x\xef\xb7\x90", text, "400 Bad Request: character U+FDD0 at byte 1 is a Unicode noncharacter"},
		{"an escape in /topic", "/topic evil\x1b[2J", text, "400 Bad Request: character U+001B at byte 11"},
		{"a vertical tab in a /join nick", "/join al\x0bice", text, "400 Bad Request: character U+000B at byte 8"},
		{"a zero-width space in a /join nick", "/join b\u200bob", text, `400 Bad Request: the nick "b\u200bob" holds U+200B`},
		{"bob's nick in capitals", "/join BOB", text, `400 Bad Request: the nick "BOB" is too like "bob"`},
	} {
		if got := s.sipRoomRefused(sipp, alice, room, tc.body, tc.ctype); !strings.HasPrefix(got, "SIP/2.0 "+tc.status) {
			t.Errorf("%s: %q, want SIP/2.0 %s…", tc.what, got, tc.status)
		}
	}
	s.runSipp(sipp, "sip_room_post.xml", append(auth, "-auth_uri", room+"@conference."+domain),
		"user", alice.name, "domain", domain, "room", room, "roomhost", "conference."+domain, "body", body)
	<-done
}
